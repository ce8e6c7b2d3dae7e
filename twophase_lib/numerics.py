"""The numerics fingerprint: which kernels computed a result, so that results of different kernels never meet.

On one machine a configuration gives bitwise the same parameters. Across machines it does not: CPUs with other
instruction sets or vendors take other kernels in oneDNN, MKL and ATen (and GPUs other kernels in cuDNN and
cuBLAS), which round differently, and the chaos this project studies amplifies a last-bit difference into a
different network (issue 18: the same four smoke steps give a parameter sum of 396.6533 with AVX-512 and
396.6521 with ``ATEN_CPU_CAPABILITY=avx2``). A twin compared with a parent computed by other kernels would read
rounding as chaos.

So every cached result is keyed by, and stores, the fingerprint of the numerics that computed it
(:class:`twophase_lib.cache.Cache`): a study reads and pairs only results of its own fingerprint, and results
computed elsewhere are recomputed rather than mixed. The fingerprint holds what selects kernels and rounding:

* the CPU vendor, its SIMD instruction sets and ATen's dispatch level (``torch.backends.cpu.get_cpu_capability``,
  which ``ATEN_CPU_CAPABILITY=default|avx2|avx512`` lowers), and the environment variables that cap oneDNN's
  and MKL's instruction sets;
* the torch, oneDNN and MKL versions;
* for results computed on a GPU, its name and compute capability and the CUDA and cuDNN versions.

The CPU model name and core count are left out: kernels are chosen by instruction set, not by model.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import platform
import re
from dataclasses import dataclass

import torch

from .runtime import environment_variables

#: Instruction-set flags (``/proc/cpuinfo`` names) that change which kernels oneDNN, MKL and ATen run.
ISA_FLAGS = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni",
             "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "avx_vnni", "sve", "asimd")

#: Environment variables that lower or pin the instruction sets and arithmetic of torch's CPU libraries.
ENV_VARS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ONEDNN_DEFAULT_FPMATH_MODE",
            "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "MKL_DEBUG_CPU_TYPE")

DEVICE_KINDS = ("cpu", "cuda")


class NoDeviceError(RuntimeError):
    """A fingerprint was asked for a device this process does not have (CUDA on a machine without a GPU)."""


@dataclass(frozen=True)
class Fingerprint:
    """What decides the rounding of a computation: processor, instruction sets, library versions.

    Two results may be compared (a parent and its twin, a control and its parent, curves in one figure) only if
    their fingerprints are equal. ``id`` names it in a few characters (``cpu-avx512-1a2b3c4d``).
    """

    device: str                 # "cpu" or "cuda"
    machine: str                # platform.machine(): x86_64, aarch64
    cpu_vendor: str             # GenuineIntel, AuthenticAMD, ...
    cpu_capability: str         # ATen's dispatch level: DEFAULT, AVX2, AVX512, ...
    isa: tuple[str, ...]        # the ISA_FLAGS the processor has
    env: tuple[tuple[str, str], ...]  # the ENV_VARS that are set
    torch: str
    onednn: str
    mkl: str
    gpu: str = ""               # name and compute capability (cuda only)
    cuda: str = ""
    cudnn: str = ""

    @functools.cached_property
    def digest(self) -> str:
        """sha256 of the fields (hex, 16 characters)."""
        payload = json.dumps(dataclasses.asdict(self), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    @property
    def id(self) -> str:
        """The short readable name (device, ATen capability and digest), e.g. ``cpu-avx512-1a2b3c4d``."""
        return f"{self.device}-{self.cpu_capability.lower()}-{self.digest[:8]}"

    def as_dict(self) -> dict:
        """The fields as JSON-able values, with ``id`` (what the cache and notebooks record)."""
        out = dataclasses.asdict(self)
        out["isa"] = list(self.isa)
        out["env"] = dict(self.env)
        out["id"] = self.id
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "Fingerprint":
        """Inverse of :meth:`as_dict`. Raises ValueError if ``d`` does not describe a fingerprint."""
        names = {f.name for f in dataclasses.fields(cls)}
        missing = names - set(d)
        if missing:
            raise ValueError(f"not a numerics fingerprint: missing {sorted(missing)}")
        values = {k: d[k] for k in names}
        values["isa"] = tuple(values["isa"])
        values["env"] = tuple(sorted(dict(values["env"]).items()))
        return cls(**values)

    def describe(self) -> str:
        """One line for a person: ``AuthenticAMD x86_64, ATen AVX512 (avx2 avx512f ...), torch 2.14.1, ...``."""
        text = (f"{self.cpu_vendor or 'unknown vendor'} {self.machine}, ATen {self.cpu_capability}, "
                f"torch {self.torch}, oneDNN {self.onednn}, MKL {self.mkl}")
        if self.env:
            text += ", " + ", ".join(f"{k}={v}" for k, v in self.env)
        if self.device == "cuda":
            text += f"; GPU {self.gpu}, CUDA {self.cuda}, cuDNN {self.cudnn}"
        return f"{text} (fingerprint {self.id})"


def _cpuinfo() -> tuple[str, set[str]]:
    """(vendor, flags) from /proc/cpuinfo; ('', empty) where there is none."""
    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        return platform.processor(), set()
    vendor = re.search(r"^vendor_id\s*:\s*(\S+)", text, re.M)
    flags = re.search(r"^(?:flags|Features)\s*:\s*(.*)$", text, re.M)
    return (vendor.group(1) if vendor else ""), set(flags.group(1).split()) if flags else set()


def _library_versions() -> tuple[str, str]:
    """(oneDNN, MKL) versions torch was built with, read from ``torch.__config__.show()``."""
    text = torch.__config__.show()
    onednn = re.search(r"(?:oneDNN|MKL-DNN)[^\n]*?v(\d+(?:\.\d+)+)", text)
    mkl = re.search(r"Math Kernel Library Version (\S+)", text)
    return (onednn.group(1) if onednn else "none"), (mkl.group(1) if mkl else "none")


@functools.lru_cache(maxsize=None)
def _cpu_part() -> dict:
    vendor, flags = _cpuinfo()
    onednn, mkl = _library_versions()
    return dict(machine=platform.machine(), cpu_vendor=vendor,
                cpu_capability=torch.backends.cpu.get_cpu_capability(),
                isa=tuple(f for f in ISA_FLAGS if f in flags),
                env=environment_variables(ENV_VARS),
                torch=torch.__version__, onednn=onednn, mkl=mkl)


@functools.lru_cache(maxsize=None)
def _cuda_part(index: int) -> dict:
    props = torch.cuda.get_device_properties(index)
    return dict(gpu=f"{props.name} (sm {props.major}.{props.minor})", cuda=str(torch.version.cuda),
                cudnn=str(torch.backends.cudnn.version()))


def fingerprint(device: str | torch.device = "cpu") -> Fingerprint:
    """The fingerprint of computations on ``device`` in this process.

    Args:
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (a ``torch.device`` too).

    Returns:
        The :class:`Fingerprint`; a CUDA one also holds the CPU part (data and some ops stay on the CPU).

    Raises:
        ValueError: an unknown device kind. NoDeviceError: a CUDA device in a process that has none.
    """
    return _fingerprint(str(device))


@functools.lru_cache(maxsize=None)
def _fingerprint(device: str) -> Fingerprint:
    """:func:`fingerprint`, built once per device: the cache asks for it on every lookup."""
    dev = torch.device(device)
    if dev.type not in DEVICE_KINDS:
        raise ValueError(f"unknown device {str(device)!r}; the fingerprint knows {', '.join(DEVICE_KINDS)}")
    part = dict(_cpu_part())
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise NoDeviceError(f"no CUDA device in this process, so no fingerprint for {str(device)!r}")
        part.update(_cuda_part(dev.index if dev.index is not None else torch.cuda.current_device()))
    return Fingerprint(device=dev.type, **part)


def device_of(config) -> str:
    """The device a cached computation ran on: the ``device`` of the first run configuration found in ``config``
    (a RunConfig, or dataclasses, tuples, lists and dicts holding one); ``"cpu"`` when there is none."""
    seen: list = [config]
    while seen:
        obj = seen.pop(0)
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            dev = getattr(obj, "device", None)
            if isinstance(dev, str) and type(obj).__name__ == "RunConfig":
                return dev
            seen.extend(getattr(obj, f.name) for f in dataclasses.fields(obj))
        elif isinstance(obj, (list, tuple)):
            seen.extend(obj)
        elif isinstance(obj, dict):
            seen.extend(obj.values())
    return "cpu"
