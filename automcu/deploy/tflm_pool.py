"""TFLite Micro outputs of many samples, the samples split over worker processes.

TFLM's reference kernels run one sample at a time on one core (tens of milliseconds per image for a 64 KB
network), so measuring accuracy on a 10,000-image test set, or on the sensitivity images of every candidate of
a ``--precision mixed`` choice, is CPU-bound. The samples are cut into contiguous chunks and each chunk runs in
its own process, in the same interpreter with the same arena as in-process: the outputs are the same numbers
whatever the worker count (``tests/test_tflm_pool.py``). Safe to call from several threads: each in-process
call has its own interpreter, and a worker runs one chunk at a time.

Workers: the caller's ``workers``, else ``AUTOMCU_TFLM_WORKERS``, else this machine's CPUs; a run too small to
give each worker ``MIN_CHUNK`` samples uses fewer (one: in-process, no pool). The pool is spawned on first use
with that call's worker count and reused by later calls in the same process (a spawned worker imports the main
module's top-level imports and ``tflite_micro``; this module imports no torch). A worker keeps the last models
it loaded, so a chunk of a model it holds does not load it again.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from itertools import pairwise
from multiprocessing import get_context

import numpy as np

from automcu.core.orphans import exit_with_parent
from automcu.deploy.tflm import ModelError, TFLMModel

MIN_CHUNK = 64  # fewest samples worth a chunk of their own (a worker's start costs ~0.5 s)
CHUNKS_PER_WORKER = 4  # progress granularity, and slack when one chunk's process runs slower
_MODELS_KEPT = 2

_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()
_loaded: OrderedDict[str, TFLMModel] = OrderedDict()  # in a worker (one task at a time): its models, by digest


def default_workers() -> int:
    """``AUTOMCU_TFLM_WORKERS`` when set, else this machine's CPUs."""
    from automcu.core.config import get_settings

    return get_settings().tflm_workers or os.cpu_count() or 1


def plan_chunks(n: int, workers: int) -> list[tuple[int, int]]:
    """Contiguous ``[start, stop)`` ranges covering ``n`` samples: one range when a pool would not pay, else
    up to ``CHUNKS_PER_WORKER`` per worker, none smaller than ``MIN_CHUNK`` (bar the rounding)."""
    if workers <= 1 or n < 2 * MIN_CHUNK:
        return [(0, n)] if n else []
    count = max(1, min(workers * CHUNKS_PER_WORKER, n // MIN_CHUNK))
    bounds = np.linspace(0, n, count + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in pairwise(bounds) if b > a]


def _predict(model: TFLMModel, x_nhwc: np.ndarray) -> np.ndarray:
    """The model's ``predict_many``, one flat output row per sample."""
    return model.predict_many(x_nhwc).reshape(len(x_nhwc), -1)


def _worker_outputs(data: bytes, digest: str, x_nhwc: np.ndarray) -> np.ndarray:
    """One chunk, in a worker: the dequantized output of every sample, on the worker's copy of the model."""
    model = _loaded.get(digest)
    if model is None:
        model = _loaded[digest] = TFLMModel(data)
        while len(_loaded) > _MODELS_KEPT:
            _loaded.popitem(last=False)
    _loaded.move_to_end(digest)
    return _predict(model, x_nhwc)


def _executor(workers: int) -> ProcessPoolExecutor:
    """The process's pool, started with ``workers`` processes if none runs (a running one is kept whatever its
    size: another thread may be using it)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                                        initializer=exit_with_parent, initargs=(os.getpid(),))
        return _pool


def _stop(kill: bool = False) -> None:
    global _pool
    if _pool is not None:
        if kill:  # a chunk runs for seconds: end the workers now rather than when their chunks are done
            procs = getattr(_pool, "_processes", None) or {}
            for proc in list(procs.values()):
                proc.terminate()
        _pool.shutdown(wait=True, cancel_futures=True)
    _pool = None


def shutdown() -> None:
    """Stop this process's worker pool (a later call starts a new one)."""
    with _pool_lock:
        _stop()


def tflm_outputs(tflite: bytes, x_nhwc: np.ndarray, workers: int | None = None,
                 on_done: Callable[[int], None] | None = None) -> np.ndarray:
    """Dequantized TFLM output of every float NHWC sample, ``(n, outputs)``; ``on_done(k)`` after each chunk
    with the samples finished so far. A model TFLM cannot load raises :class:`ModelError` here as in-process."""
    x = np.ascontiguousarray(x_nhwc, dtype=np.float32)
    digest = hashlib.sha1(tflite).hexdigest()
    n_workers = workers if workers is not None else default_workers()
    chunks = plan_chunks(len(x), n_workers)
    if not chunks:
        raise ModelError("no samples to run")
    model = TFLMModel(tflite)  # a model TFLM cannot load is refused here, before any worker starts
    if len(chunks) == 1:  # in-process (this call's own interpreter), progress every MIN_CHUNK samples
        parts = []
        for a in range(0, len(x), MIN_CHUNK):
            parts.append(_predict(model, x[a:a + MIN_CHUNK]))
            if on_done is not None:
                on_done(a + len(parts[-1]))
        return np.concatenate(parts)
    pool = _executor(n_workers)
    pending: dict[Future[np.ndarray], int] = {}
    try:
        for i, (a, b) in enumerate(chunks):
            pending[pool.submit(_worker_outputs, tflite, digest, x[a:b])] = i
        done_parts: dict[int, np.ndarray] = {}
        finished = 0
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                i = pending.pop(fut)
                done_parts[i] = fut.result()
                finished += chunks[i][1] - chunks[i][0]
            if on_done is not None:
                on_done(finished)
    except BrokenProcessPool as exc:
        shutdown()
        raise ModelError(f"a TFLM worker process died: {exc}") from exc
    except KeyboardInterrupt:  # Ctrl-C: the workers ignore it (exit_with_parent); stop them with the run
        with _pool_lock:
            _stop(kill=True)
        raise
    except BaseException:
        for fut in pending:
            fut.cancel()
        raise
    return np.concatenate([done_parts[i] for i in range(len(chunks))])
