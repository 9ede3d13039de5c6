"""Job reads: SQL counts and best (no candidate loading), the finished-job cache and its invalidation, the index,
and the job body's cross-field rules stated in the OpenAPI schema (agreeing with what the server enforces)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text, update

from api.core.security import create_token
from api.main import create_app
from api.openapi_rules import dataset_pattern
from automcu.core.config import Settings
from automcu.engine.worker import Worker
from automcu.jobs.spec import JobSpec
from automcu.storage import reads
from automcu.storage.db import Database, open_database
from automcu.storage.models import Candidate, Job, utcnow
from automcu.storage.repository import candidates_of, create_job, get_job, job_summary, record_artifacts

API = "/api/v1"
ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


class Ctx:
    def __init__(self, client: TestClient, db: Database, tokens: dict[str, str]) -> None:
        self.client, self.db, self.tokens = client, db, tokens

    def get(self, path: str, who: str = "alice") -> Any:
        r = self.client.get(API + path, headers={"Authorization": f"Bearer {self.tokens[who]}"})
        return r

    def job(self, job_id: str, who: str = "alice") -> dict[str, Any]:
        r = self.get(f"/jobs/{job_id}", who)
        assert r.status_code == 200, r.text
        return dict(r.json())


@pytest.fixture
def ctx(db_url: str, tmp_path: Any) -> Iterator[Ctx]:
    db = open_database(db_url)
    tokens = {name: create_token(db, name, admin=(name == "root")) for name in ("alice", "bob", "root")}
    with TestClient(create_app(Settings(db_url=db_url, data_dir=tmp_path))) as client:
        yield Ctx(client, db, tokens)


def _job(db: Database, owner: str = "alice", **spec: Any) -> str:
    return create_job(db, JobSpec(**{"dataset": "cifar10", "budget": 10, **spec}), None, owner=owner).id


def _cand(db: Database, job_id: str, n: int, status: str, val_acc: float | None = None, order: int | None = None,
          train_seconds: float | None = None) -> None:
    with db.transaction() as s:
        s.add(Candidate(job_id=job_id, arch=f"|a{n}|", index=n, iso_key=f"k{n}", status=status, step=n,
                        proposer="random", eval_order=order, val_acc=val_acc, test_acc=val_acc,
                        train_seconds=train_seconds, flash_bytes=1000 + n))


def _set(db: Database, job_id: str, **values: Any) -> None:
    with db.transaction() as s:
        s.execute(update(Job).where(Job.id == job_id).values(**values))


def test_a_read_agrees_with_the_summary_computed_from_every_candidate(ctx: Ctx) -> None:
    job_id = _job(ctx.db, budget=8)
    Worker(ctx.db, poll_seconds=0.05).run(exit_when_idle=True)
    expected = job_summary(get_job(ctx.db, job_id), candidates_of(ctx.db, job_id))
    got = ctx.job(job_id)
    assert {k: got["best"][k] for k in expected["best"]} == expected["best"]
    assert {k: v for k, v in got["best"].items() if k not in expected["best"]} in ({}, {"rung": None, "top_rung": None})
    for key in ("status", "n_proposed", "n_infeasible", "n_evaluated", "simulated_train_seconds",
                "wall_seconds"):
        assert got[key] == expected[key], key
    [listed] = [j for j in ctx.get("/jobs").json()["items"] if j["id"] == job_id]
    assert {k: listed[k] for k in ("n_proposed", "n_infeasible", "n_evaluated")} == \
        {k: expected[k] for k in ("n_proposed", "n_infeasible", "n_evaluated")}


def test_best_is_the_highest_val_acc_and_the_first_evaluated_among_equals(ctx: Ctx) -> None:
    job_id = _job(ctx.db)
    _cand(ctx.db, job_id, 1, "evaluated", 80.0, order=3, train_seconds=1.5)
    _cand(ctx.db, job_id, 2, "evaluated", 90.0, order=2, train_seconds=2.0)
    _cand(ctx.db, job_id, 3, "evaluated", 90.0, order=1, train_seconds=0.5)  # same accuracy, evaluated first
    _cand(ctx.db, job_id, 4, "infeasible")
    _cand(ctx.db, job_id, 5, "failed", 99.0)  # a failed evaluation is never the best
    _cand(ctx.db, job_id, 6, "evaluated", None, order=4)  # evaluated without an accuracy: counted, not best
    got = ctx.job(job_id)
    assert got["best"]["arch"] == "|a3|" and got["best"]["val_acc"] == 90.0 and got["best"]["flash_bytes"] == 1003
    assert (got["n_proposed"], got["n_infeasible"], got["n_evaluated"]) == (6, 1, 4)
    assert got["simulated_train_seconds"] == 4.0


def test_a_job_without_candidates_reads_with_zero_counts_and_no_best(ctx: Ctx) -> None:
    got = ctx.job(_job(ctx.db))
    assert got["best"] is None and (got["n_proposed"], got["n_evaluated"], got["simulated_train_seconds"]) == (0, 0, 0)


def test_a_finished_job_is_served_from_the_cache_and_a_resumed_one_is_read_again(ctx: Ctx) -> None:
    cache = ctx.client.app.state.job_cache  # type: ignore[attr-defined]
    job_id = _job(ctx.db)
    _cand(ctx.db, job_id, 1, "evaluated", 70.0, order=1)
    ctx.job(job_id)
    assert len(cache) == 0  # queued: never cached
    finished = utcnow()
    _set(ctx.db, job_id, status="failed", finished_at=finished, error="worker died")
    first = ctx.job(job_id)
    assert first["status"] == "failed" and len(cache) == 1
    assert ctx.job(job_id) == first

    # resumed from failed: running again, a better candidate, then failed again later
    _set(ctx.db, job_id, status="running", heartbeat_at=utcnow(), error=None)
    assert ctx.job(job_id)["status"] == "running"
    _cand(ctx.db, job_id, 2, "evaluated", 95.0, order=2)
    _set(ctx.db, job_id, status="failed", finished_at=finished + timedelta(seconds=5), error="died again")
    again = ctx.job(job_id)
    assert again["best"]["val_acc"] == 95.0 and again["n_evaluated"] == 2 and again["error"] == "died again"

    # a row change that keeps the status (artifacts recorded by the hand-off) is seen too
    record_artifacts(ctx.db, job_id, {"model": "/nowhere/m.tflite"}, {})
    assert [a["name"] for a in ctx.job(job_id)["artifacts"]] == ["model"]


def test_a_cached_job_is_still_not_found_for_another_owner(ctx: Ctx) -> None:
    job_id = _job(ctx.db)
    _set(ctx.db, job_id, status="succeeded", finished_at=utcnow())
    assert ctx.job(job_id)["status"] == "succeeded"  # now cached
    assert ctx.get(f"/jobs/{job_id}", "bob").status_code == 404
    assert ctx.job(job_id, "root")["id"] == job_id  # an admin sees it
    with ctx.db.transaction() as s:
        s.execute(text("DELETE FROM candidates WHERE job_id = :j"), {"j": job_id})
        s.execute(text("DELETE FROM events WHERE job_id = :j"), {"j": job_id})
        s.execute(text("DELETE FROM jobs WHERE id = :j"), {"j": job_id})
    assert ctx.get(f"/jobs/{job_id}").status_code == 404  # deleted: the entry is not served


def test_list_pages_and_totals(ctx: Ctx) -> None:
    ids = [_job(ctx.db) for _ in range(5)]
    _job(ctx.db, owner="bob")
    _cand(ctx.db, ids[0], 1, "infeasible")
    page = ctx.get("/jobs?limit=10").json()
    assert page["total"] == 5 and len(page["items"]) == 5
    assert ctx.get("/jobs?limit=2").json()["total"] == 5
    assert ctx.get("/jobs?limit=2&offset=4").json()["total"] == 5
    assert ctx.get("/jobs?limit=10&offset=7").json() == {"items": [], "total": 5}
    assert ctx.get("/jobs?limit=10", "root").json()["total"] == 6
    [first] = [j for j in page["items"] if j["id"] == ids[0]]
    assert (first["n_proposed"], first["n_infeasible"]) == (1, 1)


def test_counts_and_best_are_read_through_the_index(ctx: Ctx) -> None:
    job_id = _job(ctx.db)
    with ctx.db.engine.connect() as conn:
        names = {r[1] for r in conn.execute(text("PRAGMA index_list('candidates')"))}
        assert "ix_candidates_job_status_val_acc" in names
        stmt = reads._detail_statement().params(job_id=job_id).compile(ctx.db.engine,
                                                                        compile_kwargs={"literal_binds": True})
        plan = " ".join(str(r[-1]) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {stmt}")))
    assert "ix_candidates_job_status_val_acc" in plan
    assert "SCAN candidates" not in plan  # no full scan of the candidates table


# ----- the job body's rules in the schema -----------------------------------------------------------------------
jsonschema = pytest.importorskip("jsonschema")


@pytest.fixture
def job_schema(ctx: Ctx) -> Any:
    doc = ctx.client.get("/openapi.json").json()
    return jsonschema.Draft202012Validator({**doc, "$ref": "#/components/schemas/JobSpec"})


BODIES: list[dict[str, Any]] = [
    {'dataset': 'cifar10'},
    {'dataset': 'cifar10', 'epochs': 12},
    {'dataset': 'cifar10', 'epochs': 200},
    {'dataset': 'cifar10', 'epochs': 50},
    {'dataset': 'CIFAR100', 'epochs': 1},
    {'dataset': 'ImageNet16-120', 'epochs': 199},
    {'dataset': 'imagenet16-120', 'epochs': 12},
    {'dataset': 'digits', 'epochs': 50},
    {'dataset': 'Digits', 'epochs': 1},
    {'dataset': 'digits', 'epochs': 200},
    {'dataset': 'Fashion_MNIST', 'epochs': 201},
    {'dataset': 'digits', 'epochs': 0},
    {'dataset': 'cifar10', 'data_path': '/data'},
    {'dataset': 'cifar10', 'compress': {}},
    {'dataset': 'cifar10', 'compress': {'data_path': '/data'}},
    {'dataset': 'cifar10', 'compress': {'data_path': ''}},
    {'dataset': 'ImageNet16-120', 'compress': {'data_path': '/data'}},
    {'dataset': 'digits', 'compress': {}},
    {'dataset': 'cifar10', 'hardware': {'sram_kb': 96}},
    {'dataset': 'cifar10', 'hardware': {'sram_kb': 96, 'flash_kb': 512, 'clock_mhz': 80}},
    {'dataset': 'cifar10', 'hardware': {'sram_kb': 96, 'flash_kb': 512, 'clock_mhz': 80, 'core': 'cortex-m4f'}},
    {'dataset': 'cifar10', 'board': 'STM32F746', 'hardware': {'sram_kb': 96}},
    {'dataset': 'cifar10', 'board': None, 'hardware': {'sram_kb': 96}},
    {'dataset': 'cifar10', 'board': ' ', 'hardware': {}},
    {'dataset': 'cifar10', 'board': '', 'hardware': {'core': 'm4'}},
    {'dataset': 'cifar10', 'board': '', 'hardware': {'sram_kb': 96, 'flash_kb': 512, 'clock_mhz': 80, 'core': 'm7'}},
    {'dataset': 'cifar10', 'hardware': {}},
    {'dataset': 'cifar10', 'proposer': 'evolution'},
    {'dataset': 'cifar10', 'proposer': 'nope'},
    {'dataset': 'svhn'},
    {'dataset': ' digits '},
    {'dataset': ' cifar10'},
]


@pytest.mark.parametrize("body", BODIES, ids=[str(i) for i in range(len(BODIES))])
def test_the_schema_states_the_rules_the_server_enforces(ctx: Ctx, job_schema: Any, body: dict[str, Any]) -> None:
    """Real-data names that need files on the server (mnist, fashion-mnist) are left out: their 422 depends on what
    the operator installed, not on the body."""
    body = {"budget": 3, **body}
    schema_ok = job_schema.is_valid(body)
    r = ctx.client.post(f"{API}/jobs", json=body, headers={"Authorization": f"Bearer {ctx.tokens['alice']}"})
    assert r.status_code in (202, 422), r.text
    assert schema_ok == (r.status_code == 202), (body, r.json())


ESTIMATES: list[dict[str, Any]] = [
    {}, {"dataset": "CIFAR100"}, {"dataset": "digits"}, {"dataset": "svhn"}, {"board": "STM32F746"},
    {"hardware": {"sram_kb": 96}}, {"hardware": {"sram_kb": 96, "flash_kb": 512, "clock_mhz": 80, "core": "m4"}},
    {"board": "", "hardware": {}}, {"board": "STM32F746", "hardware": {"sram_kb": 1}},
]


@pytest.mark.parametrize("body", ESTIMATES, ids=[str(i) for i in range(len(ESTIMATES))])
def test_the_estimate_schema_states_its_rules_too(ctx: Ctx, body: dict[str, Any]) -> None:
    doc = ctx.client.get("/openapi.json").json()
    validator = jsonschema.Draft202012Validator({**doc, "$ref": "#/components/schemas/EstimateRequest"})
    body = {"arch": 1462, **body}
    r = ctx.client.post(f"{API}/estimate", json=body, headers={"Authorization": f"Bearer {ctx.tokens['alice']}"})
    assert r.status_code in (200, 422), r.text
    assert validator.is_valid(body) == (r.status_code == 200), (body, r.json())


def test_the_epochs_rule_is_in_the_schema(job_schema: Any) -> None:
    rules = job_schema.schema["components"]["schemas"]["JobSpec"]["allOf"]
    epochs = [r["then"]["properties"]["epochs"] for r in rules if "epochs" in r["then"]["properties"]]
    assert epochs == [{"enum": [12, 200, None], "description": epochs[0]["description"]}]
    assert "12" in epochs[0]["description"] and "200" in epochs[0]["description"]


@pytest.mark.parametrize("name", ["cifar10", "CIFAR10", "Cifar100", "ImageNet16-120", "imagenet16-120", "digits",
                                  "MNIST", " mnist", "fashion-mnist", "FashionMNIST", "fashion_mnist", "cifar-10",
                                  "cifar10 ", "imagenet", "folder", "mnist2", "", "cifar"])
def test_the_dataset_pattern_matches_exactly_what_the_spec_accepts(name: str) -> None:
    try:
        JobSpec(dataset=name)
        accepted = True
    except ValueError:
        accepted = False
    assert bool(re.search(dataset_pattern(), name)) == accepted, name


def _running_listed(ctx: Ctx, job_id: str) -> int:
    [item] = [j for j in ctx.get("/jobs").json()["items"] if j["id"] == job_id]
    return int(item["n_proposed"])


@pytest.mark.parametrize("seconds", [0, 0.3])
def test_a_list_counts_running_jobs_afresh_after_list_counts_seconds(ctx: Ctx, seconds: float) -> None:
    """0: at every read; otherwise the page (and its counts) is reused for that long, no longer."""
    import time

    ctx.client.app.state.settings.api.list_counts_seconds = seconds  # type: ignore[attr-defined]
    job_id = _job(ctx.db)
    _set(ctx.db, job_id, status="running", heartbeat_at=utcnow())
    assert _running_listed(ctx, job_id) == 0
    _cand(ctx.db, job_id, 1, "proposed")
    time.sleep(seconds + 0.05 if seconds else 0)
    assert _running_listed(ctx, job_id) == 1


def test_a_list_may_reuse_a_running_jobs_counts_and_is_exact_once_it_ends(ctx: Ctx) -> None:
    ctx.client.app.state.settings.api.list_counts_seconds = 3600  # type: ignore[attr-defined]
    job_id = _job(ctx.db)
    _set(ctx.db, job_id, status="running", heartbeat_at=utcnow())
    assert _running_listed(ctx, job_id) == 0
    _cand(ctx.db, job_id, 1, "proposed")
    assert _running_listed(ctx, job_id) == 0  # within list_counts_seconds: the counts seen before
    assert ctx.job(job_id)["n_proposed"] == 1  # a job read is always current
    _set(ctx.db, job_id, status="succeeded", finished_at=utcnow())
    assert _running_listed(ctx, job_id) == 1  # finished: counted again, then kept by its row
    _set(ctx.db, job_id, status="running", finished_at=None)  # resumed
    _cand(ctx.db, job_id, 2, "proposed")
    _set(ctx.db, job_id, status="failed", finished_at=utcnow())
    assert _running_listed(ctx, job_id) == 2


def test_memory_is_reported_as_model_plus_runtime_against_the_limit_as_the_cli_does(ctx: Ctx) -> None:
    from automcu.hardware.catalog import get_board

    board = get_board("STM32F411")
    job_id = create_job(ctx.db, JobSpec(dataset="cifar10", budget=6, proposer="random"), board, owner="alice").id
    Worker(ctx.db, poll_seconds=0.05).run(exit_when_idle=True)
    expected = job_summary(get_job(ctx.db, job_id), candidates_of(ctx.db, job_id))["best"]
    best = ctx.job(job_id)["best"]
    split = ("flash_model_bytes", "flash_runtime_bytes", "flash_total_bytes", "flash_limit_bytes",
             "sram_arena_bytes", "sram_runtime_bytes", "sram_total_bytes", "sram_limit_bytes")
    assert {k: best[k] for k in split} == {k: expected[k] for k in split}  # the CLI's figures
    assert best["flash_model_bytes"] + best["flash_runtime_bytes"] == best["flash_total_bytes"] == best["flash_bytes"]
    assert best["sram_arena_bytes"] + best["sram_runtime_bytes"] == best["sram_total_bytes"]
    assert best["flash_runtime_bytes"] == board.runtime_flash_kb * 1024 > 0
    assert best["flash_limit_bytes"] == board.flash_bytes and best["sram_limit_bytes"] == board.sram_bytes
    items = ctx.get(f"/jobs/{job_id}/candidates").json()["items"]
    assert items and all(c["flash_model_bytes"] + c["flash_runtime_bytes"] == c["flash_bytes"] for c in items)
    assert all(c["sram_limit_bytes"] == board.sram_bytes for c in items)


def _statements_of(ctx: Ctx, path: str) -> tuple[Any, int]:
    from sqlalchemy import event

    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(args[2])

    event.listen(ctx.db.engine, "before_cursor_execute", count)
    try:
        body = ctx.get(path).json()
    finally:
        event.remove(ctx.db.engine, "before_cursor_execute", count)
    return body, len([s for s in seen if "jobs" in s and "api_tokens" not in s])


def test_an_unchanged_page_is_answered_from_one_statement_and_any_change_in_it_is_seen_at_once(ctx: Ctx) -> None:
    ids = [_job(ctx.db) for _ in range(3)]
    for job_id in ids:
        _set(ctx.db, job_id, status="succeeded", finished_at=utcnow())
    first, n_first = _statements_of(ctx, "/jobs?limit=50")
    again, n_again = _statements_of(ctx, "/jobs?limit=50")
    assert again == first and n_again == 1 < n_first  # the page's signature, nothing else
    new = _job(ctx.db)  # submitted: listed by the very next read
    assert ctx.get("/jobs?limit=50").json()["items"][0]["id"] == new
    _set(ctx.db, ids[0], status="failed")  # a state change
    assert {j["id"]: j["status"] for j in ctx.get("/jobs?limit=50").json()["items"]}[ids[0]] == "failed"
    # a change outside the page (same filter): the total follows
    assert ctx.get("/jobs?limit=1&status=succeeded").json()["total"] == 2
    _set(ctx.db, ids[1], status="cancelled")
    assert ctx.get("/jobs?limit=1&status=succeeded").json()["total"] == 1
    assert ctx.get("/jobs?limit=50", "bob").json() == {"items": [], "total": 0}  # per owner


def test_a_page_read_anew_counts_its_jobs_once(ctx: Ctx) -> None:
    ids = [_job(ctx.db) for _ in range(3)]
    for job_id in ids:
        _set(ctx.db, job_id, status="succeeded", finished_at=utcnow())
    body, n = _statements_of(ctx, "/jobs?limit=1")  # a partial page, not cached yet
    assert body["total"] == 3 and len(body["items"]) == 1
    assert n == 2  # the signature (which counts them) and the page; no second count
