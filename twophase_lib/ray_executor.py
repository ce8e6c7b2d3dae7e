"""Run a study's waves of tasks on Ray: on this machine (``ray.init()``) or on a cluster (``ray.init(address=...)``).

:class:`RayExecutor` has the interface of :class:`twophase_lib.executor.Executor` (``map``, ``waves``,
``close``, a context manager, ``workers``), so every study (``chaos.run_chaos_maps``, ``cone.run_studies``,
``switch.run_switch_studies``) takes it unchanged. Each task is one Ray task:

* one torch thread and no tqdm bars in the worker (``torch.set_num_threads(1)``, ``TQDM_DISABLE=1``),
  as in the process pool; the store's cached computations enforce one thread anyway
  (:func:`twophase_lib.training.compute_threads`), so a result is bitwise the same whichever executor
  computed it;
* ``num_cpus_per_task`` and ``num_gpus_per_task`` CPUs and GPUs reserved per task; a fractional
  ``num_gpus_per_task`` (0.25) lets several small runs share one device. Tasks run on the device their
  :class:`~twophase_lib.config.RunConfig` names (``device="cuda"`` for the ``gpu`` and ``paper``
  profiles); Ray sets ``CUDA_VISIBLE_DEVICES`` for each;
* retried up to ``max_retries`` times when its worker dies (killed, out of memory, a node lost). A
  retry is safe: every result is a pure function of its configuration, stored under its hash and
  written atomically (a temporary file and a rename), so a task run twice writes the same bytes and a
  half-written file is never read. Exceptions raised by a task itself are not retried: they are bugs,
  raised in the driver as by the process pool.

Waves run one after the other, as in the process pool: every task of a wave may read what earlier
waves stored. Results travel two ways: a task's small return value (numbers, metric dicts) comes back
to the driver through Ray's object store, and every checkpoint and kernel stays in the cache folder.
The tasks carry a :class:`~twophase_lib.cache.Cache` whose root is a path, resolved on the worker: on a
cluster it must be a shared filesystem mounted at the same path on every node (set ``TWOPHASE_CACHE``
to an NFS folder before the chapter builds its ``Cache()``), or later waves will not find the
parents earlier waves trained on another node.

Numerics: a parent trained on one CPU and its twin branched on another would differ by rounding, which the
chaos experiment would read as chaos. The cache keys every result by the numerics fingerprint of the process
that computed it (:mod:`twophase_lib.numerics`), so that can never be paired; and so that a study's tasks do
not recompute each other's results on nodes with other kernels, the executor probes every node's fingerprint
when it starts and runs tasks only on nodes of one fingerprint: all of them when the cluster is uniform, else
the group named by ``numerics`` (a fingerprint id; a cluster with several groups and none named is refused,
with the groups listed).

``pip install 'twophase_lib[ray]'`` installs Ray; importing ``twophase_lib`` never needs it.
:func:`executor_from_env` picks this executor when ``$TWOPHASE_RAY_ADDRESS`` is set.
"""

from __future__ import annotations

from typing import Any, Sequence

from .executor import Executor, Progress, Task, task_devices
from .runtime import DEFAULT_GPU_MEMORY_SHARE, Runtime, current, using

MISSING_RAY = ("RayExecutor needs Ray, which is an optional dependency of twophase_lib: "
               "pip install 'twophase_lib[ray]'")


def _import_ray():
    """The ``ray`` module, or ImportError saying how to install it."""
    try:
        import ray
    except ImportError as e:
        raise ImportError(MISSING_RAY) from e
    return ray


def run_task(task: Task, gpu_share: float = 1.0, parent: Runtime | None = None) -> Any:
    """Run one task as the process pool's workers do: one torch thread, the driver's runtime without progress
    bars (the driver reports), and an eNTK's part of the GPU's memory in proportion to the GPU the task reserved."""
    import torch

    parent = parent or Runtime()
    torch.set_num_threads(1)
    with using(parent.for_worker(DEFAULT_GPU_MEMORY_SHARE * min(max(gpu_share, 1e-3), 1.0))):
        return task()


def _node_fingerprint() -> dict:
    from .numerics import fingerprint

    return fingerprint("cpu").as_dict()


