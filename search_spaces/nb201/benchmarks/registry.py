"""The benchmark backends by name: :func:`get_benchmark`.

Kept apart from :mod:`.base` (the interface every backend imports) so that the backends build on the
interface and this module builds on the backends, with no cycle between them. A backend's module is
imported only when it is asked for (``official`` and ``natsbench`` need optional packages).
"""

from __future__ import annotations

from search_spaces.nb201.benchmarks.base import Benchmark

#: The backend names :func:`get_benchmark` accepts.
BACKENDS: tuple[str, ...] = ("table", "official", "natsbench")


def get_benchmark(name: str = "table", path: str | None = None) -> Benchmark:
    """A backend by name: ``table`` (embedded, ``path`` unused), ``official`` (a NAS-Bench-201
    ``.pth`` file) or ``natsbench`` (a NATS-Bench tss ``.pickle.pbz2`` file, or the
    ``NATS-tss-v1_0-3ffb9-simple`` directory for fast mode)."""
    if name == "table":
        from search_spaces.nb201.benchmarks.table import TableBenchmark

        return TableBenchmark()
    if name in ("official", "natsbench"):
        if not path:
            raise ValueError(f"the {name!r} benchmark needs a path to its data file")
        if name == "official":
            from search_spaces.nb201.benchmarks.official import OfficialBenchmark

            return OfficialBenchmark(path)
        from search_spaces.nb201.benchmarks.natsbench import NATSBenchmark

        return NATSBenchmark(path)
    raise ValueError(f"unknown benchmark {name!r}; use one of {', '.join(BACKENDS)}")
