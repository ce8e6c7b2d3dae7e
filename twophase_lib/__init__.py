"""twophase_lib: a small PyTorch library for the two-phase learning dynamics of Zhou et al. (2025), on any model.

One module per concept. Foundations: ``config`` (hyperparameters as frozen dataclasses, their hash), ``data``
(tensors on the device, per-step batches), ``models`` (ResNet-20, VGG-16, MLP, ViT), ``task`` (a user's model, data
and loss) and ``identity`` (what identifies them in a cache key), ``numerics`` (the kernels' fingerprint). Training
and comparison: ``training`` (step-indexed trainer, checkpoints), ``perturbation`` (perturb and branch), ``metrics``
(distances, disagreement, loss barrier), ``ntk`` (the eNTK), ``linearize`` (the linearized model). Storage and
execution: ``cache`` (hash-keyed results on disk), ``store`` (parents, children, kernels, comparisons), ``executor``
and ``ray_executor``. The paper's three studies: ``chaos`` (twins perturbed at t0), ``cone`` (eNTK distances along a
run), ``switch`` (linearized from t to the end); ``verdicts`` (the rules that judge them), ``plotting`` (figure
primitives), ``analyses`` (the paper's protocol on any run, one call per claim, judged by the book's rules),
``costs`` (a study's cost before it runs), and ``runtime`` (the settings read from the environment, in one place).

The book's own parts (profiles, chapter designs, the paper's numbers, tables, pages) are the separate package
``twophase_book``, which imports this one and is never imported by it."""

from .cache import Cache
from .config import DataConfig, ModelConfig, OptimConfig, RunConfig, config_hash
from .data import TensorData, load_data
from .models import build_model, count_parameters
from .perturbation import Perturbation, perturb, perturb_run
from .task import Task
from .training import Checkpoint, evaluate, train

__version__ = "0.1.0"
__all__ = [
    "Cache",
    "Checkpoint",
    "DataConfig",
    "ModelConfig",
    "OptimConfig",
    "Perturbation",
    "RunConfig",
    "Task",
    "TensorData",
    "build_model",
    "config_hash",
    "count_parameters",
    "evaluate",
    "load_data",
    "perturb",
    "perturb_run",
    "train",
]
