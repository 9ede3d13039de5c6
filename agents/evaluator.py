"""Evaluator agent: a feasible arch in, its accuracy and training cost out.

The lookup evaluator reads a NAS-Bench-201 backend (the embedded table by default). The search
sees validation accuracy (one training seed's, where the data has seeds); test accuracy is only
reported. The simulated cost of an evaluation is the benchmark's training time of that arch.
"""

from __future__ import annotations

import time

from agents.messages import EvaluationRequest, EvaluationResult
from search_spaces.nb201.index import index_of
from search_spaces.nb201.space import parse_arch


class LookupEvaluator:
    name = "nb201-lookup"

    def __init__(self, benchmark: str = "table", path: str | None = None, time_scale: float = 0.0) -> None:
        from search_spaces.nb201.benchmarks.registry import get_benchmark

        self.benchmark = get_benchmark(benchmark, path)
        self.source = f"nb201:{benchmark}"
        self.time_scale = time_scale

    def evaluate(self, request: EvaluationRequest) -> EvaluationResult:
        arch = parse_arch(request.arch)
        r = self.benchmark.query(arch, request.dataset, epochs=request.epochs, seed=request.seed)
        if self.time_scale > 0:
            time.sleep(r.train_seconds * self.time_scale)
        return EvaluationResult(
            arch=arch.to_string(), index=index_of(arch), val_acc=r.val_acc, test_acc=r.test_acc,
            train_seconds=r.train_seconds, params=r.params, flops=r.flops, source=self.source,
        )
