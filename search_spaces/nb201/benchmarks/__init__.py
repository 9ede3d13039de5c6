"""NAS-Bench-201 accuracy/cost backends behind one interface (see :mod:`.base`)."""

from search_spaces.nb201.benchmarks.base import (
    Benchmark,
    BenchmarkFileError,
    BenchmarkResult,
    BenchmarkUnavailable,
)
from search_spaces.nb201.benchmarks.registry import get_benchmark

__all__ = ["Benchmark", "BenchmarkFileError", "BenchmarkResult", "BenchmarkUnavailable", "get_benchmark"]
