"""The library's contract on any PyTorch model, tested on a zoo of model kinds through the public API.

For every kind of tests/model_zoo.py: the three analyses run (Task → chaos_curve, cone_curves, switch_curve);
the eNTK equals a float64 brute-force J Jᵀ over the parameters training moves, computed as the model computes
(on the whole batch); the linearized model is affine in θ; the ε = 0 control is exact while a real ε moves
the twin; a resumed run is bitwise the uninterrupted one; the same configuration trains bitwise twice; and
a task differing in something that changes results has another identity.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from model_zoo import REFUSED, ZOO, BatchNormMLP, dropout_mlp, refused_task, table_data, zoo_task
from torch import nn
from torch.func import functional_call

from twophase_lib import OptimConfig, RunConfig, Task, train
from twophase_lib.analyses import chaos_analysis, cone_analysis, switch_analysis
from twophase_lib.cache import Cache
from twophase_lib.linearize import Linearized
from twophase_lib.ntk import JacobianMethod, KernelError, VmapFallbackWarning, empirical_ntk
from twophase_lib.perturbation import Perturbation, parameter_names, perturb_run
from twophase_lib.store import evaluation_model
from twophase_lib.training import materialise
from twophase_lib.verdicts import Outcome

KINDS = sorted(ZOO)
STEPS = 12


def zoo_run(kind: str, dtype: str = "float32", **task_kwargs) -> RunConfig:
    return RunConfig(task=zoo_task(kind, **task_kwargs), dtype=dtype, memory_format="contiguous",
                     optim=OptimConfig(lr=0.05, batch_size=16, steps=STEPS, milestones=(8,)))


def trainable(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def brute_force_ntk(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """J Jᵀ in float64 with J the Jacobian of the model's outputs on the whole batch (as the model computes it,
    eval mode) w.r.t. the parameters that train, by torch.autograd.functional.jacobian."""
    named = trainable(model)
    names = [n for n, _ in named]

    def f(*params):
        return functional_call(model, dict(zip(names, params)), (x,))

    jac = torch.autograd.functional.jacobian(f, tuple(p.detach() for _, p in named))
    rows = x.shape[0] * model(x).shape[1]
    j = torch.cat([g.reshape(rows, -1) for g in jac], 1).double()
    return j @ j.T


@pytest.mark.parametrize("kind", KINDS)
def test_the_three_analyses_run_on_every_kind(kind, tmp_path):
    run = zoo_run(kind).replace(optim={"milestones": ()})
    cache = Cache(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VmapFallbackWarning)
        chaos = chaos_analysis(run, t0s=(0, 4), deltas=(4, 8), seeds=(0,), epsilon=1e-3, cache=cache, progress=False)
        cone = cone_analysis(run, lag_ts=(0, 4), lags=(1, 2, 4), seeds=(0,), n_inputs=4, reference_seeds=(0,),
                             cache=cache, progress=False)
        switch = switch_analysis(run, switches=(0, 4, 8), seeds=(0,), control_switches=(), cache=cache,
                                 progress=False)
    assert chaos.control_is_exact, f"{kind}: the ε = 0 control left its parent"
    assert all(r["l2_distance"] > 0 for r in chaos.result.records), f"{kind}: a real ε left the twin on its parent"
    assert chaos.outcome in set(Outcome) and cone.outcome in set(Outcome) and switch.outcome in set(Outcome)
    m = cone.result.matrices
    assert np.isfinite(m).all() and (m.diagonal(axis1=1, axis2=2) == 0).all()
    acc = switch.results["linearized"].accuracy
    assert np.isfinite(acc).all() and acc.shape == (1, 3)
    # every verdict carries its measurements, which judge again (through JSON) to the same outcome
    import json

    from twophase_lib.judgements import judge
    for v in (*chaos.verdicts.values(), cone.verdict, *switch.verdicts.values()):
        assert judge(json.loads(json.dumps(v.judgement.to_dict()))).outcome == v.outcome, kind


@pytest.mark.parametrize("kind", KINDS)
def test_entk_equals_float64_brute_force_over_trained_parameters(kind):
    run = zoo_run(kind, dtype="float64")
    model = evaluation_model(run, train(run, until=6, progress=False).final)
    x = run.task.tensors().x_test[:5]
    x = x.double() if x.is_floating_point() else x
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VmapFallbackWarning)
        kernel = empirical_ntk(model, x, "full")
    expected = brute_force_ntk(model, x)
    assert kernel.shape == expected.shape
    torch.testing.assert_close(kernel.double(), expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_linearized_model_is_affine_in_its_parameters(kind):
    run = zoo_run(kind, dtype="float64")
    net = evaluation_model(run, train(run, until=4, progress=False).final)
    lin = Linearized(net)
    x = run.task.tensors().x_test[:6]
    x = x.double() if x.is_floating_point() else x
    theta0 = {k: v.detach().clone() for k, v in lin.net.named_parameters()}
    g = torch.Generator().manual_seed(0)
    direction = {k: torch.randn(v.shape, generator=g, dtype=v.dtype) * v.requires_grad for k, v in
                 lin.net.named_parameters()}

    def at(a: float) -> torch.Tensor:
        with torch.no_grad():
            for k, p in lin.net.named_parameters():
                p.copy_(theta0[k] + a * direction[k])
            return lin(x)

    f0, f1, f2, f3 = at(0.0), at(1.0), at(2.0), at(-0.5)
    with torch.no_grad():
        torch.testing.assert_close(f0, net(x))  # the expansion point is the network itself
    torch.testing.assert_close(f2 - f0, 2 * (f1 - f0), rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(f3 - f0, -0.5 * (f1 - f0), rtol=1e-9, atol=1e-10)
    assert not torch.allclose(f1 - f0, torch.zeros_like(f1))


@pytest.mark.parametrize("kind", KINDS)
def test_runs_are_bitwise_reproducible_and_resume_bitwise(kind):
    run = zoo_run(kind)
    once = train(run, progress=False).final
    again = train(run, progress=False).final
    resumed = train(run, start=train(run, until=5, progress=False).final, progress=False).final
    for k in once.model:
        assert torch.equal(once.model[k], again.model[k]), f"{kind}: {k} differs between two identical runs"
        assert torch.equal(once.model[k], resumed.model[k]), f"{kind}: {k} differs after resuming"


def _variant(kind: str) -> Task:
    """A task of the same kind that trains differently without changing the initial parameters."""
    if kind == "dropout":
        return Task("zoo-dropout", functools.partial(dropout_mlp, 0.6), table_data)
    return zoo_task(kind, loss=functools.partial(F.cross_entropy, label_smoothing=0.5))


@pytest.mark.parametrize("kind", KINDS)
def test_tasks_that_train_differently_have_different_identities(kind):
    a, b, other = zoo_task(kind), zoo_task(kind), _variant(kind)
    assert a.identity() == b.identity()
    assert a.identity() != other.identity()


# ------------------------------------------------------------------------------------- one fault, one test


def test_batch_norm_and_scalar_parameters_have_an_identity():
    # 0-dim state entries (num_batches_tracked, a learnable temperature) could not be digested
    for kind in ("batchnorm-cnn", "scalar-parameter"):
        assert len(zoo_task(kind).identity()) == 64


def test_loss_arguments_and_lambdas_enter_the_identity(tmp_path):
    smooth = [zoo_task("scalar-parameter", loss=functools.partial(F.cross_entropy, label_smoothing=s)) for s in (0, .9)]
    assert smooth[0].identity() != smooth[1].identity()
    lambdas = [zoo_task("scalar-parameter", loss=lambda o, y: F.cross_entropy(o, y)),
               zoo_task("scalar-parameter", loss=lambda o, y: F.cross_entropy(o, y, label_smoothing=0.9))]
    assert lambdas[0].identity() != lambdas[1].identity()

    def smoothed(s):
        return lambda o, y: F.cross_entropy(o, y, label_smoothing=s)

    assert zoo_task("dropout", loss=smoothed(0.1)).identity() != zoo_task("dropout", loss=smoothed(0.2)).identity()
    modules = [zoo_task("dropout", loss=nn.CrossEntropyLoss(label_smoothing=s)) for s in (0.1, 0.2)]
    assert modules[0].identity() != modules[1].identity()
    # and the cache never serves one loss's checkpoints to the other
    runs = [RunConfig(task=t, memory_format="contiguous", optim=OptimConfig(lr=0.05, batch_size=16, steps=6,
                                                                            milestones=())) for t in smooth]
    cache = Cache(tmp_path)
    from twophase_lib.store import parent_at

    a, b = (parent_at(r, 6, cache) for r in runs)
    assert any(not torch.equal(a.model[k], b.model[k]) for k in a.model)


def test_what_cannot_be_identified_is_refused_with_a_message():
    import threading

    from twophase_lib.identity import UnidentifiableError

    lock = threading.Lock()

    def locked_loss(o, y):
        with lock:
            return F.cross_entropy(o, y)

    with pytest.raises(UnidentifiableError, match="'lock' captured by .*locked_loss.*_thread.lock"):
        zoo_task("dropout", loss=locked_loss).identity()


def test_attribute_names_are_not_read_as_globals_and_globals_still_count():
    import threading

    from twophase_lib.identity import identify

    def loss_with(scale):
        # a global named like an attribute the function reads (opts.lock): not part of what it computes
        g = {"F": F, "lock": threading.Lock(), "SCALE": scale}
        exec("def loss(o, y, opts):\n    return F.cross_entropy(o, y, label_smoothing=opts.lock * SCALE)\n", g)
        return g["loss"]

    a, b = identify(loss_with(0.1)), identify(loss_with(0.2))
    assert a != b and "lock" not in a["globals"] and "SCALE" in a["globals"]


def test_numpy_integers_work_as_seeds_and_grids(tmp_path):
    run = zoo_run("scalar-parameter").replace(optim={"milestones": ()})
    cache = Cache(tmp_path)
    plain = chaos_analysis(run, t0s=(0, 4), deltas=(4,), seeds=(0, 1), cache=cache, progress=False)
    numpy = chaos_analysis(run, t0s=tuple(np.linspace(0, 4, 2).astype(int)), deltas=np.array([4]),
                           seeds=tuple(np.arange(2)), cache=cache, progress=False)
    np.testing.assert_array_equal(plain.result.values["disagreement"], numpy.result.values["disagreement"])
    a, b = train(run.replace(seed=np.int64(1)), progress=False).final, train(run.replace(seed=1), progress=False).final
    assert all(torch.equal(a.model[k], b.model[k]) for k in a.model)
    with pytest.raises(TypeError, match="seed must be an integer"):
        run.replace(seed=1.5)


def test_tied_weights_carry_the_perturbation_into_the_network_that_trains():
    run = zoo_run("tied-weights")
    parent = train(run, until=3, progress=False).final
    child, report = perturb_run(run, parent, Perturbation(1e-2))
    assert parameter_names(run).count("embed.weight") == 1 and "out.weight" not in parameter_names(run)
    net = materialise(run, child)
    moved = (net.embed.weight.detach().double() - parent.model["embed.weight"].double()).norm().item()
    assert net.out.weight is net.embed.weight
    assert moved > 0
    assert report.realised_norm == pytest.approx(
        torch.cat([(child.model[n].double() - parent.model[n].double()).flatten() for n in parameter_names(run)])
        .norm().item())
    assert torch.equal(child.model["out.weight"], child.model["embed.weight"])
    assert moved == (child.model["embed.weight"].double() - parent.model["embed.weight"].double()).norm().item()


def test_frozen_parameters_are_left_out_of_perturbation_kernel_and_count():
    run = zoo_run("frozen-layer", dtype="float64")
    names = parameter_names(run)
    assert "features.weight" not in names and "head.1.weight" in names
    parent = train(run, until=3, progress=False).final
    child, report = perturb_run(run, parent, Perturbation(1e-3))
    assert torch.equal(child.model["features.weight"], parent.model["features.weight"])
    from twophase_lib.models import count_parameters

    net = materialise(run, parent)
    assert report.num_parameters == count_parameters(net) == sum(p.numel() for _, p in trainable(net))
    assert report.realised_norm == pytest.approx(1e-3, rel=1e-9)
    x = run.task.tensors().x_test[:3].double()
    assert empirical_ntk(net.eval(), x).shape == (9, 9)


def test_dropout_masks_are_drawn_per_step_and_the_callers_generator_is_untouched(tmp_path):
    run = zoo_run("dropout")
    torch.manual_seed(123)
    before = torch.get_rng_state()
    once, again = train(run, progress=False).final, train(run, progress=False).final
    assert torch.equal(torch.get_rng_state(), before)
    assert all(torch.equal(once.model[k], again.model[k]) for k in once.model)
    chaos = chaos_analysis(run.replace(optim={"milestones": ()}), t0s=(0, 4), deltas=(4,), seeds=(0,),
                           cache=Cache(tmp_path), progress=False)
    assert chaos.control_is_exact


def test_batch_norm_without_running_statistics_is_differentiated_on_the_batch():
    torch.manual_seed(0)
    model = BatchNormMLP().double().eval()
    x = torch.randn(6, 5, dtype=torch.float64)
    kernel = empirical_ntk(model, x)
    torch.testing.assert_close(kernel, brute_force_ntk(model, x), rtol=1e-10, atol=1e-12)
    # computed per example instead it would be another kernel (BatchNorm1d refuses one example outright)
    with pytest.raises(KernelError, match="bn"):
        empirical_ntk(model, x, method=JacobianMethod.LOOP)


def test_vmap_failures_fall_back_with_a_warning_that_names_the_module():
    from model_zoo import InPlaceSum

    torch.manual_seed(0)
    model = InPlaceSum().double()
    x = torch.randn(4, 5, dtype=torch.float64)
    with pytest.warns(VmapFallbackWarning, match="InPlaceSum"):
        kernel = empirical_ntk(model, x)
    torch.testing.assert_close(kernel, brute_force_ntk(model, x), rtol=1e-10, atol=1e-12)


def test_a_model_autograd_cannot_differentiate_is_refused_naming_the_module():
    class Rounding(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(5, 3)
            self.snap = nn.Identity()

        def forward(self, x):
            return self.snap(self.a(x)).round().long().float().requires_grad_()

    with pytest.warns(VmapFallbackWarning), pytest.raises(KernelError, match="Rounding"):
        empirical_ntk(Rounding(), torch.randn(4, 5))


def test_identity_survives_modules_and_objects_that_refer_back_to_themselves():
    class Holder:
        pass

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(5, 3)
            self.note = Holder()
            self.note.owner = self.note  # a cycle through a plain object

        def forward(self, x):
            return self.fc(x)

    a, b = Task("cyclic", Net, table_data), Task("cyclic", Net, table_data)
    assert a.identity() == b.identity()


@pytest.mark.parametrize("kind", sorted(REFUSED))
def test_kinds_the_library_would_misread_are_refused_before_anything_trains(kind, tmp_path):
    """Through the public API: the analysis refuses the task with the reason before any parent trains."""
    run = RunConfig(task=refused_task(kind), optim=OptimConfig(lr=0.05, batch_size=16, steps=8, milestones=()))
    cache = Cache(tmp_path)
    with pytest.raises(ValueError, match=REFUSED[kind][2]):
        chaos_analysis(run, t0s=(0, 4), deltas=(4,), seeds=(0, 1), cache=cache, progress=False)
    assert not any(p.is_file() for p in tmp_path.rglob("*")), "something was computed before the refusal"