def choose_nodes(node_fingerprints: dict[str, str], wanted: str | None = None) -> list[str] | None:
    """The nodes a study may run on: None (no restriction) when every node has the same numerics fingerprint,
    else the nodes whose fingerprint id is ``wanted``.

    Args:
        node_fingerprints: {node id: fingerprint id} of the cluster's alive nodes.
        wanted: the fingerprint id to run on (required when the nodes differ).

    Raises:
        ValueError: the nodes differ and ``wanted`` is None, or no node has ``wanted``.
    """
    groups: dict[str, list[str]] = {}
    for node, fp in sorted(node_fingerprints.items()):
        groups.setdefault(fp, []).append(node)
    listing = "; ".join(
        f"{fp}: {len(nodes)} node(s) ({', '.join(n[:8] for n in nodes)})" for fp, nodes in groups.items()
    )
    if wanted is None:
        if len(groups) <= 1:
            return None
        raise ValueError(
            f"the Ray cluster's nodes compute with {len(groups)} numerics fingerprints ({listing}); "
            f"results of different kernels are never paired, so name the group to run on: "
            f"RayExecutor(numerics=<id>) or $TWOPHASE_RAY_NUMERICS"
        )
    if wanted not in groups:
        raise ValueError(f"no node of the Ray cluster computes with fingerprint {wanted!r}; the cluster has {listing}")
    return None if len(groups) == 1 else groups[wanted]


