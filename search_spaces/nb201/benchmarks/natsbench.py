"""NATS-Bench topology search space (``tss``, = NAS-Bench-201's cells) through ``nats_bench``.

``path`` is either the single file ``NATS-tss-v1_0-3ffb9.pickle.pbz2`` (loaded whole,
``fast_mode=False``) or the directory ``NATS-tss-v1_0-3ffb9-simple`` (``meta.pickle.pbz2`` +
one ``NNNNNN.pickle.pbz2`` per arch, loaded lazily, ``fast_mode=True``). Both are bz2-compressed
pickles: only open files from a source you trust.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from search_spaces.nb201.benchmarks._nbapi import query_api
from search_spaces.nb201.benchmarks.base import BenchmarkFileError, BenchmarkResult, BenchmarkUnavailable
from search_spaces.nb201.space import Arch, ArchError

EXPECTED_FILE = "a NATS-Bench tss benchmark file (NATS-tss-v1_0-3ffb9.pickle.pbz2: a bz2 pickle of a dict with " \
    "meta_archs, arch2infos, evaluated_indexes)"
EXPECTED_DIR = "a NATS-Bench tss archive directory (NATS-tss-v1_0-3ffb9-simple/ with meta.pickle.pbz2 and one " \
    "NNNNNN.pickle.pbz2 per arch)"
_LOAD_ERRORS = (OSError, EOFError, pickle.UnpicklingError, ValueError, KeyError, AttributeError, TypeError,
                AssertionError, IndexError, ImportError)


class NATSBenchmark:
    name = "natsbench"

    def __init__(self, path: str | Path, fast_mode: bool | None = None) -> None:
        p = Path(path).expanduser()
        self.path = str(p)
        if not p.exists():
            raise BenchmarkFileError(p, f"{EXPECTED_FILE}, or {EXPECTED_DIR}", "no such file or directory")
        is_dir = p.is_dir()
        self.fast_mode = is_dir if fast_mode is None else fast_mode
        if self.fast_mode != is_dir:
            raise BenchmarkFileError(p, EXPECTED_DIR if self.fast_mode else EXPECTED_FILE,
                                     f"fast_mode={self.fast_mode} needs a {'directory' if self.fast_mode else 'file'}")
        self.expected = EXPECTED_DIR if is_dir else EXPECTED_FILE
        head_file = p / "meta.pickle.pbz2" if is_dir else p
        if not head_file.is_file():
            raise BenchmarkFileError(p, self.expected, f"{head_file.name} is missing")
        with open(head_file, "rb") as fh:
            if fh.read(3) != b"BZh":
                raise BenchmarkFileError(head_file, self.expected, "not bz2-compressed")
        try:
            from nats_bench import create
        except ImportError as exc:
            raise BenchmarkUnavailable(
                "the natsbench benchmark needs the nats_bench package: pip install 'automcu[benchmarks]'"
            ) from exc
        try:
            self._api: Any = create(self.path, "tss", fast_mode=self.fast_mode, verbose=False)
            first = self._api.meta_archs[0] if len(self._api.meta_archs) else None
        except _LOAD_ERRORS as exc:
            raise BenchmarkFileError(p, self.expected, f"{type(exc).__name__}: {exc}") from exc
        if first is None:
            raise BenchmarkFileError(p, self.expected, "it lists no architectures")
        try:
            Arch.from_string(str(first))
        except ArchError as exc:
            raise BenchmarkFileError(p, self.expected, f"its archs are not topology cells ({first!r}); "
                                     "is this the size (sss) benchmark?") from exc

    def query(self, arch: Arch, dataset: str, epochs: int = 200, seed: int | None = None) -> BenchmarkResult:
        return query_api(self._api, self.path, self.expected, arch, dataset, epochs, seed)
