"""The executor interface: evaluations go in as (spec, request), come back as futures.

A future resolves to an :class:`EvaluationResult`, or raises
- :class:`EvaluationLost` — the process or node running it died; the evaluation didn't fail, it may be retried;
- :class:`EvaluationFailed` — the evaluator itself raised; retrying won't help;
- ``concurrent.futures.CancelledError`` — it was cancelled through :meth:`Executor.cancel`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from concurrent.futures import Future

from agents.messages import EvaluationRequest, EvaluationResult
from automcu.executors.evaluators import EvaluatorSpec

EvalFuture = Future[EvaluationResult]


class EvaluationLost(RuntimeError):
    """The worker running the evaluation died (killed, OOM, node lost) before it answered."""


class EvaluationFailed(RuntimeError):
    """The evaluator raised; the message is the evaluator's own."""


class Executor(ABC):
    name: str = "executor"

    @property
    @abstractmethod
    def parallelism(self) -> int:
        """How many evaluations it runs at once (the dispatcher keeps this many in flight)."""

    @abstractmethod
    def submit(self, spec: EvaluatorSpec, request: EvaluationRequest) -> EvalFuture:
        """Start one evaluation."""

    @abstractmethod
    def cancel(self, futures: list[EvalFuture]) -> None:
        """Stop these evaluations wherever they run (queued ones never start); their futures end cancelled."""

    @abstractmethod
    def close(self) -> None:
        """Release processes and connections; running evaluations are cancelled."""

    def describe(self) -> dict[str, object]:
        return {"executor": self.name, "parallelism": self.parallelism}
