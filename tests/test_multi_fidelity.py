"""Multi-fidelity (asha) real-data searches (issue 16): the rung ladder, Optuna's pruner deciding per rung,
every rung stored on the candidate, pruned candidates never the winner, resume without retraining, refusals."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from automcu.cli.app import app
from automcu.core.fidelity import Rung, rung_schedule
from automcu.jobs.spec import JobSpec
from automcu.storage.db import open_database

pytest.importorskip("torch")
pytest.importorskip("optuna")

runner = CliRunner()
API = "/api/v1"


def test_rung_ladder() -> None:
    assert rung_schedule(10) == [Rung(0, 1, 0.25), Rung(1, 3, 1.0), Rung(2, 10, 1.0)]
    rungs = rung_schedule(9, 1, 3, 1 / 9)
    assert [(r.epochs, r.data_fraction) for r in rungs] == [(1, pytest.approx(1 / 9, abs=1e-6)),
                                                            (3, pytest.approx(1 / 3, abs=1e-6)), (9, 1.0)]
    assert all(a.epochs <= b.epochs and a.data_fraction <= b.data_fraction for a, b in itertools.pairwise(rungs))
    with pytest.raises(ValueError, match="nothing to screen"):
        rung_schedule(1, 1, 3, 1.0)
    assert [(r.epochs, r.data_fraction) for r in rung_schedule(9, 1, 3, 0.34)] == [(1, 0.34), (3, 1.0), (9, 1.0)]
    assert [r.epochs for r in rung_schedule(20, 1, 3, 0.1)] == [1, 3, 9, 20]
    with pytest.raises(ValueError, match="reduction_factor"):
        rung_schedule(10, 1, 1)
    with pytest.raises(ValueError, match="min_epochs"):
        rung_schedule(3, 5)


def test_spec_refuses_what_asha_cannot_do() -> None:
    with pytest.raises(ValueError, match="lookup"):
        JobSpec(dataset="cifar10", fidelity="asha")
    with pytest.raises(ValueError, match="fidelity asha"):
        JobSpec(dataset="digits", min_epochs=2)
    spec = JobSpec(dataset="digits", fidelity="asha", epochs=3)
    assert (spec.min_epochs, spec.reduction_factor, spec.min_data_fraction) == (1, 3, 0.25)


@pytest.mark.parametrize(("args", "words"), [
    (["--dataset", "cifar10", "--fidelity", "asha"], "lookup"),
    (["--dataset", "digits", "--min-epochs", "2"], "fidelity asha"),
    (["--dataset", "digits", "--fidelity", "asha", "--epochs", "1", "--min-data-fraction", "1"], "nothing to screen"),
])
def test_cli_refuses_before_storing(tmp_path: Path, args: list[str], words: str) -> None:
    db = tmp_path / "x.db"
    res = runner.invoke(app, ["search", *args, "--budget", "2", "--db", f"sqlite:///{db}"])
    assert res.exit_code == 2 and words in res.output and "Traceback" not in res.output, res.output
    assert not db.exists() or sqlite3.connect(db).execute("select count(*) from jobs").fetchone()[0] == 0


def _asha_job(db_url: str, budget: int = 8) -> tuple[Any, str]:
    from automcu.storage.repository import create_job

    spec = JobSpec(dataset="digits", proposer="random", budget=budget, epochs=3, seed=3, fidelity="asha",
                   min_epochs=1, reduction_factor=2, min_data_fraction=0.5, board="STM32F411")
    db = open_database(db_url)
    return db, create_job(db, spec, spec.resolve_hardware()).id


RUNG_EVENTS = ("rung_promoted", "pruned", "evaluated")


def _killed_after(n: int) -> Any:
    """A progress callback that kills the run (KeyboardInterrupt) at the ``n``-th stored rung result."""
    seen = {"n": 0}

    def progress(kind: str, data: dict[str, Any]) -> None:
        if kind in RUNG_EVENTS:
            seen["n"] += 1
            if seen["n"] == n:
                raise KeyboardInterrupt

    return progress


def _trained_into(out: list[tuple[str, int | None]]) -> Any:
    """A progress callback that lists each rung result as (arch, rung)."""
    return lambda kind, data: out.append((data["arch"], data.get("rung"))) if kind in RUNG_EVENTS else None


def _rungs(db: Any, job_id: str) -> list[tuple[str, str, list[tuple[int, int, float, str]]]]:
    from automcu.storage.repository import candidates_of

    out = []
    for c in sorted(candidates_of(db, job_id), key=lambda c: c.id):
        if c.rungs:
            out.append((c.arch, c.status, [(e["rung"], e["epochs"], e["val_acc"], e["decision"]) for e in c.rungs]))
    return out


def test_asha_search_stores_rungs_and_never_crowns_a_pruned_candidate(tmp_path: Path) -> None:
    from automcu.engine.planner import run_job
    from automcu.storage.repository import candidates_of, get_job

    db, job_id = _asha_job(f"sqlite:///{tmp_path / 'a.db'}")
    job = run_job(db, job_id)
    assert job.status == "succeeded"
    cands = [c for c in candidates_of(db, job_id) if c.rungs]
    top = len(rung_schedule(3, 1, 2, 0.5)) - 1
    pruned = [c for c in cands if c.status == "pruned"]
    done = [c for c in cands if c.status == "evaluated"]
    assert pruned and done and len(pruned) + len(done) == 8
    for c in pruned:  # stopped below the top rung, its last decision the pruner's
        assert c.rung < top and c.rungs[-1]["decision"] == "pruned"
    for c in done:  # trained on every rung in order, the top one on all the images for the job's epochs
        assert [e["rung"] for e in c.rungs] == list(range(top + 1)) and c.rungs[-1]["epochs"] == 3
        assert c.rungs[-1]["data_fraction"] == 1.0 and c.rungs[0]["data_fraction"] == 0.5
        assert c.val_acc == c.rungs[-1]["val_acc"]
    seqs = sorted(e["seq"] for c in cands for e in c.rungs)
    assert seqs == list(range(1, len(seqs) + 1))
    best = max(done, key=lambda c: c.val_acc)
    from automcu.storage.summaries import job_summary

    summary = job_summary(get_job(db, job_id), candidates_of(db, job_id))
    assert summary["best"]["arch"] == best.arch and summary["best"]["top_rung"] is True
    assert summary["n_pruned"] == len(pruned) and summary["n_evaluated"] == 8


def test_an_interrupted_asha_job_resumes_without_retraining(tmp_path: Path) -> None:
    """Killed after the fourth rung result, resumed: stored rungs are not trained again (the evaluator is not
    called for them) and the job ends with exactly the rungs and decisions of an uninterrupted run."""
    from automcu.engine.planner import Planner, run_job
    from automcu.storage.repository import get_job

    db, whole = _asha_job(f"sqlite:///{tmp_path / 'whole.db'}", budget=6)
    run_job(db, whole)

    db2, cut = _asha_job(f"sqlite:///{tmp_path / 'cut.db'}", budget=6)
    with pytest.raises(KeyboardInterrupt):
        Planner(db2, cut, progress=_killed_after(4)).run()
    before = _rungs(db2, cut)
    assert sum(len(r) for _, _, r in before) == 4
    trained: list[tuple[str, int | None]] = []
    assert run_job(db2, cut, progress=_trained_into(trained), allow_failed=True).status == "succeeded"
    stored_before = {(a, e[0]) for a, _, rs in before for e in rs}
    assert not stored_before & set(trained)  # nothing stored was trained again
    assert _rungs(db2, cut) == _rungs(db, whole)
    assert get_job(db2, cut).status == "succeeded"


def test_rest_round_trip(alice_api: tuple[Any, dict[str, str]]) -> None:
    client, h = alice_api
    for body, words in (({"dataset": "cifar10", "fidelity": "asha"}, "lookup"),
                        ({"dataset": "digits", "reduction_factor": 2}, "fidelity asha"),
                        ({"dataset": "digits", "fidelity": "hyperband"}, "asha")):
        r = client.post(f"{API}/jobs", json=body, headers=h)
        assert r.status_code == 422 and words in r.text, (body, r.text)
    assert client.get(f"{API}/jobs", headers=h).json()["total"] == 0  # nothing stored
    ok = client.post(f"{API}/jobs", json={"dataset": "digits", "fidelity": "asha", "epochs": 3, "budget": 2,
                                          "reduction_factor": 2}, headers=h)
    assert ok.status_code in (200, 201, 202), ok.text
    body = client.get(f"{API}/jobs/{ok.json()['id']}", headers=h).json()
    assert body["fidelity"] == "asha" and body["asha"]["reduction_factor"] == 2
    assert [(r["epochs"], r["data_fraction"]) for r in body["asha"]["rungs"]] == [(1, 0.25), (2, 0.5), (3, 1.0)]


def test_rungs_run_through_the_process_pool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a one-worker process pool configured, rungs are trained in the worker, with the same rungs and
    decisions as in-process."""
    from automcu.core.config import get_settings
    from automcu.engine.planner import run_job

    db, local = _asha_job(f"sqlite:///{tmp_path / 'local.db'}", budget=4)
    run_job(db, local)
    monkeypatch.setenv("AUTOMCU_EXECUTOR", "process")
    monkeypatch.setenv("AUTOMCU_EXECUTOR_WORKERS", "1")
    get_settings.cache_clear()
    try:
        db2, pooled = _asha_job(f"sqlite:///{tmp_path / 'pool.db'}", budget=4)
        assert run_job(db2, pooled).status == "succeeded"
    finally:
        from automcu.executors.factory import close_shared

        close_shared()
        get_settings.cache_clear()

    def shape(rows: list[Any]) -> list[Any]:
        return [(a, s, [(r, e, d) for r, e, _, d in rs]) for a, s, rs in rows]

    assert shape(_rungs(db2, pooled)) == shape(_rungs(db, local))


