"""Results on disk, keyed by a hash of the full configuration, written atomically, checked on load.

File layout: a magic line, the sha256 of the body, then the body (``torch.save`` of a dict
holding the kind, the configuration as JSON-able values, the numerics fingerprint and the value). A
truncated or corrupted file fails the digest check and is recomputed, never loaded.

Every key holds the numerics fingerprint of the device the configuration runs on
(:mod:`twophase_lib.numerics`): a result computed by other kernels (another CPU, another
``ATEN_CPU_CAPABILITY``, another torch) is never found, so a study never pairs results of two
fingerprints, even when they share a cache folder. A cache pinned to another fingerprint
(``Cache(root, numerics=...)``) reads that machine's results and refuses to write.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable, TypeVar

import torch

from .config import config_hash, to_dict
from .numerics import Fingerprint, NoDeviceError, device_of, fingerprint

MAGIC = b"TWOPHASE-CACHE-1\n"
T = TypeVar("T")


class CorruptCacheWarning(UserWarning):
    """A cache file failed its integrity check and will be recomputed."""


def default_root() -> Path:
    """Cache folder: $TWOPHASE_CACHE, else ~/.cache/twophase/results."""
    from .runtime import current

    return current().cache_root


def current_umask() -> int:
    """This process's umask (read from /proc where it can be, else set and restored)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes | list[bytes | memoryview]) -> None:
    """Write ``data`` (bytes, or pieces written one after the other) to ``path`` through a temporary file in the
    same folder and a rename. The file gets the mode a plain ``open`` would give it (0666 less the umask), not
    the temporary file's 0600, so a cache folder shared by a group stays readable by it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as f:
            for piece in [data] if isinstance(data, bytes) else data:
                f.write(piece)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def flatten(value: Any, prefix: str) -> dict[str, Any]:
    """Scalars of nested dicts and lists keyed by dotted paths; short lists of scalars joined by spaces, tensors and
    long lists of numbers dropped."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k != "__type__":
                out.update(flatten(v, f"{prefix}.{k}"))
        return out
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, (int, float, str, bool, type(None))) for v in value):
            return {prefix: " ".join(map(str, value))} if len(value) <= 16 else {}
        out = {}
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}.{i}"))
        return out
    if isinstance(value, (int, float, str, bool)) or value is None:
        return {prefix: value}
    return {}


class NumericsMismatchError(RuntimeError):
    """A cache pinned to another machine's numerics fingerprint was asked to store a result computed here."""


class Cache:
    """A folder of results, one file per (kind, configuration hash, numerics fingerprint).

    Args:
        root: the folder (default ``$TWOPHASE_CACHE``, see :func:`default_root`); a leading ``~`` is expanded, as
            in ``$TWOPHASE_CACHE``.
        numerics: read the results of this fingerprint instead of this process's own (a machine's results
            shown beside another's); such a cache refuses to save.

    Raises:
        TypeError: a root that is not a path (a number, say).
    """

    def __init__(self, root: str | os.PathLike | None = None, numerics: Fingerprint | None = None):
        if root is not None and not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"the cache root must be a path (a string or os.PathLike) or None, got {root!r}")
        self.root = Path(root).expanduser() if root is not None else default_root()
        self.numerics = numerics

    def numerics_for(self, config: Any) -> Fingerprint:
        """The fingerprint results of ``config`` are keyed by: the pinned one, else this process's for the device
        the configuration's run names (:func:`twophase_lib.numerics.device_of`)."""
        return self.numerics if self.numerics is not None else fingerprint(device_of(config))

    def path(self, kind: str, config: Any) -> Path:
        """Where the result of ``kind`` for ``config`` lives (under this process's fingerprint, or the pinned one)."""
        return self.root / kind / f"{config_hash(kind, config, self.numerics_for(config).digest)}.pt"

    def save(self, kind: str, config: Any, value: Any) -> Path:
        """Store ``value`` as the result of ``kind`` for ``config`` (atomically), with its numerics fingerprint.

        Raises:
            NumericsMismatchError: this cache is pinned to a fingerprint other than the one computing here.
        """
        here = fingerprint(device_of(config))
        if self.numerics is not None and self.numerics != here:
            raise NumericsMismatchError(
                f"this cache reads results of {self.numerics.id}, but this process computes with {here.id}: "
                f"it cannot store a {kind!r} result under another machine's numerics")
        buf = io.BytesIO()
        torch.save({"kind": kind, "config": to_dict(config), "numerics": here.as_dict(), "value": value}, buf)
        body = buf.getbuffer()  # no copy: a full-width VGG-16 checkpoint is 112 MiB
        path = self.path(kind, config)
        atomic_write_bytes(path, [MAGIC, hashlib.sha256(body).digest(), body])
        return path

    def _read(self, path: Path) -> dict | None:
        raw = path.read_bytes()
        head, digest, body = raw[: len(MAGIC)], raw[len(MAGIC) : len(MAGIC) + 32], raw[len(MAGIC) + 32 :]
        if head != MAGIC or hashlib.sha256(body).digest() != digest:
            return None
        return torch.load(io.BytesIO(body), map_location="cpu", weights_only=False)

    def load(self, kind: str, config: Any, default: Any = None) -> Any:
        """The stored value, or ``default`` when absent or corrupt (a corrupt file is removed); also ``default`` for
        a configuration on a device this process does not have (no result of this machine's can exist)."""
        try:
            path = self.path(kind, config)
        except NoDeviceError:
            return default
        if not path.exists():
            return default
        record = self._read(path)
        if record is None:
            warnings.warn(f"corrupt cache file {path} (integrity check failed); recomputing", CorruptCacheWarning)
            path.unlink(missing_ok=True)
            return default
        return record["value"]

    def get_or_compute(self, kind: str, config: Any, compute: Callable[[], T]) -> T:
        """Load the result of ``kind`` for ``config``, or compute, store and return it."""
        sentinel = object()
        value = self.load(kind, config, sentinel)
        if value is sentinel:
            value = compute()
            self.save(kind, config, value)
        return value

    def kinds(self) -> list[str]:
        """The kinds of result stored."""
        return sorted(p.name for p in self.root.iterdir() if p.is_dir()) if self.root.is_dir() else []

    def table(self, kind: str) -> list[dict]:
        """Every stored result of ``kind`` as one flat row: configuration and value, nested keys joined by dots.

        Tensors and long lists (checkpoints, kernels, interpolation paths) are left out: a row holds the numbers
        a table can hold. ``scripts/export_results.py`` writes these rows as CSV.
        """
        return [{"kind": kind, "numerics": r.get("numerics", {}).get("id"), **flatten(r["config"], "config"),
                 **flatten(r["value"], "value")} for r in self.records(kind)]

    def fingerprints(self, kind: str) -> list[Fingerprint]:
        """The distinct numerics fingerprints of the stored results of ``kind``, in order of first appearance."""
        out: list[Fingerprint] = []
        for record in self.records(kind):
            if "numerics" in record:
                fp = Fingerprint.from_dict(record["numerics"])
                if fp not in out:
                    out.append(fp)
        return out

    def records(self, kind: str) -> list[dict]:
        """Every valid stored record of ``kind`` (dicts with 'config', 'numerics' and 'value'), of every
        fingerprint, for reports."""
        out = []
        for path in sorted((self.root / kind).glob("*.pt")):
            record = self._read(path)
            if record is not None:
                out.append(record)
        return out