class RayExecutor(Executor):
    """Runs waves of tasks as Ray tasks, with the interface of :class:`twophase_lib.executor.Executor` (``waves``
    and the context manager are inherited; ``map`` and ``close`` are Ray's).

    ``address``: None starts (or joins, if this process already called ``ray.init``) a local Ray
    instance; otherwise the address of a running cluster (``"auto"``, ``"ray://head:10001"``, ...).
    ``runtime_env`` and ``init_kwargs`` go to ``ray.init`` (``init_kwargs`` e.g. ``{"num_cpus": 2}`` for a
    local instance). ``numerics``: the fingerprint id whose nodes run the tasks when the cluster's nodes differ
    (:func:`choose_nodes`; ``node_fingerprints`` holds what the probe found). ``close()`` shuts down Ray only if
    this executor started it.
    """

    def __init__(
        self,
        address: str | None = None,
        num_cpus_per_task: float = 1,
        num_gpus_per_task: float = 0,
        max_retries: int = 3,
        runtime_env: dict | None = None,
        init_kwargs: dict | None = None,
        numerics: str | None = None,
    ):
        if num_cpus_per_task < 0 or num_gpus_per_task < 0:
            raise ValueError("num_cpus_per_task and num_gpus_per_task must be >= 0")
        if num_gpus_per_task > 1 and num_gpus_per_task != int(num_gpus_per_task):
            raise ValueError(f"num_gpus_per_task above 1 must be a whole number, got {num_gpus_per_task}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < -1:
            raise ValueError(f"max_retries must be an integer >= -1 (-1: retry forever), got {max_retries!r}")
        ray = _import_ray()
        self._ray = ray
        self.address = address
        self.num_cpus_per_task, self.num_gpus_per_task = num_cpus_per_task, num_gpus_per_task
        self.max_retries = max_retries
        self._started = False
        if not ray.is_initialized():
            kwargs = dict(init_kwargs or {})
            if runtime_env is not None:
                kwargs["runtime_env"] = runtime_env
            ray.init(address=address, **kwargs)
            self._started = True
        elif runtime_env is not None or init_kwargs:
            raise RuntimeError(
                "Ray is already initialised in this process: runtime_env and init_kwargs would be "
                "ignored; pass them to the ray.init call that started it instead"
            )
        self._task_options = dict(
            num_cpus=num_cpus_per_task, num_gpus=num_gpus_per_task, max_retries=max_retries, retry_exceptions=False
        )
        self._remote_function = ray.remote(run_task)
        self._remote = self._remote_function.options(**self._task_options)
        self.node_fingerprints = self._probe_nodes()
        self._nodes = choose_nodes(self.node_fingerprints, numerics or current().ray_numerics)

    def _probe_nodes(self) -> dict[str, str]:
        """{node id: numerics fingerprint id} of every alive node, from a tiny task pinned to each."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        probe = self._ray.remote(_node_fingerprint)
        nodes = [n["NodeID"] for n in self._ray.nodes() if n.get("Alive")]
        refs = [
            probe.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(n, soft=False)).remote()
            for n in nodes
        ]
        return {n: fp["id"] for n, fp in zip(nodes, self._ray.get(refs))}

    def _submit(self, i: int, task: Task, share: float):
        """Submit one task: anywhere, or (several fingerprints in the cluster) on the chosen group's nodes in turn."""
        if self._nodes is None:
            return self._remote.remote(task, share, current())
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        node = self._nodes[i % len(self._nodes)]
        return self._remote_function.options(
            **self._task_options, scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)
        ).remote(task, share, current())

    @property
    def workers(self) -> int:
        """How many tasks the cluster can run at once (its CPUs, or GPUs, over what one task reserves)."""
        resources = self._ray.cluster_resources()
        fits = []
        if self.num_cpus_per_task:
            fits.append(resources.get("CPU", 0) / self.num_cpus_per_task)
        if self.num_gpus_per_task:
            fits.append(resources.get("GPU", 0) / self.num_gpus_per_task)
        return max(1, int(min(fits))) if fits else max(1, int(resources.get("CPU", 1)))

    def map(self, tasks: Sequence[Task], desc: str = "tasks", progress: bool = True) -> list:
        """Results of ``tasks`` in their order; the first task that raises cancels the rest and re-raises."""
        ray = self._ray
        if not self.num_gpus_per_task and any("cuda" in task_devices(t) for t in tasks):
            # Ray hides every GPU (CUDA_VISIBLE_DEVICES="") from a task that reserves none
            raise ValueError(
                f"{desc}: these tasks train on cuda but the RayExecutor reserves no GPU per task; "
                "pass num_gpus_per_task (e.g. 0.25 to share one GPU between four runs) or set "
                "$TWOPHASE_RAY_GPUS_PER_TASK"
            )
        bar = Progress(desc, len(tasks), progress)
        refs: list = []
        try:
            share = self.num_gpus_per_task if 0 < self.num_gpus_per_task < 1 else 1.0
            refs = [self._submit(i, task, share) for i, task in enumerate(tasks)]
            index = {ref: i for i, ref in enumerate(refs)}
            results: list = [None] * len(tasks)
            pending = list(refs)
            while pending:
                finished, pending = ray.wait(pending, num_returns=1)
                for ref in finished:
                    # raises the task's own exception type (a RayTaskError subclass of it), or
                    # WorkerCrashedError once max_retries is spent
                    results[index[ref]] = ray.get(ref)
                    bar.advance()
            return results
        except BaseException:
            for ref in refs:
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # already finished, or the cluster is gone
                    pass
            raise
        finally:
            bar.close()

    def close(self, cancel: bool = False) -> None:
        """Shut Ray down if this executor started it (a cluster it joined keeps running)."""
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
        self._started = False


def executor_from_env(workers: int | None = None, **ray_options) -> Executor | RayExecutor:
    """A :class:`RayExecutor` when ``$TWOPHASE_RAY_ADDRESS`` is set, else the process pool ``Executor(workers)``.

    ``TWOPHASE_RAY_ADDRESS=local`` starts a local Ray instance; any other value is a cluster address
    (``auto``, ``ray://head:10001``). ``$TWOPHASE_RAY_GPUS_PER_TASK`` (default 0; fractions allowed) and
    ``$TWOPHASE_RAY_CPUS_PER_TASK`` (default 1) set what each task reserves; keyword arguments override
    them and go to :class:`RayExecutor`. ``workers`` is used by the process pool only.
    """
    rt = current()
    address = rt.ray_address
    if not address:
        return Executor(workers)
    options = {}
    if rt.ray_cpus_per_task is not None:
        options["num_cpus_per_task"] = rt.ray_cpus_per_task
    if rt.ray_gpus_per_task is not None:
        options["num_gpus_per_task"] = rt.ray_gpus_per_task
    options.update(ray_options)
    return RayExecutor(None if address == "local" else address, **options)