def test_two_workers_never_wait_for_each_other(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Asynchronous successive halving on a two-worker pool: whenever a worker finishes, a promoted candidate's
    next rung or a newly proposed candidate starts at once (no worker waits for the other's batch); the budget is
    spent exactly, every candidate's rungs are in ladder order, and a job killed mid-run resumes without training
    a stored rung again."""
    from automcu.core.config import get_settings
    from automcu.engine.planner import Planner, run_job
    from automcu.executors.factory import close_shared
    from automcu.storage.repository import candidates_of

    monkeypatch.setenv("AUTOMCU_EXECUTOR", "process")
    monkeypatch.setenv("AUTOMCU_EXECUTOR_WORKERS", "2")
    get_settings.cache_clear()
    events: list[tuple[str, int | None]] = []
    try:
        db, job_id = _asha_job(f"sqlite:///{tmp_path / 'two.db'}", budget=6)
        assert run_job(db, job_id, progress=_trained_into(events)).status == "succeeded"
        cands = [c for c in candidates_of(db, job_id) if c.rungs]
        assert sum(c.status in ("evaluated", "pruned") for c in cands) == 6  # the budget, exactly
        assert not [c for c in candidates_of(db, job_id) if c.status == "proposed"]  # nothing left open
        for c in cands:
            assert [e["rung"] for e in c.rungs] == list(range(len(c.rungs)))
        steps = sorted({c.step for c in cands})
        # asynchronous: a candidate proposed while an earlier one was still being trained finished a rung before
        # that earlier one finished its last (a batch-synchronous loop only proposes once all are done)
        last_result = {c.arch: max(i for i, (a, _) in enumerate(events) if a == c.arch) for c in cands}
        first_result = {c.arch: min(i for i, (a, _) in enumerate(events) if a == c.arch) for c in cands}
        by_step = sorted(cands, key=lambda c: c.step)
        assert any(first_result[b.arch] < last_result[a.arch] for a in by_step for b in by_step if b.step > a.step), (
            steps, events)

        db2, cut = _asha_job(f"sqlite:///{tmp_path / 'cut.db'}", budget=6)
        with pytest.raises(KeyboardInterrupt):
            Planner(db2, cut, progress=_killed_after(3)).run()
        stored = {(a, e[0]) for a, _, rs in _rungs(db2, cut) for e in rs}
        assert len(stored) == 3
        again: list[tuple[str, int | None]] = []
        assert run_job(db2, cut, progress=_trained_into(again), allow_failed=True).status == "succeeded"
        assert not stored & set(again)
        assert sum(c.status in ("evaluated", "pruned") for c in candidates_of(db2, cut)) == 6
    finally:
        close_shared()
        get_settings.cache_clear()
