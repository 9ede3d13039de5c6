"""Where evaluations run: in-process (default), a local process pool, or a Ray cluster.

The planner hands each batch of feasible candidates to :func:`run_evaluations` with the executor the
``AUTOMCU_EXECUTOR`` / ``AUTOMCU_RAY_ADDRESS`` settings select (:func:`shared_executor`).
"""

from automcu.core.config import ExecutorSettings
from automcu.executors.base import EvalFuture, EvaluationFailed, EvaluationLost, Executor
from automcu.executors.dispatch import Item, run_evaluations
from automcu.executors.evaluators import EvaluatorSpec, build_evaluator, evaluator_spec_for, lookup_spec
from automcu.executors.factory import make_executor, shared_executor

__all__ = [
    "EvalFuture",
    "EvaluationFailed",
    "EvaluationLost",
    "EvaluatorSpec",
    "Executor",
    "ExecutorSettings",
    "Item",
    "build_evaluator",
    "evaluator_spec_for",
    "lookup_spec",
    "make_executor",
    "run_evaluations",
    "shared_executor",
]
