"""A verdict's measurements, recorded compactly, so that its rule can be applied again without recomputing anything.

A rule (:mod:`twophase_lib.verdicts`) is a pure function of measured curves and their bootstrap replicates; the
replicates are drawn, with fixed seeds, from the measurements themselves (per seed, and per test image where a
metric is a 0/1 score). A :class:`Judgement` keeps those measurements, before any resampling, and the name of the
function that turns them into a verdict (:data:`JUDGES`): :func:`judge` gives bitwise the verdict first given, and
after a rule changes, the verdict the new rule gives the same measurements. The across-machines record keeps one per
judged setting (issue 33), so runs computed on other machines are re-judged by the current rules, never recomputed.

Arrays are stored compactly and exactly (:func:`encode_array`): 0/1 scores (with NaN where a run diverged or was
not run) as packed bits, other arrays as their int64 or float64 bytes, base64, so a chapter's judgements take
kilobytes, not the megabytes of its bootstrap replicates.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def encode_array(x: np.ndarray) -> dict:
    """A JSON-able record of ``x``, exact in its values and kind (boolean, integer or float): its shape and either
    its 0/1 entries as packed bits (``bits``; with ``nan`` bits where a float entry is NaN), or its bytes
    (``int64`` or ``float64``), base64.

    Args:
        x: a boolean, integer or float array.

    Returns:
        {"shape", "dtype", and "bits" (and "nan") or "data"}.
    """
    a = np.asarray(x)
    kind = "bool" if a.dtype == bool else "int64" if a.dtype.kind in "iu" else "float64"
    f = a.astype(float)
    nan = np.isnan(f)
    if kind == "bool" or (kind == "float64" and np.isin(f[~nan], (0.0, 1.0)).all() and not np.signbit(f).any()):
        out = {"shape": list(a.shape), "dtype": kind, "bits": _b64(np.packbits((f == 1.0).ravel()))}
        if nan.any():
            out["nan"] = _b64(np.packbits(nan.ravel()))
        return out
    data = np.ascontiguousarray(a, dtype="<i8" if kind == "int64" else "<f8").tobytes()
    return {"shape": list(a.shape), "dtype": kind, "data": _b64(data)}


def decode_array(record: dict) -> np.ndarray:
    """The array an :func:`encode_array` record holds, of its kind (bool, int64 or float64; NaN restored).

    Raises:
        ValueError: a record that is not one.
    """
    if not _is_encoded(record):
        raise ValueError(f"not an encoded array: {sorted(record)}")
    shape, kind = tuple(record["shape"]), record["dtype"]
    n = math.prod(shape)
    if "data" in record:
        return np.frombuffer(base64.b64decode(record["data"]), dtype="<i8" if kind == "int64" else "<f8"
                             ).astype(kind).reshape(shape)
    def unpack(text: str) -> np.ndarray:
        return np.unpackbits(np.frombuffer(base64.b64decode(text), dtype=np.uint8), count=n).astype(bool)

    bits = unpack(record["bits"])
    if kind == "bool":
        return bits.reshape(shape)
    out = bits.astype(float)
    if "nan" in record:
        out[unpack(record["nan"])] = np.nan
    return out.reshape(shape)


def _is_encoded(v: Any) -> bool:
    return isinstance(v, dict) and "shape" in v and v.get("dtype") in ("bool", "int64", "float64") and (
        "bits" in v or "data" in v)


@dataclass
class Judgement:
    """What a verdict was decided from: the judging function's name (a key of :data:`JUDGES`) and its keyword
    arguments, the measurements before any resampling (arrays as ``numpy`` arrays here, encoded in
    :meth:`to_dict`)."""

    judge: str
    measurements: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-able dict (arrays through :func:`encode_array`; floats kept exactly)."""
        def enc(v):
            if isinstance(v, np.ndarray):
                return encode_array(v)
            if isinstance(v, (np.floating, np.integer, np.bool_)):
                return v.item()
            return v
        return {"judge": self.judge, "measurements": {k: enc(v) for k, v in self.measurements.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> Judgement:
        """The judgement a :meth:`to_dict` stored."""
        return cls(data["judge"], {k: decode_array(v) if _is_encoded(v) else v
                                   for k, v in data["measurements"].items()})


def _judges() -> dict[str, Callable]:
    from .chaos import judge_window
    from .cone import judge_lags
    from .switch import judge_switch

    return {"window_chaos": judge_window, "lag_cone": judge_lags, "paired_switch": judge_switch}


#: The names of the judging functions, each of which takes a :class:`Judgement`'s measurements as keyword arguments
#: and returns the rule's :class:`~twophase_lib.verdicts.Verdict` with the judgement attached (``verdict.judgement``).
JUDGES = ("window_chaos", "lag_cone", "paired_switch")


def judge(judgement: Judgement | dict):
    """Apply the current rule to recorded measurements: the :class:`~twophase_lib.verdicts.Verdict` its judging
    function (:data:`JUDGES`) gives them now.

    Raises:
        ValueError: an unknown judging function.
    """
    j = judgement if isinstance(judgement, Judgement) else Judgement.from_dict(judgement)
    judges = _judges()
    if j.judge not in judges:
        raise ValueError(f"unknown judging function {j.judge!r}; known: {', '.join(JUDGES)}")
    return judges[j.judge](**j.measurements)
