"""What to evaluate with: a picklable recipe for an evaluator, built once per process wherever tasks run.

Remote workers (pool processes, Ray workers) can't receive a live evaluator (tables, torch state), so the
planner sends an :class:`EvaluatorSpec` — ``module:Class`` plus keyword arguments — and each process builds
the evaluator once and reuses it for every task with the same spec.
"""

from __future__ import annotations

import importlib
import json
import threading
from typing import Any, Protocol

from pydantic import BaseModel

from agents.messages import EvaluationRequest, EvaluationResult

LOOKUP_FACTORY = "agents.evaluator:LookupEvaluator"
TRAINING_FACTORY = "agents.training_evaluator:TrainingEvaluator"


class Evaluator(Protocol):
    def evaluate(self, request: EvaluationRequest) -> EvaluationResult: ...


class EvaluatorSpec(BaseModel):
    factory: str  # "package.module:Class"
    kwargs: dict[str, Any] = {}

    @property
    def key(self) -> str:
        return json.dumps(self.model_dump(), sort_keys=True)


_cache: dict[str, Evaluator] = {}
_lock = threading.Lock()


def build_evaluator(spec: EvaluatorSpec) -> Evaluator:
    """The evaluator the spec describes, made once per process; ValueError when it can't be made."""
    with _lock:
        if spec.key in _cache:
            return _cache[spec.key]
        module_name, _, attr = spec.factory.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"evaluator {spec.factory!r} is not available: {exc}") from None
        evaluator = factory(**spec.kwargs)
        _cache[spec.key] = evaluator
        return evaluator


def run_evaluation(spec: EvaluatorSpec, request: EvaluationRequest) -> EvaluationResult:
    return build_evaluator(spec).evaluate(request)


def lookup_spec(benchmark: str = "table", time_scale: float = 0.0) -> EvaluatorSpec:
    return EvaluatorSpec(factory=LOOKUP_FACTORY, kwargs={"benchmark": benchmark, "time_scale": time_scale})


def training_spec(dataset: str, data_path: str | None, epochs: int) -> EvaluatorSpec:
    from automcu.data.realdata import TRAIN_C, TRAIN_N

    return EvaluatorSpec(factory=TRAINING_FACTORY, kwargs={"dataset": dataset, "data_path": data_path,
                                                           "epochs": epochs, "C": TRAIN_C, "N": TRAIN_N})


def evaluator_spec_for(job: Any, time_scale: float = 0.0) -> EvaluatorSpec:
    """The evaluator of a job: real training for a real-data name, else its NAS-Bench-201 backend."""
    from automcu.data.realdata import real_dataset_name

    if real_dataset_name(job.dataset) is not None:
        return training_spec(job.dataset, job.data_path, job.epochs)
    return lookup_spec(job.benchmark, time_scale)
