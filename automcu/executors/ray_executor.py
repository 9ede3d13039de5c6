"""Evaluations as Ray tasks: on a cluster (``AUTOMCU_RAY_ADDRESS``) or a local Ray started on first use.

- Each evaluation is one task of one CPU; the task builds the evaluator from its spec once per Ray worker.
- A task whose worker process or node dies is re-run by Ray (``AUTOMCU_RAY_TASK_RETRIES``); past that it
  comes back as :class:`EvaluationLost` and the dispatcher retries it itself, within the candidate's attempts.
- Cancelling force-cancels the tasks (``ray.cancel(force=True)`` kills the processes running them).
- Tasks belong to the driver (the worker process running the job): if it is killed, Ray ends them too.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from typing import Any

from agents.messages import EvaluationRequest, EvaluationResult
from automcu.executors.base import EvalFuture, EvaluationFailed, EvaluationLost, Executor
from automcu.executors.ray_auth import missing_token_message

LOCAL_OBJECT_STORE_BYTES = 256 * 1024 * 1024  # results are a few hundred bytes; don't reserve 30 % of RAM
PARALLELISM_TTL_SECONDS = 5.0


class ExecutorUnavailable(RuntimeError):
    """The executor's package or cluster can't be used; the message says how to fix it."""


def evaluate_task(spec_json: str, request_json: str) -> str:
    """The body of a Ray task (module level, so workers import it by name)."""
    from automcu.executors.evaluators import EvaluatorSpec, run_evaluation

    spec = EvaluatorSpec.model_validate_json(spec_json)
    return run_evaluation(spec, EvaluationRequest.model_validate_json(request_json)).model_dump_json()


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ExecutorUnavailable("the Ray executor needs the 'ray' extra: pip install 'automcu[ray]'") from None
    return ray


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None, task_retries: int = 2) -> None:
        ray = _import_ray()
        self._ray = ray
        if not ray.is_initialized():
            missing = missing_token_message()
            if missing:
                raise ExecutorUnavailable(missing)
            common: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "warning"}
            try:
                if address:
                    ray.init(address=address, **({} if address.startswith("ray://") else common))
                else:
                    ray.init(num_cpus=num_cpus, object_store_memory=LOCAL_OBJECT_STORE_BYTES, **common)
            except Exception as exc:
                where = f"the Ray cluster at {address}" if address else "a local Ray"
                first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
                raise ExecutorUnavailable(f"cannot start or reach {where}: {first}") from None
        self.address = address
        self._task = ray.remote(num_cpus=1, max_retries=task_retries, retry_exceptions=False)(evaluate_task)
        self._refs: dict[int, Any] = {}
        self._lock = threading.Lock()
        self._cpus: tuple[float, int] = (0.0, 1)

    @property
    def parallelism(self) -> int:
        stamp, cpus = self._cpus
        if time.monotonic() - stamp > PARALLELISM_TTL_SECONDS:
            cpus = max(1, int(self._ray.cluster_resources().get("CPU", 1)))
            self._cpus = (time.monotonic(), cpus)
        return cpus

    def submit(self, spec: Any, request: EvaluationRequest) -> EvalFuture:
        ref = self._task.remote(spec.model_dump_json(), request.model_dump_json())
        fut: EvalFuture = Future()
        with self._lock:
            self._refs[id(fut)] = ref
        ref.future().add_done_callback(lambda ray_fut: self._settle(fut, ray_fut))
        return fut

    def _settle(self, fut: EvalFuture, ray_fut: Future[Any]) -> None:
        with self._lock:
            self._refs.pop(id(fut), None)
        if fut.done():
            return
        exc = None if not ray_fut.cancelled() else self._ray.exceptions.TaskCancelledError()
        if exc is None:
            exc = ray_fut.exception()
        if exc is None:
            fut.set_result(EvaluationResult.model_validate_json(ray_fut.result()))
            return
        errors = self._ray.exceptions
        if isinstance(exc, errors.TaskCancelledError):
            fut.cancel()
        elif isinstance(exc, errors.RayTaskError):  # the evaluator raised inside the task
            cause = getattr(exc, "cause", None)
            fut.set_exception(EvaluationFailed(str(cause) if cause is not None else str(exc).splitlines()[0]))
        elif isinstance(exc, errors.RayError):  # worker crashed, node died, object lost, owner died …
            fut.set_exception(EvaluationLost(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"))
        else:
            fut.set_exception(EvaluationFailed(f"{type(exc).__name__}: {exc}"))

    def cancel(self, futures: list[EvalFuture]) -> None:
        with self._lock:
            refs = [self._refs.pop(id(f), None) for f in futures]
        for ref in refs:
            if ref is not None:
                try:
                    self._ray.cancel(ref, force=True)
                except Exception:  # already finished, or its worker gone: nothing left to stop
                    pass
        for fut in futures:
            fut.cancel()

    def close(self) -> None:
        with self._lock:
            refs = list(self._refs.values())
            self._refs.clear()
        for ref in refs:
            try:
                self._ray.cancel(ref, force=True)
            except Exception:
                pass

    def describe(self) -> dict[str, object]:
        return {"executor": self.name, "parallelism": self.parallelism, "address": self.address or "local"}
