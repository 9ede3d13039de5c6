"""Pick the executor the settings ask for; one shared instance per process (pools and Ray connections persist)."""

from __future__ import annotations

import atexit
import os
import threading

from automcu.core.config import ExecutorSettings, get_settings
from automcu.executors.base import Executor

_shared: dict[tuple[object, ...], Executor] = {}
_lock = threading.Lock()


def make_executor(settings: ExecutorSettings | None = None) -> Executor:
    """A new executor of the configured kind (in-process, local process pool, Ray)."""
    cfg = settings or get_settings().executors
    kind = cfg.resolved_kind
    if kind == "inprocess":
        from automcu.executors.inprocess import InProcessExecutor

        return InProcessExecutor()
    if kind == "process":
        from automcu.executors.process_pool import LocalProcessExecutor

        return LocalProcessExecutor(cfg.executor_workers or os.cpu_count() or 1)
    from automcu.executors.ray_executor import RayExecutor

    return RayExecutor(cfg.ray_address, cfg.executor_workers, cfg.ray_task_retries)


def shared_executor(settings: ExecutorSettings | None = None) -> Executor:
    """The process-wide executor for these settings (made on first use, closed at exit)."""
    cfg = settings or get_settings().executors
    key = (cfg.resolved_kind, cfg.executor_workers, cfg.ray_address, cfg.ray_task_retries)
    with _lock:
        if key not in _shared:
            _shared[key] = make_executor(cfg)
        return _shared[key]


@atexit.register
def close_shared() -> None:
    with _lock:
        executors = list(_shared.values())
        _shared.clear()
    for ex in executors:
        ex.close()
