"""twophase_lib: a small PyTorch library reproducing the two-phase learning dynamics of Zhou et al. (2025).

One module per concept: ``config`` (hyperparameters, profiles, hashes), ``data`` (CIFAR-10 on the
device, per-step batches), ``models`` (ResNet-20, VGG-16, MLP), ``training`` (step-indexed trainer,
checkpoints), ``perturbation`` (perturb and branch), ``cache`` (hash-keyed results on disk), ``store``
(parent runs, children, kernels and comparisons, cached), ``executor`` (waves of tasks in worker
processes), ``task`` (a user's model, data and loss), ``presets`` (every profile's design), ``metrics``, ``ntk``, ``linearize``, the three
studies ``chaos``, ``cone`` and ``linearize``, ``verdicts`` (the rules), ``reporting`` (tables and
pages), ``plotting``, ``analyses`` (the three analyses on any task, one call each) and ``beyond`` (chapter 4's tasks).
"""

from .cache import Cache
from .config import DataConfig, ModelConfig, OptimConfig, RunConfig, config_hash
from .data import TensorData, load_data
from .models import build_model, count_parameters
from .perturbation import Perturbation, branch, perturb
from .presets import design, run_config
from .task import Task
from .training import Checkpoint, evaluate, train

__version__ = "0.1.0"
__all__ = [
    "Cache", "Checkpoint", "DataConfig", "ModelConfig", "OptimConfig", "Perturbation", "RunConfig", "Task", "TensorData",
    "branch", "build_model", "config_hash", "count_parameters", "design", "evaluate",
    "load_data", "perturb", "run_config", "train",
]
