"""The official NAS-Bench-201 benchmark file through the ``nas-bench-201`` package.

``path`` is ``NAS-Bench-201-v1_1-096897.pth`` (or ``v1_0-e61699``): a ``torch.save``'d dict
with ``meta_archs``, ``arch2infos`` (per arch ``less`` = 12 epochs, ``full`` = 200 epochs) and
``evaluated_indexes``. The package imports torch and loads the whole file into memory (the
full file needs tens of GB of RAM); the embedded ``table`` backend answers the same queries
in well under a second. Only open files from a source you trust (the format is a pickle).
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

from search_spaces.nb201.benchmarks._nbapi import query_api
from search_spaces.nb201.benchmarks.base import BenchmarkFileError, BenchmarkResult, BenchmarkUnavailable
from search_spaces.nb201.space import Arch

EXPECTED = "a NAS-Bench-201 benchmark file (NAS-Bench-201-v1_1-096897.pth: a torch.save'd dict with meta_archs, " \
    "arch2infos, evaluated_indexes)"
_LOAD_ERRORS = (OSError, EOFError, pickle.UnpicklingError, ValueError, KeyError, AttributeError, TypeError,
                AssertionError, IndexError, RuntimeError, zipfile.BadZipFile)


class OfficialBenchmark:
    name = "official"

    def __init__(self, path: str | Path) -> None:
        p = Path(path).expanduser()
        self.path = str(p)
        self.expected = EXPECTED
        if not p.is_file():
            raise BenchmarkFileError(p, EXPECTED, "no such file" if not p.exists() else "not a file")
        with open(p, "rb") as fh:
            head = fh.read(4)
        # torch.save writes a zip archive (torch >= 1.6) or a sequence of pickles (older torch)
        if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):
            raise BenchmarkFileError(p, EXPECTED, "not a torch .pth file (neither a zip archive nor a pickle)")
        try:
            from nas_201_api import NASBench201API
        except ImportError as exc:
            raise BenchmarkUnavailable(
                "the official benchmark needs the nas-bench-201 package and torch: "
                f"pip install 'automcu[benchmarks]' torch ({exc})"
            ) from exc
        try:
            self._api: Any = NASBench201API(self.path, verbose=False)
        except _LOAD_ERRORS as exc:
            raise BenchmarkFileError(p, EXPECTED, f"{type(exc).__name__}: {str(exc)[:200]}") from exc
        if not len(self._api.meta_archs):
            raise BenchmarkFileError(p, EXPECTED, "it lists no architectures")

    def query(self, arch: Arch, dataset: str, epochs: int = 200, seed: int | None = None) -> BenchmarkResult:
        return query_api(self._api, self.path, self.expected, arch, dataset, epochs, seed)
