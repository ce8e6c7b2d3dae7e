"""The task abstraction: a user's model on user tensors through training, branching, metrics, eNTK and linearization."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from torch import nn

from twophase_lib import OptimConfig, RunConfig, Task, TensorData
from twophase_lib.analyses import chaos_analysis, cone_analysis, switch_analysis
from twophase_lib.cache import Cache
from twophase_lib.chaos import ChaosMap, run_chaos_map
from twophase_lib.config import config_hash
from twophase_lib.executor import Executor
from twophase_lib.linearize import Linearized
from twophase_lib.ntk import empirical_ntk
from twophase_lib.training import materialise, train


def user_data(n: int = 96, seed: int = 0) -> TensorData:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    return TensorData("user", x[: n * 3 // 4], y[: n * 3 // 4], x[n * 3 // 4 :], y[n * 3 // 4 :])


def user_model() -> nn.Module:
    return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.LayerNorm(16), nn.Linear(16, 3))


def user_run(steps: int = 24, **task_kwargs) -> RunConfig:
    task = Task("user-mlp", task_kwargs.pop("model", user_model), task_kwargs.pop("data", user_data()), **task_kwargs)
    return RunConfig(task=task, optim=OptimConfig(lr=0.05, batch_size=16, steps=steps, milestones=(16, 20)),
                     memory_format="contiguous")


def test_training_a_user_task_is_deterministic_and_resumes_bitwise():
    run = user_run()
    once = train(run, progress=False).final
    half = train(run, until=12, progress=False).final
    resumed = train(run, start=half, progress=False).final
    for k in once.model:
        assert torch.equal(once.model[k], resumed.model[k])
    again = train(run, progress=False).final
    assert all(torch.equal(once.model[k], again.model[k]) for k in once.model)


def test_adamw_recipe_trains_and_resumes_bitwise():
    run = user_run().replace(optim={"algorithm": "adamw", "lr": 1e-2, "weight_decay": 0.1})
    once = train(run, progress=False).final
    resumed = train(run, start=train(run, until=10, progress=False).final, progress=False).final
    assert all(torch.equal(once.model[k], resumed.model[k]) for k in once.model)
    assert "exp_avg_sq" in next(iter(once.optimizer["state"].values()))
    with pytest.raises(ValueError, match="unknown optimiser"):
        OptimConfig(algorithm="lbfgs")


def test_identity_follows_model_and_data_not_the_object(tmp_path):
    a, b = user_run(), user_run()
    assert a.task is not b.task and a == b and config_hash(a) == config_hash(b)
    other_data = user_run(data=user_data(seed=1))
    wider = user_run(model=lambda: nn.Sequential(nn.Linear(5, 32), nn.Tanh(), nn.LayerNorm(32), nn.Linear(32, 3)))
    versioned = user_run(version="forward changed")
    hashes = {config_hash(r) for r in (a, other_data, wider, versioned)}
    assert len(hashes) == 4
    # a cached result is found again by an equal task built anew, never by a changed one
    cache = Cache(tmp_path)
    cache.save("parent", (a, 0), 1)
    assert cache.load("parent", (b, 0)) == 1 and cache.load("parent", (wider, 0)) is None


def test_bad_tasks_fail_clearly():
    with pytest.raises(TypeError, match="model must be a function"):
        Task("x", nn.Linear(2, 2), user_data())
    with pytest.raises(TypeError, match="TensorData"):
        Task("x", user_model, {"x": 1})
    with pytest.raises(TypeError, match="not an nn.Module"):
        Task("x", lambda: 3, user_data()).build(0)
    with pytest.raises(ValueError, match="labels"):
        TensorData("bad", torch.zeros(4, 2), torch.zeros(3).long(), torch.zeros(2, 2), torch.zeros(2).long())


def test_epsilon_zero_control_is_exact_on_a_user_task(tmp_path):
    run = user_run()
    study = ChaosMap(run, (0, 4, 12), (24,), seeds=(0,), control_t0=4, reference_seeds=(0,), kernel_inputs=4)
    res = run_chaos_map(study, Cache(tmp_path), Executor(0), progress=False)
    assert res.control_is_exact
    assert min(r["l2_distance"] for r in res.records) > 0  # a real perturbation moves the twin


def test_user_task_ntk_equals_brute_force_jacobian():
    run = user_run().replace(dtype="float64")
    model = materialise(run, train(run, until=8, progress=False).final).eval()
    x = run.task.tensors().x_test[:6].double()
    kernel = empirical_ntk(model, x, "full")
    rows = []
    for i in range(len(x)):
        for c in range(3):
            model.zero_grad()
            model(x[i : i + 1])[0, c].backward()
            rows.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    jac = torch.stack(rows)
    assert torch.allclose(kernel.double(), jac @ jac.T, rtol=1e-10, atol=1e-12)


def test_linearized_user_model_is_affine_in_its_parameters():
    torch.manual_seed(0)
    net = user_model().double()
    lin = Linearized(net)
    x = torch.randn(7, 5, dtype=torch.float64)
    theta0 = {k: v.detach().clone() for k, v in lin.net.named_parameters()}
    direction = {k: torch.randn_like(v) for k, v in theta0.items()}

    def at(a: float) -> torch.Tensor:
        with torch.no_grad():
            for k, p in lin.net.named_parameters():
                p.copy_(theta0[k] + a * direction[k])
            return lin(x)

    f0, f1, f2, f3 = at(0.0), at(1.0), at(2.0), at(-0.5)
    assert torch.allclose(f0, net(x))  # the expansion point is the network itself
    assert torch.allclose(f2 - f0, 2 * (f1 - f0), atol=1e-12)
    assert torch.allclose(f3 - f0, -0.5 * (f1 - f0), atol=1e-12)
    assert not torch.allclose(f1 - f0, torch.zeros_like(f1))


def test_the_three_analyses_run_on_a_user_task(tmp_path):
    run = user_run().replace(optim={"milestones": ()})
    cache = Cache(tmp_path)
    chaos = chaos_analysis(run, t0s=(0, 4, 12), deltas=(4, 12), seeds=(0, 1), cache=cache, progress=False)
    cone = cone_analysis(run, lag_ts=(0, 8), lags=(4, 8, 16), taus=(0, 8), seeds=(0, 1), n_inputs=6, cache=cache,
                         progress=False)
    switch = switch_analysis(run, switches=(0, 8, 16, 24), seeds=(0, 1), inflection=chaos.inflection, cache=cache,
                             progress=False, budget=8)
    assert chaos.control_is_exact and chaos.result.values["disagreement"].shape == (2, 3, 5)
    assert chaos.readings[("disagreement", 4)].t0s.tolist() == [0, 4, 12] and set(chaos.verdicts) == {4, 12}
    assert cone.result.study.steps == (0, 4, 8, 12, 16, 24) and cone.result.study.split == "train"
    assert (cone.result.matrices.diagonal(axis1=1, axis2=2) == 0).all() and cone.reading.late == 8
    lin = switch.results["linearized"]
    assert lin.accuracy.shape == (2, 4) and list(lin.switches) == [0, 8, 16, 24]
    assert set(switch.results) == {"linearized", "linearized, lower lr", "batch norm frozen"}
    assert list(switch.results["batch norm frozen"].switches) == [0, 8, 16, 24]  # the frozen control: every t
    assert list(switch.results["linearized, lower lr"].switches) == [0, 8, 16, 24]  # as chapter 3: every t
    assert set(switch.controls()) == {0, 8, 16} and "lower lr − run's lr" in switch.controls()[16]
    # the fixed-budget arm: 8 linearized iterations from each t before T beside θ_{t+8}; its check decides nothing
    assert sorted(switch.budget) == [0, 8, 16] and list(switch.budget[16].switches) == [16, 24]
    assert switch.budget[16].accuracy[:, 0].tolist() == lin.accuracy[:, 2].tolist()  # 16 + 8 = T: the same run
    assert switch.budget_check is not None and not switch.budget_check.deciding
    assert "fixed budget (descriptive)" in switch.explain()
    assert lin.parent_accuracy.shape == (2, 4)
    for analysis in (chaos, cone, switch):
        assert analysis.explain().startswith(f"{analysis.explain().split(':')[0]}: {analysis.outcome}")
        assert analysis.figure().axes


def test_the_analyses_refuse_a_run_whose_lr_drops_and_bad_grids_naming_the_field():
    run = user_run()
    with pytest.raises(ValueError, match="constant-lr window"):
        chaos_analysis(run, t0s=(0, 4), deltas=(4,))
    run = run.replace(optim={"milestones": ()})
    for call, kwargs, field in [(chaos_analysis, dict(t0s=(0, 4), deltas=(30,)), "deltas"),
                                (chaos_analysis, dict(t0s=(4, 8), deltas=(4,)), "t0s"),
                                (chaos_analysis, dict(t0s=(0, 4), deltas=(4,), seeds=()), "seeds"),
                                (chaos_analysis, dict(t0s=(0, 4), deltas=(4,), epsilon=0.0), "epsilon"),
                                (chaos_analysis, dict(t0s=(0, 4), deltas=(4,), control_t0=3), "control_t0"),
                                (cone_analysis, dict(lag_ts=(0,), lags=(4, 8)), "lag_ts"),
                                (cone_analysis, dict(lag_ts=(0, 8), lags=(4, 20)), "lag_ts"),
                                (cone_analysis, dict(lag_ts=(0, 8), lags=(2, 4, 8), n_inputs=0), "n_inputs"),
                                (switch_analysis, dict(switches=(0, 24)), "switch times"),
                                (switch_analysis, dict(switches=(0, 8, -1)), "switches"),
                                (switch_analysis, dict(switches=(0, 8, 16), control_switches=(4, 16)),
                                 "control_switches"),
                                # two control switch times on the grid, ending at T: the control's rule needs
                                # three (it used to train everything, then fail in the verdict)
                                (switch_analysis, dict(switches=(0, 8, 16), control_switches=(8, 16)),
                                 "control_switches .* at least 3"),
                                (switch_analysis, dict(switches=(0, 8, 16), lr_scale=2), "lr_scale"),
                                (switch_analysis, dict(switches=(0, 8, 16), budget=0), "budget"),
                                (switch_analysis, dict(switches=(0, 8, 16), budget=2.5), "budget"),
                                (switch_analysis, dict(switches=(0, 8, 16), budget=17), "past the run's window"),
                                # non-integers are refused, not truncated (2.5 used to become seed 2)
                                (chaos_analysis, dict(t0s=(0, 4), deltas=(4,), seeds=(2.5,)), "seeds"),
                                (chaos_analysis, dict(t0s=(0, 4), deltas=(4.5,)), "deltas"),
                                (chaos_analysis, dict(t0s=(0, 4), deltas=(4,), kernel_inputs=-1), "kernel_inputs"),
                                (cone_analysis, dict(lag_ts=(0, 8), lags=(2, 4, 8), n_inputs=2.5), "n_inputs"),
                                (cone_analysis, dict(lag_ts=(0, 8), lags=(2, 4, 8), seeds=(True,)), "seeds"),
                                (switch_analysis, dict(switches=(0, 8, 16), seeds=()), "seeds"),
                                (switch_analysis, dict(switches=(0, 8, 16), train_examples=0), "train_examples"),
                                # strings are refused, not parsed; an inflection is a number ≥ 0 (nan, inf: none)
                                (chaos_analysis, dict(t0s=(0, 4), deltas=(4,), epsilon="1e-7"), "epsilon"),
                                (switch_analysis, dict(switches=(0, 8, 16), lr_scale="0.1"), "lr_scale"),
                                (switch_analysis, dict(switches=(0, 8, 16), inflection=-3), "inflection"),
                                (switch_analysis, dict(switches=(0, 8, 16), inflection="5"), "inflection"),
                                (switch_analysis, dict(switches=(0, 8, 16), inflection=True), "inflection"),
                                # more eNTK inputs than training examples would be cached under the wrong size
                                (cone_analysis, dict(lag_ts=(0, 8), lags=(2, 4, 8), n_inputs=10_000), "n_inputs"),
                                (chaos_analysis, dict(t0s=(0, 4), deltas=(4,), workers=-1), "workers")]:
        with pytest.raises(ValueError, match=field):
            call(run, **kwargs)
    with pytest.raises(ValueError, match="optim.steps"):
        chaos_analysis(run.replace(optim={"steps": 0}), t0s=(0, 4), deltas=(4,))


def test_train_examples_beyond_the_training_set_measure_all_of_it_and_the_study_says_so():
    run = user_run().replace(optim={"milestones": ()})
    n = len(run.task.tensors().x_train)
    switch = switch_analysis(run, switches=(0, 8, 16), seeds=(0,), control_switches=(), train_examples=10 * n,
                             progress=False)
    assert switch.results["linearized"].study.train_examples == n


def test_a_chaos_analysis_of_a_zoo_network_names_it():
    # a run of a registered network (no task): the reading's label is its name (ModelConfig.name; reading a
    # nonexistent .arch crashed after the twins had trained)
    from twophase_lib.config import ModelConfig, OptimConfig, RunConfig

    run = RunConfig(model=ModelConfig("mlp", 0.0625), optim=OptimConfig(batch_size=16, steps=4, milestones=()),
                    memory_format="contiguous")
    chaos = chaos_analysis(run, t0s=(0, 2), deltas=(2,), seeds=(0,), progress=False)
    assert chaos.readings[("disagreement", 2)].arch == "mlp" and chaos.control_is_exact


def small_sequence_task() -> Task:
    from model_zoo import zoo_task

    return zoo_task("gru-tokens")


def test_a_picklable_task_gives_the_same_results_in_worker_processes(tmp_path):
    task = small_sequence_task()
    task.identity()  # loads the data and digests it once, here
    clone = pickle.loads(pickle.dumps(task))
    assert "data" not in clone._memo and "identity" in clone._memo  # workers reload the data from its function
    assert clone == task
    run = RunConfig(task=task, optim=OptimConfig(lr=0.05, batch_size=16, steps=12, milestones=(8,)),
                    memory_format="contiguous")
    study = ChaosMap(run, (0, 4), (12,), seeds=(0,), control_t0=4)
    here = run_chaos_map(study, Cache(tmp_path / "here"), Executor(0), progress=False)
    pool = Executor(2)
    try:
        there = run_chaos_map(study, Cache(tmp_path / "pool"), pool, progress=False)
    finally:
        pool.close()
    assert all(a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a if k != "perturbation")
               and a["perturbation"] == b["perturbation"] for a, b in zip(here.records, there.records))
    assert here.control_is_exact


def volume_data(n: int = 32) -> TensorData:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 1, 4, 6, 6, generator=g)
    y = (x.mean((1, 2, 3, 4)) > 0).long()
    return TensorData("volumes", x[:24], y[:24], x[24:], y[24:])


def volume_model() -> nn.Module:
    return nn.Sequential(nn.Conv3d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool3d(1), nn.Flatten(),
                         nn.Linear(4, 2))


def test_the_default_memory_format_leaves_tensors_that_are_not_4d_alone():
    # a 3-D convolution's 5-D weight under the default memory_format="channels_last" failed with "required rank
    # 4 tensor to use channels_last format"; 4-D weights are still laid out channels-last
    run = RunConfig(task=Task("volumes", volume_model, volume_data()),
                    optim=OptimConfig(lr=0.05, batch_size=8, steps=4, milestones=()))
    assert run.memory_format == "channels_last"
    a, b = train(run, progress=False).final, train(run, progress=False).final
    assert all(torch.equal(a.model[k], b.model[k]) for k in a.model)
    from twophase_lib.config import ModelConfig
    from twophase_lib.training import initial_checkpoint

    cnn = RunConfig(model=ModelConfig("resnet20", 0.125))
    conv = next(m for m in materialise(cnn, initial_checkpoint(cnn)).modules() if isinstance(m, nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) and not conv.weight.is_contiguous()


class SparseEmbedding(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 8, sparse=True)
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        return self.head(self.embed(x).mean(1))


class ComplexScale(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(5, dtype=torch.complex64))
        self.head = nn.Linear(5, 3)

    def forward(self, x):
        return self.head((x * self.scale).real)


def hooked_weight_norm() -> nn.Module:
    return nn.Sequential(nn.utils.weight_norm(nn.Linear(5, 16)), nn.Tanh(), nn.Linear(16, 3))


def tokens() -> TensorData:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 20, (40, 6), generator=g)
    return TensorData("tokens", x[:32], x[:32, 0] % 2, x[32:], x[32:, 0] % 2)


@pytest.mark.parametrize("model,data,match", [
    (SparseEmbedding, tokens, r"module 'embed' \(Embedding\) has sparse gradients"),
    (hooked_weight_norm, user_data, r"module '0' \(Linear\) uses the hook form of weight norm"),
    (ComplexScale, user_data, r"scale is complex"),
])
def test_networks_the_library_cannot_train_or_linearize_are_refused_naming_the_module(model, data, match):
    # a sparse embedding failed inside the optimiser; the hook form of weight norm inside the linearized model's
    # copy; a complex parameter was cast to real, silently dropping its imaginary part
    import warnings

    run = RunConfig(task=Task("odd", model, data()), optim=OptimConfig(lr=0.05, batch_size=8, steps=2, milestones=()),
                    memory_format="contiguous")
    with warnings.catch_warnings(), pytest.raises(ValueError, match=match):
        warnings.simplefilter("ignore")  # torch's deprecation of the hook form
        train(run, progress=False)
