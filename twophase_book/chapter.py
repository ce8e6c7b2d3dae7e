"""What every chapter does before its narrative starts, in one call: its claim's designs at the chapter's parameters,
the result cache, the worker pool, and the design table, numerics note and summary store that go with them.

    book = setup("chaos", profile, workers, cache_dir, archs=archs, seeds=seeds, device=device, epsilon=epsilon)
    book.design_table()

Every papermill parameter a chapter declares goes through here to its designs (``tests/test_chapter_parameters.py``
sets each one through papermill and reads it back from the executed design table).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from twophase_lib.cache import Cache
from twophase_lib.executor import check_workers
from twophase_lib.ray_executor import executor_from_env

from .claims import Claim, claim, compute
from .pages import save_claim_summary
from .render import Note, Table, numerics_note


def check_cache_dir(cache_dir) -> str | None:
    """A chapter's ``cache_dir`` parameter: None (``$TWOPHASE_CACHE``) or a path, ``~`` expanded.

    Raises:
        ValueError: anything but a string or a path (``-p cache_dir 2026`` arrives as a number).
    """
    if cache_dir is None:
        return None
    if isinstance(cache_dir, bool) or not isinstance(cache_dir, (str, os.PathLike)) or not str(cache_dir).strip():
        raise ValueError(f"cache_dir must be a folder's path (a non-empty string) or None, got {cache_dir!r}")
    return os.path.expanduser(str(cache_dir))


@dataclass
class Chapter:
    """One executing chapter: its claim, profile, designs (``{name: design}``, with the re-runner's overrides), cache
    and executor."""

    claim: Claim
    profile: str
    designs: dict
    cache: Cache
    executor: Any

    def design_table(self) -> Table:
        """The designs as the chapter shows them (the claim's ``design_table``)."""
        return self.claim.design_table(self.designs)

    def numerics_note(self) -> Note:
        """The kernels that compute this chapter (its numerics fingerprint)."""
        return numerics_note(self.designs)

    def compute(self, studies: dict, desc: str, progress: bool = True) -> dict:
        """Compute (or load) studies on this chapter's cache and executor (:func:`twophase_book.claims.compute`)."""
        return compute(studies, self.cache, self.executor, desc, progress)

    def save(self, summary) -> None:
        """Store the chapter's typed summary under its designs (what the scorecard reads)."""
        save_claim_summary(self.cache, summary, self.designs)

    def close(self) -> None:
        """Shut the worker pool down (the chapter's last cell)."""
        self.executor.close()


def setup(kind: str, profile: str, workers: int | None = None, cache_dir=None, **overrides) -> Chapter:
    """A chapter's setup: the claim's designs at ``profile`` with the re-runner's ``overrides`` (``archs``, ``seeds``,
    ``device``, ``epsilon``, ``tasks``: whichever the claim's designs take), validated; the cache at ``cache_dir``;
    a pool of ``workers`` processes (None: ``$TWOPHASE_WORKERS`` or one per core; 0: this process).

    Raises:
        ValueError: an unknown claim or profile, or a parameter outside what is allowed (the message names it).
    """
    c = claim(kind)
    c.check_profile(profile)
    designs = c.designs(profile, **overrides)
    cache = Cache(check_cache_dir(cache_dir))
    return Chapter(c, profile, designs, cache, executor_from_env(check_workers(workers)))
