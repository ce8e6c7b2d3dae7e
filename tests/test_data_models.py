"""Data (subset integrity, augmentation, errors) and models (shapes, parameter counts, registry)."""

import pytest
import torch
from torch import nn

from twophase_lib import data as data_mod
from twophase_lib import models, training
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


# ------------------------------------------------- oneDNN's strided 1×1 convolution (uxlfoundation/oneDNN#6035)


def _pointwise_case(c_in: int, c_out: int, dtype=torch.float32, batch: int = 6):
    g = torch.Generator().manual_seed(0)
    w = torch.randn(c_out, c_in, 1, 1, generator=g, dtype=torch.float64)
    x = torch.randn(batch, c_in, 16, 16, generator=g, dtype=torch.float64)
    dy = torch.randn(batch, c_out, 8, 8, generator=g, dtype=torch.float64)
    return [t.to(dtype).contiguous(memory_format=torch.channels_last) for t in (w, x, dy)]


def _conv_and_grads(conv: nn.Module, x: torch.Tensor, dy: torch.Tensor):
    x = x.clone().requires_grad_(True)
    with training.compute_threads():
        y = conv(x)
        gx, gw = torch.autograd.grad(y, (x, conv.weight), dy)
    return y.detach(), gx, gw


def test_a_pointwise_convolution_takes_its_stride_by_subsampling_and_agrees_with_onednn_where_its_kernel_is_safe():
    for batch in (6, 16):  # oneDNN splits the weight gradient's sum by batch: bitwise at 16 and 128, not at 6 (seen)
        w, x, dy = _pointwise_case(models.ONEDNN_RTUS_CHANNELS, 32, batch=batch)  # enough input channels: safe
        plain, mine = nn.Conv2d(16, 32, 1, 2, bias=False), models.PointwiseConv2d(16, 32, 2, bias=False)
        for conv in (plain, mine):
            conv.weight = nn.Parameter(w.clone())
        for a, b in zip(_conv_and_grads(plain, x, dy), _conv_and_grads(mine, x, dy)):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_a_pointwise_convolution_is_right_where_onednns_strided_kernel_is_not():
    w, x, dy = _pointwise_case(4, 8)  # ResNet-20 ×1/4's first shortcut: nn.Conv2d crashes or errs here on some CPUs
    conv = models.PointwiseConv2d(4, 8, 2, bias=False)
    conv.weight = nn.Parameter(w.clone())
    w64, x64, dy64 = (t.double().contiguous() for t in (w, x, dy))
    ref = nn.Conv2d(4, 8, 1, 2, bias=False).double()
    ref.weight = nn.Parameter(w64)
    for got, want in zip(_conv_and_grads(conv, x, dy), _conv_and_grads(ref, x64, dy64)):
        assert got.shape == want.shape
        torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-5)


def test_the_zoo_has_no_unsafe_strided_pointwise_convolution_and_a_users_model_is_refused_with_the_remedy():
    for width in (0.0625, 0.125, 0.25, 0.5, 1.0):
        assert models.unsafe_strided_pointwise_convs(models.build_model(ModelConfig("resnet20", width))) == []
    user = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 8, 1, 2), nn.Flatten(), nn.Linear(8 * 4 * 4, 10))
    assert models.unsafe_strided_pointwise_convs(user) == ["1"]
    with pytest.raises(ValueError, match=r"convolutions \['1'\].*oneDNN#6035.*use_pointwise_subsampling"):
        training.in_memory_format(user, "channels_last")
    assert training.in_memory_format(user, "contiguous") is user  # the contiguous layout takes another kernel
    weight = user[1].weight
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        before = user(x)
    models.use_pointwise_subsampling(user)
    assert type(user[1]) is models.PointwiseConv2d and user[1].weight is weight  # an optimiser keeps its parameters
    with torch.no_grad():
        assert torch.allclose(user(x), before, atol=1e-6)
    assert training.in_memory_format(user, "channels_last") is user
    wide = nn.Conv2d(16, 32, 1, 2)  # enough input channels: oneDNN's kernel is safe, nothing refused
    assert models.unsafe_strided_pointwise_convs(nn.Sequential(wide)) == []


def test_the_onednn_check_tells_a_safe_case_and_says_when_one_is_not(monkeypatch):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "scripts" / "check_onednn_pointwise.py"
    spec = importlib.util.spec_from_file_location("check_onednn_pointwise", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.check(16, 4, 8, timeout=120) == "ok"  # as many input channels as any channel block: safe
    assert script.main(["--channels", "16", "--batch", "4", "--size", "8"]) == 0
    monkeypatch.setattr(script, "check", lambda *a, **k: "CRASH (exit -11)")
    assert script.main(["--channels", "4", "--batch", "4", "--size", "8"]) == 1
