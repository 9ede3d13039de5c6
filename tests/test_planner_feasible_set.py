"""The planner never gives up while unevaluated feasible archs remain, and never succeeds without a winner."""

from __future__ import annotations

from agents.feasibility import feasible_set
from automcu.engine.planner import run_job
from automcu.jobs.spec import JobSpec
from automcu.storage.db import open_database
from automcu.storage.repository import candidates_of, create_job, events_of


def _run(db_url: str, **spec: object) -> tuple[object, list[object], list[object]]:
    db = open_database(db_url)
    js = JobSpec(dataset="cifar10", board="STM32F411", **spec)  # type: ignore[arg-type]
    job = create_job(db, js, js.resolve_hardware())
    final = run_job(db, job.id)
    return final, candidates_of(db, job.id), events_of(db, job.id)


def test_tight_limit_spends_the_whole_budget_with_random(db_url: str) -> None:
    # 1,487 of 15,625 archs fit: random sampling keeps hitting infeasible ones and runs dry
    final, cands, _ = _run(db_url, max_latency_ms=196.858, budget=30, proposer="random", seed=1)
    assert final.status == "succeeded", final.stop_reason  # type: ignore[attr-defined]
    assert sum(c.status == "evaluated" for c in cands) == 30  # type: ignore[attr-defined]
    assert not any(c.status == "evaluated" and c.violations for c in cands)  # type: ignore[attr-defined]


def test_no_feasible_arch_fails_before_any_evaluation(db_url: str) -> None:
    final, cands, _ = _run(db_url, max_latency_ms=0.0001, budget=5, proposer="random")
    assert final.status == "failed"  # type: ignore[attr-defined]
    assert "0 of 15,625 feasible" in (final.stop_reason or "")  # type: ignore[attr-defined]
    assert cands == []


def test_exhausted_is_said_only_when_true(db_url: str) -> None:
    # a limit where only a handful fit: the budget is larger than the feasible set
    from automcu.hardware.spec import HardwareSpec

    js = JobSpec(dataset="cifar10", board="STM32F411", max_latency_ms=0.05, budget=400, proposer="random", seed=0)
    hardware: HardwareSpec | None = js.resolve_hardware()
    n_feasible = len(feasible_set("cifar10", hardware, 0.05))
    assert 0 < n_feasible < 400
    final, cands, events = _run(db_url, max_latency_ms=0.05, budget=400, proposer="random", seed=0)
    evaluated = {c.index for c in cands if c.status == "evaluated"}  # type: ignore[attr-defined]
    assert final.status == "succeeded"  # type: ignore[attr-defined]
    assert len(evaluated) == n_feasible  # every feasible arch was evaluated before "exhausted" was said
    assert "exhausted" in (final.stop_reason or "")  # type: ignore[attr-defined]
    assert any(e.kind == "proposer_ran_dry" for e in events)  # type: ignore[attr-defined]
