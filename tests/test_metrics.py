"""Chaos metrics against brute-force references on tiny models (float64 where it matters)."""

from fractions import Fraction

import pytest
import torch

from tests.conftest import tiny_config
from twophase_lib.data import load_data
from twophase_lib.metrics import (
    BarrierConfig,
    barrier_height,
    compare,
    disagreement,
    flat_parameters,
    interpolate_state,
    linear_path,
    parameter_dissimilarity,
    recompute_bn_statistics,
    relative_distance,
)
from twophase_lib.perturbation import Perturbation, parameter_names, perturb
from twophase_lib.training import initial_checkpoint, materialise, predict, train


def exact_one_minus_cos(a, b):
    """1 − cos(a, b) from exact rational sums, with the square root taken in 60-digit decimal (reference)."""
    from decimal import Decimal, getcontext

    getcontext().prec = 60
    fa = [Fraction(x) for x in a.tolist()]
    fb = [Fraction(x) for x in b.tolist()]
    dot = sum(x * y for x, y in zip(fa, fb))
    norms = sum(x * x for x in fa) * sum(y * y for y in fb)
    cos = (
        Decimal(dot.numerator)
        / Decimal(dot.denominator)
        / (Decimal(norms.numerator) / Decimal(norms.denominator)).sqrt()
    )
    return float(1 - cos)


@pytest.mark.parametrize("scale", [1e-1, 1e-4, 1e-6])
def test_dissimilarity_matches_exact_reference(scale):
    g = torch.Generator().manual_seed(0)
    a = torch.randn(300, dtype=torch.float64, generator=g)
    b = a + scale * torch.randn(300, dtype=torch.float64, generator=g)
    ref = exact_one_minus_cos(a, b)
    assert parameter_dissimilarity(a, b) == pytest.approx(ref, rel=1e-6)


def test_dissimilarity_float32_inputs_are_accumulated_in_float64():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(5_000, generator=g)
    b = a.clone()
    b[:10] += 1e-4  # so small that 1 − cos in float32 is pure rounding noise
    ref = exact_one_minus_cos(a.double(), b.double())
    assert parameter_dissimilarity(a, b) == pytest.approx(ref, rel=1e-6)
    naive32 = float(1 - torch.dot(a, b) / (a.norm() * b.norm()))
    assert naive32 != pytest.approx(ref, rel=0.5)  # the pitfall the float64 path avoids


def test_dissimilarity_edge_cases():
    a = torch.tensor([1.0, 2.0, 3.0])
    assert parameter_dissimilarity(a, a) == 0.0
    assert parameter_dissimilarity(a, 5 * a) == pytest.approx(0.0, abs=1e-15)
    assert parameter_dissimilarity(a, -a) == pytest.approx(2.0)
    assert parameter_dissimilarity(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])) == pytest.approx(1.0)


def test_relative_distance_and_disagreement():
    a, b = torch.tensor([3.0, 4.0]), torch.tensor([3.0, 5.0])
    assert relative_distance(a, b) == pytest.approx(0.2)
    la = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0], [0.0, 3.0]])
    lb = torch.tensor([[0.0, 1.0], [0.0, 1.0], [2.0, 1.0], [3.0, 0.0]])
    assert disagreement(la, lb) == 0.5
    assert disagreement(la, la) == 0.0


def test_barrier_height():
    alphas = [0.0, 0.5, 1.0]
    assert barrier_height([1.0, 3.0, 2.0], alphas) == pytest.approx(1.5)
    assert barrier_height([1.0, 1.5, 2.0], alphas) == pytest.approx(0.0)
    assert barrier_height([1.0, 1.0, 2.0], alphas) == pytest.approx(0.0)  # max includes the endpoints (0)


def test_interpolation_endpoints_are_exact():
    a = initial_checkpoint(tiny_config(seed=0)).model
    b = initial_checkpoint(tiny_config(seed=1)).model
    for k, v in interpolate_state(a, b, 1.0).items():
        assert torch.equal(v, a[k])
    for k, v in interpolate_state(a, b, 0.0).items():
        assert torch.equal(v, b[k]) or not v.is_floating_point()


def brute_force_path(cfg, a, b, data, alphas, bn_mode, n_train):
    """Loop over α; build each model by hand (parameters by α, BN stats by α or re-estimated batch by batch)."""
    out = []
    for alpha in alphas:
        model = materialise(cfg, a)
        model_b = materialise(cfg, b)
        with torch.no_grad():
            for (name, p), (_, q) in zip(model.state_dict().items(), model_b.state_dict().items()):
                if p.is_floating_point():
                    p.copy_(alpha * p.double() + (1 - alpha) * q.double())
        if bn_mode == "recompute":
            recompute_bn_statistics(model, data, batches=3, batch_size=64)
        model.eval()
        with torch.no_grad():
            logits = model(data.x_train[:n_train])
        out.append(torch.nn.functional.cross_entropy(logits, data.y_train[:n_train]).item())
    return out


