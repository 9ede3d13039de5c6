"""Run a batch of evaluations through an executor: keep it busy, retry lost ones, stop on cancel.

Storage stays with the caller (the planner), through callbacks, so this loop is the same for every
executor and is tested without a database:
- ``begin_attempt(key)`` is called before each dispatch and returns the item's attempt count so far
  (persisted by the caller, so a worker that crashes mid-evaluation doesn't get unlimited retries);
- ``on_result`` / ``on_failure`` / ``on_lost`` report each outcome as it arrives;
- ``should_cancel()`` is polled while evaluations run; when true every in-flight task is cancelled;
- ``refill(free)``, when given, is asked for more items whenever ``free`` workers would otherwise idle
  (once at the start and once after each batch of completions, never on a mere poll): an asynchronous
  caller (asha promotions, new proposals) keeps every worker of a pool busy instead of waiting for the batch.
Whatever happens (cancel, an exception in a callback), nothing is left running when it returns.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import FIRST_COMPLETED, CancelledError, wait
from dataclasses import dataclass
from typing import Literal

from agents.messages import EvaluationRequest, EvaluationResult
from automcu.executors.base import EvalFuture, EvaluationFailed, EvaluationLost, Executor
from automcu.executors.evaluators import EvaluatorSpec


@dataclass
class Item:
    key: Hashable
    request: EvaluationRequest


def run_evaluations(
    executor: Executor,
    spec: EvaluatorSpec,
    items: list[Item],
    *,
    begin_attempt: Callable[[Hashable], int],
    on_result: Callable[[Item, EvaluationResult], None],
    on_failure: Callable[[Item, str], None],
    on_lost: Callable[[Item, int, str], None] = lambda _item, _attempt, _why: None,
    should_cancel: Callable[[], bool] = lambda: False,
    max_attempts: int = 3,
    poll_seconds: float = 0.5,
    refill: Callable[[int], list[Item]] | None = None,
) -> Literal["done", "cancelled"]:
    queue = deque(items)
    inflight: dict[EvalFuture, tuple[Item, int]] = {}

    def top_up() -> None:
        free = executor.parallelism - len(inflight) - len(queue)
        if refill is not None and free > 0:
            queue.extend(refill(free))

    try:
        top_up()
        while queue or inflight:
            if should_cancel():
                return "cancelled"
            while queue and len(inflight) < executor.parallelism:
                item = queue.popleft()
                attempt = begin_attempt(item.key)
                if attempt > max_attempts:
                    on_failure(item, f"evaluation lost {attempt - 1} times (its worker died each time); giving up")
                    continue
                inflight[executor.submit(spec, item.request)] = (item, attempt)
            if not inflight:
                continue
            done, _ = wait(list(inflight), timeout=poll_seconds, return_when=FIRST_COMPLETED)
            for fut in done:
                item, attempt = inflight.pop(fut)
                try:
                    result = fut.result()
                except EvaluationLost as exc:
                    on_lost(item, attempt, str(exc))
                    queue.appendleft(item)  # its attempt count decides whether it runs again
                except CancelledError:
                    continue  # cancelled from outside (executor closed): it stays unevaluated
                except EvaluationFailed as exc:
                    on_failure(item, str(exc))
                else:
                    on_result(item, result)
            if done:
                top_up()
        return "done"
    finally:
        if inflight:
            executor.cancel(list(inflight))
