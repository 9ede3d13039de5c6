"""Executors: in-process, process pool and Ray give the lookup's answers; lost work is retried, cancel stops it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import CancelledError
from pathlib import Path
from typing import Any

import pytest
from ray_head import RayHead, ray_head, task_pids  # noqa: F401  (session fixture)

from agents.messages import EvaluationRequest
from automcu.core.config import ExecutorSettings
from automcu.executors import EvaluationFailed, EvaluationLost, Item, lookup_spec, run_evaluations
from automcu.executors.inprocess import InProcessExecutor
from automcu.executors.process_pool import LocalProcessExecutor
from search_spaces.nb201.index import arch_of_index

ROOT = Path(__file__).resolve().parents[1]
ARCHS = [arch_of_index(i).to_string() for i in (1, 77, 4321, 15000)]
SLOW = lookup_spec("table", time_scale=2e-3)  # ~2000 s of benchmark training → ~4 s of sleep


def _req(arch: str) -> EvaluationRequest:
    return EvaluationRequest(arch=arch, dataset="cifar10")


def _expected() -> dict[str, float]:
    ex = InProcessExecutor()
    return {a: ex.submit(lookup_spec(), _req(a)).result().val_acc for a in ARCHS}


def _wait(pred: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (killed, not yet reaped) is not running; the process may also go while /proc is read
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]
    except (FileNotFoundError, ProcessLookupError):
        return False


def _run_all(executor: Any, spec: Any = None, **kw: Any) -> tuple[dict[str, float], dict[str, str], list[str]]:
    results: dict[str, float] = {}
    failures: dict[str, str] = {}
    lost: list[str] = []
    attempts: dict[Any, int] = {}

    def begin(key: Any) -> int:
        attempts[key] = attempts.get(key, 0) + 1
        return attempts[key]

    outcome = run_evaluations(
        executor, spec or lookup_spec(), [Item(a, _req(a)) for a in kw.pop("archs", ARCHS)], begin_attempt=begin,
        on_result=lambda item, r: results.__setitem__(item.key, r.val_acc),
        on_failure=lambda item, e: failures.__setitem__(item.key, e),
        on_lost=lambda item, _n, _why: lost.append(item.key), poll_seconds=0.1, **kw)
    assert outcome == "done"
    return results, failures, lost


def test_settings_pick_the_executor(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ExecutorSettings().resolved_kind == "inprocess"
    monkeypatch.setenv("AUTOMCU_RAY_ADDRESS", "ray://head:10001")
    assert ExecutorSettings().resolved_kind == "ray"
    monkeypatch.setenv("AUTOMCU_EXECUTOR", "process")
    assert ExecutorSettings().resolved_kind == "process"


def test_inprocess_and_pool_agree_and_report_evaluator_errors() -> None:
    expected = _expected()
    assert _run_all(InProcessExecutor()) == (expected, {}, [])
    pool = LocalProcessExecutor(2)
    try:
        results, failures, lost = _run_all(pool, archs=[*ARCHS, "|not_an_op~0|"])
        assert results == expected and lost == []
        assert list(failures) == ["|not_an_op~0|"] and "malformed" in failures["|not_an_op~0|"]
        assert len({p for p in pool.pids if p}) == 2  # both processes took work
    finally:
        pool.close()


def test_pool_process_killed_mid_evaluation_is_lost_then_retried() -> None:
    pool = LocalProcessExecutor(1)
    killed: list[int] = []

    def kill_first_runner() -> None:
        _wait(lambda: pool.pids[0] is not None and bool(pool._slots[0].fut))
        pid = pool.pids[0]
        assert pid is not None
        time.sleep(0.3)
        os.kill(pid, 9)
        killed.append(pid)

    killer = threading.Thread(target=kill_first_runner)
    killer.start()
    try:
        results, failures, lost = _run_all(pool, lookup_spec("table", time_scale=5e-4), archs=ARCHS[:1])
    finally:
        killer.join()
        pool.close()
    assert killed and lost == [ARCHS[0]] and failures == {}
    assert results == {ARCHS[0]: _expected()[ARCHS[0]]}  # evaluated once more, by the replacement process


def test_lost_too_often_is_a_failure_not_an_endless_retry() -> None:
    pool = LocalProcessExecutor(1)
    stop = threading.Event()

    def keep_killing() -> None:
        while not stop.is_set():
            pid = pool.pids[0]
            if pid is not None and pool._slots[0].fut is not None and _alive(pid):
                time.sleep(0.2)
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)

    killer = threading.Thread(target=keep_killing)
    killer.start()
    try:
        results, failures, lost = _run_all(pool, SLOW, archs=ARCHS[:1], max_attempts=2)
    finally:
        stop.set()
        killer.join()
        pool.close()
    assert results == {} and lost == [ARCHS[0]] * 2
    assert "lost 2 times" in failures[ARCHS[0]]


def test_pool_cancel_kills_the_running_evaluation() -> None:
    pool = LocalProcessExecutor(1)
    try:
        fut = pool.submit(SLOW, _req(ARCHS[0]))
        queued = pool.submit(SLOW, _req(ARCHS[1]))
        _wait(lambda: pool.running_pid(fut) is not None)
        pid = pool.running_pid(fut)
        assert pid is not None
        pool.cancel([fut, queued])
        with pytest.raises(CancelledError):
            fut.result(5)
        assert queued.cancelled()
        _wait(lambda: not _alive(pid), 10)
        assert pool.submit(lookup_spec(), _req(ARCHS[2])).result(60).val_acc == _expected()[ARCHS[2]]
    finally:
        pool.close()


def test_pool_processes_exit_when_their_parent_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(
        "import sys, time\n"
        "from automcu.executors import lookup_spec\n"
        "from automcu.executors.process_pool import LocalProcessExecutor\n"
        "from agents.messages import EvaluationRequest\n"
        "if __name__ == '__main__':\n"
        "    pool = LocalProcessExecutor(1)\n"
        f"    fut = pool.submit(lookup_spec('table', 2e-3), EvaluationRequest(arch={ARCHS[0]!r}, dataset='cifar10'))\n"
        "    while pool.running_pid(fut) is None: time.sleep(0.05)\n"
        "    print(pool.running_pid(fut), flush=True)\n"
        "    time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, cwd=ROOT)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert _alive(child)
    parent.kill()
    parent.wait()
    _wait(lambda: not _alive(child), 10)  # the orphan exits instead of finishing its evaluation


def test_ray_executor_evaluates_reports_errors_and_cancels(ray_head: RayHead) -> None:  # noqa: F811
    from automcu.executors.ray_executor import RayExecutor

    ex = RayExecutor(ray_head.address, task_retries=0)
    assert ex.parallelism == 2
    results, failures, lost = _run_all(ex, archs=[*ARCHS, "|not_an_op~0|"])
    assert results == _expected() and lost == [] and "malformed" in failures["|not_an_op~0|"]
    fut = ex.submit(SLOW, _req(ARCHS[0]))
    _wait(lambda: len(task_pids()) == 1)
    pid = task_pids()[0]
    ex.cancel([fut])
    with pytest.raises(CancelledError):
        fut.result(10)
    _wait(lambda: not _alive(pid), 20)  # force-cancel killed the worker running it


def test_ray_worker_killed_mid_task_is_retried_by_ray_or_reported_lost(ray_head: RayHead) -> None:  # noqa: F811
    from automcu.executors.ray_executor import RayExecutor

    retrying = RayExecutor(ray_head.address, task_retries=2)
    fut = retrying.submit(lookup_spec("table", 5e-4), _req(ARCHS[1]))
    _wait(lambda: len(task_pids()) == 1)
    os.kill(task_pids()[0], 9)
    assert fut.result(60).val_acc == _expected()[ARCHS[1]]  # Ray re-ran it on a new worker

    no_retry = RayExecutor(ray_head.address, task_retries=0)
    fut = no_retry.submit(SLOW, _req(ARCHS[2]))
    _wait(lambda: len(task_pids()) == 1)
    os.kill(task_pids()[0], 9)
    with pytest.raises(EvaluationLost):
        fut.result(60)
    with pytest.raises(EvaluationFailed):
        no_retry.submit(lookup_spec(), _req("|bad|")).result(60)


def test_cancelling_a_job_cancels_its_running_evaluations(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from automcu.core.config import get_settings
    from automcu.engine.planner import run_job
    from automcu.executors.factory import close_shared, shared_executor
    from automcu.jobs.spec import JobSpec
    from automcu.storage.db import open_database
    from automcu.storage.repository import candidates_of, create_job, events_of, get_job, request_cancel

    monkeypatch.setenv("AUTOMCU_EXECUTOR", "process")
    monkeypatch.setenv("AUTOMCU_EXECUTOR_WORKERS", "2")
    monkeypatch.setenv("AUTOMCU_SIMULATED_TIME_SCALE", "5e-3")  # each evaluation sleeps ~10 s
    get_settings.cache_clear()
    db = open_database(db_url)
    job_id = create_job(db, JobSpec(dataset="cifar10", budget=6, proposer="random", batch_size=2), None).id
    runner = threading.Thread(target=run_job, args=(db, job_id))
    runner.start()
    try:
        pool = shared_executor()
        _wait(lambda: sum(p is not None for p in pool.pids) == 2 and all(s.fut for s in pool._slots))  # type: ignore[attr-defined]
        busy = [p for p in pool.pids if p]  # type: ignore[attr-defined]
        request_cancel(db, job_id)
        runner.join(20)
        assert not runner.is_alive()
        assert get_job(db, job_id).status == "cancelled"
        assert not candidates_of(db, job_id, "evaluated")
        cancelled = [e for e in events_of(db, job_id) if e.kind == "evaluations_cancelled"]
        assert len(cancelled) == 1 and len(cancelled[0].payload["archs"]) == 2
        for pid in busy:
            _wait(lambda pid=pid: not _alive(pid), 10)  # the processes running them were killed
    finally:
        close_shared()
        get_settings.cache_clear()
