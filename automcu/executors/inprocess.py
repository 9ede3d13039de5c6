"""The default executor: evaluate in the calling thread, one at a time (no processes, no overhead)."""

from __future__ import annotations

from concurrent.futures import Future

from agents.messages import EvaluationRequest
from automcu.executors.base import EvalFuture, EvaluationFailed, Executor
from automcu.executors.evaluators import EvaluatorSpec, run_evaluation


class InProcessExecutor(Executor):
    name = "inprocess"

    @property
    def parallelism(self) -> int:
        return 1

    def submit(self, spec: EvaluatorSpec, request: EvaluationRequest) -> EvalFuture:
        fut: EvalFuture = Future()
        fut.set_running_or_notify_cancel()
        try:
            fut.set_result(run_evaluation(spec, request))
        except Exception as exc:  # the evaluator's own error: recorded as a failed candidate
            fut.set_exception(EvaluationFailed(str(exc)))
        return fut

    def cancel(self, futures: list[EvalFuture]) -> None:
        return None  # each evaluation has finished by the time submit returns

    def close(self) -> None:
        return None  # holds nothing
