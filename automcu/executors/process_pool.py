"""A local pool of evaluation processes (``spawn``), each running one evaluation at a time.

Unlike ``concurrent.futures.ProcessPoolExecutor`` it knows which process runs which evaluation, so
- cancelling an evaluation kills just the process running it (a new one takes its place);
- a process that dies (killed, out of memory) fails only its own evaluation, as :class:`EvaluationLost`;
- a process whose parent is gone (the worker was killed with -9) exits by itself instead of lingering.
"""

from __future__ import annotations

import multiprocessing as mp
import multiprocessing.connection as mpc
import os
import threading
from collections import deque
from concurrent.futures import Future
from typing import Any

from agents.messages import EvaluationRequest, EvaluationResult
from automcu.core.orphans import exit_with_parent
from automcu.executors.base import EvalFuture, EvaluationFailed, EvaluationLost, Executor
from automcu.executors.evaluators import EvaluatorSpec, run_evaluation


def _child_main(conn: Any, parent_pid: int) -> None:
    """A pool process: evaluate (spec, request) pairs from the pipe until it closes."""
    exit_with_parent(parent_pid)  # Ctrl-C reaches the whole group; the parent decides
    while True:
        try:
            spec_json, request_json = conn.recv()
        except (EOFError, OSError):
            return
        try:
            result = run_evaluation(EvaluatorSpec.model_validate_json(spec_json),
                                    EvaluationRequest.model_validate_json(request_json))
            conn.send(("ok", result.model_dump_json()))
        except Exception as exc:
            conn.send(("error", str(exc)))


class _Slot:
    def __init__(self) -> None:
        self.proc: Any = None
        self.conn: Any = None
        self.fut: EvalFuture | None = None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.is_alive()


class LocalProcessExecutor(Executor):
    name = "process"

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("a process pool needs at least one worker")
        self._ctx = mp.get_context("spawn")
        self._slots = [_Slot() for _ in range(workers)]
        self._queue: deque[tuple[EvalFuture, str, str]] = deque()
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = self._ctx.Pipe(duplex=False)
        self._closed = False
        self._monitor: threading.Thread | None = None

    @property
    def parallelism(self) -> int:
        return len(self._slots)

    @property
    def pids(self) -> list[int | None]:
        """The pid of each slot's process (None before it is first needed); for operators and tests."""
        return [s.proc.pid if s.proc is not None else None for s in self._slots]

    def running_pid(self, fut: EvalFuture) -> int | None:
        with self._lock:
            return next((s.proc.pid for s in self._slots if s.fut is fut and s.proc is not None), None)

    # ----- submitting -------------------------------------------------------------------------------
    def submit(self, spec: EvaluatorSpec, request: EvaluationRequest) -> EvalFuture:
        fut: EvalFuture = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the process pool is closed")
            self._queue.append((fut, spec.model_dump_json(), request.model_dump_json()))
            if self._monitor is None:
                self._monitor = threading.Thread(target=self._run, name="eval-pool", daemon=True)
                self._monitor.start()
        self._wake()
        return fut

    def cancel(self, futures: list[EvalFuture]) -> None:
        wanted = set(map(id, futures))
        with self._lock:
            self._queue = deque(item for item in self._queue if id(item[0]) not in wanted)
            for slot in self._slots:
                if slot.fut is not None and id(slot.fut) in wanted and slot.proc is not None:
                    slot.proc.kill()  # the evaluation stops now; the monitor replaces the process
        for fut in futures:
            fut.cancel()
        self._wake()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            queued = [item[0] for item in self._queue]
            self._queue.clear()
            for slot in self._slots:
                if slot.proc is not None:
                    slot.proc.kill()
                    slot.proc.join(5)
                if slot.fut is not None:
                    queued.append(slot.fut)
                slot.proc = slot.conn = slot.fut = None
        for fut in queued:
            fut.cancel()
        self._wake()

    # ----- the monitor thread ------------------------------------------------------------------------
    def _wake(self) -> None:
        try:
            self._wake_w.send(b"")
        except OSError:
            pass

    def _spawn(self, slot: _Slot) -> None:
        parent_conn, child_conn = self._ctx.Pipe()
        proc = self._ctx.Process(target=_child_main, args=(child_conn, os.getpid()), daemon=True,
                                 name="automcu-eval")
        proc.start()
        child_conn.close()
        slot.proc, slot.conn = proc, parent_conn

    def _assign(self) -> None:
        for slot in self._slots:
            while slot.fut is None and self._queue:
                fut, spec_json, request_json = self._queue.popleft()
                if fut.done():  # cancelled while queued
                    continue
                if not slot.alive:
                    self._spawn(slot)
                slot.fut = fut
                slot.conn.send((spec_json, request_json))

    def _settle(self, slot: _Slot) -> None:
        """The slot's process answered or died: resolve its future, free (or reset) the slot."""
        fut = slot.fut
        message: tuple[str, str] | None = None
        try:
            if slot.conn.poll():
                message = slot.conn.recv()
        except (EOFError, OSError):
            message = None
        if message is None:
            if slot.alive:
                return  # spurious wake-up
            code = slot.proc.exitcode
            slot.proc.join(1)
            pid = slot.proc.pid
            slot.proc = slot.conn = None
            slot.fut = None
            if fut is not None and not fut.done():
                fut.set_exception(EvaluationLost(f"evaluation process {pid} died (exit code {code})"))
            return
        slot.fut = None
        if fut is None or fut.done():
            return
        kind, payload = message
        if kind == "ok":
            fut.set_result(EvaluationResult.model_validate_json(payload))
        else:
            fut.set_exception(EvaluationFailed(payload))

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                self._assign()
                busy = [s for s in self._slots if s.fut is not None]
                waitables: list[Any] = [self._wake_r]
                for s in busy:
                    waitables += [s.conn, s.proc.sentinel]
            ready = mpc.wait(waitables, timeout=1.0)
            with self._lock:
                if self._closed:
                    return
                if self._wake_r in ready:
                    while self._wake_r.poll():
                        self._wake_r.recv_bytes()
                for s in busy:
                    if s.conn is not None and (s.conn in ready or s.proc.sentinel in ready or not s.alive):
                        self._settle(s)
