"""How a job's candidates are evaluated: the executor, the evaluator recipe and the dispatch settings, as one type.

Built once per job, outside the loop (:func:`evaluation_for`), and passed to the planner. ``inline`` says the
evaluation is a free, deterministic, in-process lookup: the planner then evaluates a step's candidates inside
the step and stores the whole step (proposals, checks, results) in one transaction. Anything else (training,
simulated training time, a process pool, Ray) is dispatched through :func:`run_evaluations`, with each
candidate stored before it is dispatched so a crash never loses track of what was in flight.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agents.messages import EvaluationRequest, EvaluationResult
from automcu.core.config import ExecutorSettings, get_settings
from automcu.executors.base import Executor
from automcu.executors.evaluators import LOOKUP_FACTORY, Evaluator, EvaluatorSpec, build_evaluator


@dataclass
class Evaluation:
    executor: Executor
    spec: EvaluatorSpec
    settings: ExecutorSettings
    _built: Evaluator | None = field(default=None, repr=False)

    @property
    def inline(self) -> bool:
        from automcu.executors.inprocess import InProcessExecutor

        return (isinstance(self.executor, InProcessExecutor) and self.spec.factory == LOOKUP_FACTORY
                and not self.spec.kwargs.get("time_scale"))

    @property
    def trains(self) -> bool:
        """Each evaluation trains a network (not a table lookup, simulated time or not)."""
        return self.spec.factory != LOOKUP_FACTORY

    def evaluator(self) -> Evaluator:
        """The evaluator itself (built once per process); ValueError when it can't be made."""
        if self._built is None:
            self._built = build_evaluator(self.spec)
        return self._built

    def evaluate_inline(self, request: EvaluationRequest) -> EvaluationResult:
        return (self._built or self.evaluator()).evaluate(request)


def evaluation_for(job: Any, simulated_time_scale: float = 0.0, settings: ExecutorSettings | None = None) -> Evaluation:
    """The evaluation of ``job``: the shared executor the settings select and the job's evaluator.

    The evaluator is built here, so a job whose evaluator can't be made fails before its first step.
    """
    from automcu.executors.evaluators import evaluator_spec_for
    from automcu.executors.factory import shared_executor

    cfg = settings or get_settings().executors
    out = Evaluation(shared_executor(cfg), evaluator_spec_for(job, simulated_time_scale), cfg)
    out.evaluator()
    return out
