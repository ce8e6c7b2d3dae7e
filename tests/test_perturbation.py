"""Perturbations: norms, definitions, parameters only, own random stream."""

import pytest
import torch

from twophase_lib.config import ModelConfig
from twophase_lib.models import build_model
from twophase_lib.perturbation import Perturbation, noise, perturb
from twophase_lib.training import snapshot


def model_and_ckpt(dtype="float64"):
    model = build_model(ModelConfig("resnet20", 0.125), dtype=dtype)
    return model, snapshot(0, model)


def test_total_norm_definition_in_float64():
    model, ckpt = model_and_ckpt()
    names = [n for n, _ in model.named_parameters()]
    child, rep = perturb(ckpt, names, Perturbation(1e-3, "total", seed=1))
    assert rep.intended_norm == pytest.approx(1e-3, rel=1e-12)
    assert rep.realised_norm == pytest.approx(1e-3, rel=1e-6)
    diff = torch.cat([(child.model[n] - ckpt.model[n]).flatten() for n in names])
    assert diff.norm().item() == pytest.approx(1e-3, rel=1e-6)
    assert rep.fraction_changed == 1.0


def test_entry_definition_has_per_entry_std():
    shapes = {"a": torch.Size([200, 500])}
    eps = noise(shapes, Perturbation(1e-2, "entry"))["a"]
    assert eps.std().item() == pytest.approx(1e-2, rel=0.02)


def test_buffers_untouched_and_only_parameters_move():
    model, ckpt = model_and_ckpt()
    names = [n for n, _ in model.named_parameters()]
    child, _ = perturb(ckpt, names, Perturbation(1.0))
    buffers = [k for k in ckpt.model if k not in names]
    assert buffers and all(torch.equal(child.model[k], ckpt.model[k]) for k in buffers)
    assert all(not torch.equal(child.model[k], ckpt.model[k]) for k in names)


def test_tiny_total_norm_mostly_rounds_away_in_float32():
    model, ckpt = model_and_ckpt("float32")
    names = [n for n, _ in model.named_parameters()]
    _, rep = perturb(ckpt, names, Perturbation(1e-7, "total"))
    assert rep.fraction_changed < 0.2
    assert rep.realised_norm < rep.intended_norm


def test_a_perturbation_low_precision_cannot_hold_is_refused_naming_the_dtype():
    from twophase_lib.perturbation import PerturbationVanishedError

    model, ckpt = model_and_ckpt("float32")
    names = [n for n, _ in model.named_parameters()]
    half = snapshot(0, model.to(torch.float16))  # 1e-10 per entry underflows float16 everywhere
    with pytest.raises(PerturbationVanishedError, match="rounds away entirely in float16") as refused:
        perturb(half, names, Perturbation(1e-7, "total"))
    assert "rounding step" in str(refused.value) and "exploding" not in str(refused.value)  # ordinary weights
    bf16 = snapshot(0, model.to(torch.bfloat16))  # only the parameters that are exactly zero move: measured
    _, rep = perturb(bf16, names, Perturbation(1e-7, "total"))
    assert 0 < rep.realised_norm < 0.25 * rep.intended_norm and rep.fraction_changed < 0.05
    _, rep = perturb(half, names, Perturbation(1.0, "total"))  # a size the dtype holds
    assert rep.fraction_changed > 0.5
    _, rep = perturb(half, names, Perturbation(0.0))  # ε = 0 is the exact control, never refused
    assert rep.realised_norm == 0.0


def test_zero_size_is_exactly_zero_and_direction_is_seeded():
    model, ckpt = model_and_ckpt("float32")
    names = [n for n, _ in model.named_parameters()]
    child, rep = perturb(ckpt, names, Perturbation(0.0))
    assert rep.realised_norm == 0.0 and rep.fraction_changed == 0.0
    assert all(torch.equal(child.model[k], ckpt.model[k]) for k in ckpt.model)
    a = noise({"w": torch.Size([10])}, Perturbation(1.0, seed=1))["w"]
    b = noise({"w": torch.Size([10])}, Perturbation(1.0, seed=2))["w"]
    assert not torch.equal(a, b)


def test_perturbation_does_not_touch_global_rng():
    model, ckpt = model_and_ckpt()
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    perturb(ckpt, [n for n, _ in model.named_parameters()], Perturbation(1e-7))
    assert torch.equal(torch.rand(3), expected)


def test_bad_perturbations_are_rejected():
    with pytest.raises(ValueError, match="unknown perturbation kind"):
        Perturbation(1e-7, "relative")
    with pytest.raises(ValueError, match=">= 0"):
        Perturbation(-1.0)
    model, ckpt = model_and_ckpt()
    with pytest.raises(KeyError):
        perturb(ckpt, ["no.such.param"], Perturbation(1.0))