@pytest.mark.parametrize("bn_mode", ["recompute", "interpolate"])
def test_linear_path_matches_brute_force(bn_mode):
    cfg = tiny_config(steps=6)
    data = load_data(cfg.data)
    a = train(cfg, progress=False).final
    b = train(cfg.replace(seed=1), progress=False).final
    bc = BarrierConfig(points=5, bn_mode=bn_mode, bn_batches=3, bn_batch_size=64, train_examples=200, test_examples=100)
    path = linear_path(cfg, a, b, data, bc)
    ref = brute_force_path(cfg, a, b, data, path["alpha"], bn_mode, 200)
    assert path["train_loss"] == pytest.approx(ref, rel=1e-5)


def test_recompute_differs_from_interpolate_but_endpoints_agree_on_method():
    cfg = tiny_config(steps=6)
    data = load_data(cfg.data)
    a = train(cfg, progress=False).final
    b = train(cfg.replace(seed=1), progress=False).final
    kw = dict(points=3, bn_batches=3, bn_batch_size=64, train_examples=200, test_examples=100)
    rec = linear_path(cfg, a, b, data, BarrierConfig(bn_mode="recompute", **kw))
    itp = linear_path(cfg, a, b, data, BarrierConfig(bn_mode="interpolate", **kw))
    assert rec["train_loss"] != itp["train_loss"]
    # interpolate mode at α = 1 is exactly the checkpoint a evaluated as it stands
    ref = torch.nn.functional.cross_entropy(predict(materialise(cfg, a), data.x_train[:200]), data.y_train[:200])
    assert itp["train_loss"][-1] == pytest.approx(ref.item(), rel=1e-6)


def test_compare_identical_and_perturbed():
    cfg = tiny_config(steps=6)
    data = load_data(cfg.data)
    names = parameter_names(cfg)
    a = train(cfg, progress=False).final
    bc = BarrierConfig(points=3, bn_batches=2, bn_batch_size=64, train_examples=100, test_examples=100)
    same = compare(cfg, a, a, data, names, bc)
    assert same["dissimilarity"] == 0.0 and same["l2_distance"] == 0.0 and same["disagreement"] == 0.0
    assert same["test_loss_barrier"] == pytest.approx(0.0, abs=1e-6)
    b, _ = perturb(a, names, Perturbation(1.0, seed=3))
    diff = compare(cfg, a, b, data, names, bc)
    va, vb = flat_parameters(a.model, names), flat_parameters(b.model, names)
    assert diff["l2_distance"] == pytest.approx(1.0, rel=1e-4)
    assert diff["relative_distance"] == pytest.approx(1.0 / va.norm().item(), rel=1e-4)
    assert diff["dissimilarity"] > 0
    cos = (va.double() @ vb.double()) / (va.double().norm() * vb.double().norm())
    assert diff["dissimilarity"] == pytest.approx(1 - cos.item(), rel=1e-3)


def test_bad_barrier_config():
    with pytest.raises(ValueError, match="unknown bn_mode"):
        BarrierConfig(bn_mode="freeze")
    with pytest.raises(ValueError, match="endpoints"):
        BarrierConfig(points=1)


def test_batch_norm_statistics_are_re_estimated_on_any_training_set_size():
    import dataclasses

    cfg = tiny_config(steps=2)
    data = load_data(cfg.data)
    state = train(cfg, progress=False).final

    def running_mean(n_train, batches, batch_size):
        small = dataclasses.replace(data, x_train=data.x_train[:n_train], y_train=data.y_train[:n_train])
        model = materialise(cfg, state)
        recompute_bn_statistics(model, small, batches=batches, batch_size=batch_size)
        return next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)).running_mean.clone()

    # 257 examples in batches of 128: the last batch would hold one example (train-mode batch norm cannot
    # normalise it); it joins the one before
    assert torch.isfinite(running_mean(257, 3, 128)).all()
    # full batches are split as before: 256 examples in two batches of 128 equal the two batches by hand
    model = materialise(cfg, state)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    from twophase_lib.data import generator

    idx = torch.randperm(256, generator=generator("bn-recompute", 0))
    model.train()
    with torch.no_grad(), torch.random.fork_rng():
        for i in (0, 128):
            model(data.x_train[:256][idx[i : i + 128]])
    assert torch.equal(running_mean(256, 2, 128), bns[0].running_mean)
    with pytest.raises(ValueError, match="at least two training examples"):
        running_mean(1, 1, 128)
    with pytest.raises(ValueError, match="bn_batch_size"):
        BarrierConfig(bn_batch_size=1)
