"""Data (subset integrity, augmentation, errors) and models (shapes, parameter counts, registry)."""

import pytest
import torch

from twophase_lib import data as data_mod
from twophase_lib.config import DataConfig, ModelConfig
from twophase_lib.data import CIFAR10_MEAN, CIFAR10_STD, DatasetUnavailableError, augment_batch, generator, load_data
from twophase_lib.models import build_model, count_parameters, register_model


def test_subset_is_real_cifar10_in_file_order():
    d = load_data(DataConfig("cifar10-subset"))
    assert d.x_train.shape == (5170, 3, 32, 32) and d.x_test.shape == (1017, 3, 32, 32)
    assert d.y_train[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    assert d.y_test[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    assert torch.bincount(d.y_train).tolist() == [521, 534, 497, 505, 540, 484, 515, 524, 537, 513]
    # normalised: roughly zero mean, unit std per channel
    assert d.x_train.mean((0, 2, 3)).abs().max() < 0.1
    assert (d.x_train.std((0, 2, 3)) - 1).abs().max() < 0.1


def brute_force_augment(x, dy, dx, flip):
    """One image at a time: zero-pad the raw image by 4, crop at (dy, dx), flip if asked."""
    mean = torch.tensor(CIFAR10_MEAN).view(3, 1, 1)
    std = torch.tensor(CIFAR10_STD).view(3, 1, 1)
    raw = x * std + mean
    padded = torch.zeros(3, 40, 40)
    padded[:, 4:36, 4:36] = raw
    out = padded[:, dy : dy + 32, dx : dx + 32]
    if flip:
        out = out.flip(-1)
    return (out - mean) / std


def test_augmentation_matches_per_image_reference():
    d = load_data(DataConfig("cifar10-subset"))
    x = d.x_train[:64]
    gen = generator("test", 1)
    out = augment_batch(x, gen)
    gen = generator("test", 1)
    offsets = torch.randint(0, 9, (2, 64), generator=gen)
    flips = torch.rand(64, generator=gen) < 0.5
    assert 0 < flips.sum() < 64 and offsets.unique().numel() > 3
    for i in range(64):
        ref = brute_force_augment(x[i], offsets[0, i], offsets[1, i], flips[i])
        torch.testing.assert_close(out[i], ref, atol=1e-5, rtol=0)


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown dataset 'mnist'.*cifar10-subset"):
        load_data(DataConfig("mnist"))


def test_full_dataset_unavailable_names_both_options(tmp_path, monkeypatch):
    import torchvision

    def offline(*args, download=False, **kwargs):
        if download:
            raise OSError("network is unreachable")
        raise RuntimeError("Dataset not found or corrupted.")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    with pytest.raises(DatasetUnavailableError) as info:
        data_mod.load_full_arrays(tmp_path)
    msg = str(info.value)
    assert "cifar10-subset" in msg and "download" in msg and str(tmp_path) in msg


def test_corrupt_subset_is_detected(tmp_path):
    bad = tmp_path / "subset.npz"
    bad.write_bytes(data_mod.SUBSET_PATH.read_bytes()[:-100])
    with pytest.raises(DatasetUnavailableError, match="corrupt"):
        data_mod.load_subset_arrays(bad)


@pytest.mark.parametrize(
    "name,width,params",
    [("resnet20", 1.0, 272_474), ("vgg16", 1.0, 14_728_266), ("mlp", 1.0, 855_050), ("resnet20", 0.5, 68_786)],
)
def test_parameter_counts(name, width, params):
    assert count_parameters(build_model(ModelConfig(name, width))) == params


def test_resnet20_is_0_27m_parameters():
    assert round(count_parameters(build_model(ModelConfig("resnet20"))) / 1e6, 2) == 0.27


@pytest.mark.parametrize("name", ["resnet20", "vgg16", "mlp"])
def test_output_shapes(name):
    model = build_model(ModelConfig(name, 0.25)).eval()
    assert model(torch.zeros(5, 3, 32, 32)).shape == (5, 10)


def test_initialisation_depends_on_seed_only():
    a = build_model(ModelConfig("resnet20", 0.25), seed=4)
    torch.randn(100)  # the global RNG state is irrelevant
    b = build_model(ModelConfig("resnet20", 0.25), seed=4)
    c = build_model(ModelConfig("resnet20", 0.25), seed=5)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.conv.weight, c.conv.weight)


def test_unknown_model_lists_known_ones():
    with pytest.raises(ValueError, match="unknown model 'resnet18'.*resnet20.*vgg16"):
        build_model(ModelConfig("resnet18"))


def test_register_custom_model():
    register_model(
        "linear-test", lambda c: torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3072, c.num_classes))
    )
    assert build_model(ModelConfig("linear-test"))(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
