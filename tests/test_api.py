"""REST API through FastAPI's TestClient: auth, ownership, validation, limits, jobs run by a worker, SSE."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from api.core.security import create_token, revoke_token
from api.main import create_app
from automcu.core.config import get_settings
from automcu.engine.worker import Worker
from automcu.storage.db import Database, open_database
from automcu.storage.models import Job

API = "/api/v1"
ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
# small enough that some NB201 cells overflow it: both feasible and infeasible candidates appear
TINY = {"sram_kb": 96, "flash_kb": 512, "clock_mhz": 80, "core": "cortex-m4f"}


class Ctx:
    def __init__(self, client: TestClient, db: Database, tokens: dict[str, str]) -> None:
        self.client, self.db, self.tokens = client, db, tokens

    def h(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def submit(self, who: str = "alice", **body: Any) -> str:
        r = self.client.post(f"{API}/jobs", json={"dataset": "cifar10", "budget": 6, **body}, headers=self.h(who))
        assert r.status_code == 202, r.text
        return str(r.json()["id"])

    def work(self) -> int:
        return Worker(self.db, poll_seconds=0.05).run(exit_when_idle=True)


@pytest.fixture
def ctx(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ctx]:
    monkeypatch.setenv("AUTOMCU_DB_URL", db_url)
    get_settings.cache_clear()
    db = open_database(db_url)
    tokens = {name: create_token(db, name, admin=(name == "root")) for name in ("alice", "bob", "root")}
    with TestClient(create_app()) as client:
        yield Ctx(client, db, tokens)


def test_health_needs_no_token(ctx: Ctx) -> None:
    for path in (f"{API}/health", "/health"):
        r = ctx.client.get(path)
        assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["database"] == "sqlite"
    assert ctx.client.get("/").status_code == 200  # the dashboard page
    assert ctx.client.get(f"{API}/openapi.json").status_code == 200 and ctx.client.get("/docs").status_code == 200


@pytest.mark.parametrize("method,path", [("get", "/jobs"), ("get", "/boards"), ("post", "/estimate"),
                                         ("post", "/jobs"), ("get", "/jobs/abc"), ("get", "/jobs/abc/events")])
def test_routes_need_a_valid_token(ctx: Ctx, method: str, path: str) -> None:
    r = getattr(ctx.client, method)(API + path)
    assert r.status_code == 401 and "token" in r.json()["detail"]
    assert r.headers["www-authenticate"] == "Bearer"
    r = getattr(ctx.client, method)(API + path, headers={"Authorization": "Bearer amcu_nope"})
    assert r.status_code == 401


def test_revoked_token_stops_working(ctx: Ctx) -> None:
    assert ctx.client.get(f"{API}/jobs", headers=ctx.h("bob")).status_code == 200
    revoke_token(ctx.db, "bob")
    assert ctx.client.get(f"{API}/jobs", headers=ctx.h("bob")).status_code == 401


def test_a_token_revoked_by_another_process_stops_working_within_the_cache_time(ctx: Ctx) -> None:
    from sqlalchemy import delete

    from api.core.security import authenticate, principal_cache
    from automcu.storage.models import ApiToken

    principal_cache.clear()
    assert authenticate(ctx.db, ctx.tokens["bob"], cache_seconds=0.3) is not None
    with ctx.db.transaction() as s:  # what `automcu token revoke` in another process does: no cache to clear here
        s.execute(delete(ApiToken).where(ApiToken.name == "bob"))
    assert authenticate(ctx.db, ctx.tokens["bob"], cache_seconds=0.3) is not None  # still trusted, briefly
    assert authenticate(ctx.db, ctx.tokens["bob"]) is None  # uncached: gone
    time.sleep(0.35)
    assert authenticate(ctx.db, ctx.tokens["bob"], cache_seconds=0.3) is None


def test_ownership_other_tokens_jobs_are_404_admin_sees_all(ctx: Ctx) -> None:
    a = ctx.submit("alice")
    b = ctx.submit("bob")
    r = ctx.client.post(f"{API}/jobs", json={"dataset": "cifar10"}, headers=ctx.h("alice"))
    assert r.headers["location"].endswith(f"{API}/jobs/{r.json()['id']}")
    assert ctx.client.get(f"{API}/jobs/{a}", headers=ctx.h("alice")).json()["owner"] == "alice"
    for path in (f"/jobs/{a}", f"/jobs/{a}/candidates", f"/jobs/{a}/events", f"/jobs/{a}/artifacts/tflite"):
        r = ctx.client.get(API + path, headers=ctx.h("bob"))
        assert r.status_code == 404, path
    assert ctx.client.post(f"{API}/jobs/{a}/cancel", headers=ctx.h("bob")).status_code == 404
    mine = ctx.client.get(f"{API}/jobs", headers=ctx.h("alice")).json()
    assert mine["total"] == 2 and {j["owner"] for j in mine["items"]} == {"alice"}
    everyone = ctx.client.get(f"{API}/jobs", headers=ctx.h("root")).json()
    assert everyone["total"] == 3 and {a, b} <= {j["id"] for j in everyone["items"]}
    assert ctx.client.get(f"{API}/jobs/{b}", headers=ctx.h("root")).status_code == 200
    page = ctx.client.get(f"{API}/jobs?limit=2&offset=2", headers=ctx.h("root")).json()
    assert page["total"] == 3 and len(page["items"]) == 1
    queued = ctx.client.get(f"{API}/jobs?status=queued", headers=ctx.h("root")).json()
    assert queued["total"] == 3


@pytest.mark.parametrize("body,field,words", [
    ({"dataset": "cifar10", "board": "stm32f9000"}, "board", ["unknown board", "STM32F746"]),
    ({"dataset": "svhn"}, "dataset", ["unknown dataset", "cifar10"]),
    ({"dataset": "cifar10", "colour": "red"}, "colour", ["unknown field"]),
    ({"dataset": "cifar10", "hardware": {"sram_kb": 64}}, "", ["sram_kb, flash_kb and clock_mhz"]),
    ({"dataset": "cifar10", "budget": 0}, "budget", ["greater than 0"]),
    ({"board": "stm32f746"}, "dataset", ["required"]),
    ({"dataset": "cifar10", "hardware": {**TINY, "core": "z80"}}, "hardware", ["unknown core", "cortex-m7"]),
])
def test_invalid_jobs_are_422_with_a_readable_message(ctx: Ctx, body: dict, field: str, words: list[str]) -> None:
    r = ctx.client.post(f"{API}/jobs", json=body, headers=ctx.h("alice"))
    assert r.status_code == 422, r.text
    message = r.json()["message"]
    assert message.startswith(field) and all(w in message for w in words), message
    assert ctx.client.get(f"{API}/jobs", headers=ctx.h("alice")).json()["total"] == 0  # nothing stored


def test_large_bodies_are_413(ctx: Ctx) -> None:
    big = json.dumps({"dataset": "cifar10", "task": "x" * 70_000})
    r = ctx.client.post(f"{API}/jobs", content=big, headers={**ctx.h("alice"), "Content-Type": "application/json"})
    assert r.status_code == 413 and "larger than" in r.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
        for _ in range(20):
            yield b" " * 4096

    r = ctx.client.post(f"{API}/jobs", content=chunks(), headers={**ctx.h("alice"), "Content-Type": "application/json"})
    assert r.status_code == 413


def test_job_runs_to_the_end_through_a_worker(ctx: Ctx) -> None:
    job_id = ctx.submit(hardware=TINY, budget=8, proposer="random", seed=3)
    assert ctx.client.get(f"{API}/jobs/{job_id}", headers=ctx.h("alice")).json()["status"] == "queued"
    assert ctx.work() == 1
    job = ctx.client.get(f"{API}/jobs/{job_id}", headers=ctx.h("alice")).json()
    assert job["status"] == "succeeded" and job["n_evaluated"] == 8 and job["stop_reason"]
    assert job["n_proposed"] == job["n_evaluated"] + job["n_infeasible"] and job["n_infeasible"] > 0
    best = job["best"]
    assert set(best) >= {"arch", "index", "val_acc", "test_acc", "flash_bytes", "peak_sram_bytes", "latency_ms"}
    assert best["peak_sram_bytes"] <= TINY["sram_kb"] * 1024 and best["flash_bytes"] <= TINY["flash_kb"] * 1024

    url = f"{API}/jobs/{job_id}/candidates"
    every = ctx.client.get(url, params={"limit": 500}, headers=ctx.h("alice")).json()
    assert every["total"] == job["n_proposed"] == len(every["items"])
    first = ctx.client.get(url, params={"limit": 3}, headers=ctx.h("alice")).json()
    second = ctx.client.get(url, params={"limit": 3, "offset": 3}, headers=ctx.h("alice")).json()
    assert [c["id"] for c in first["items"] + second["items"]] == [c["id"] for c in every["items"][:6]]
    ranked = ctx.client.get(url, params={"sort": "-val_acc", "status": "evaluated"}, headers=ctx.h("alice")).json()
    accs = [c["val_acc"] for c in ranked["items"]]
    assert ranked["total"] == 8 and accs == sorted(accs, reverse=True) and accs[0] == best["val_acc"]
    by_flash = ctx.client.get(url, params={"sort": "flash_bytes"}, headers=ctx.h("alice")).json()["items"]
    assert [c["flash_bytes"] for c in by_flash] == sorted(c["flash_bytes"] for c in by_flash)
    bad = ctx.client.get(url, params={"status": "infeasible"}, headers=ctx.h("alice")).json()["items"]
    assert bad and all(not c["feasible"] and c["violation_text"] and c["violations"] for c in bad)
    assert "limit" in bad[0]["violation_text"][0]
    assert ctx.client.get(url, params={"sort": "password"}, headers=ctx.h("alice")).status_code == 422


def _sse(text: str) -> list[tuple[int | None, str, dict]]:
    out = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":")
                      and ": " in line)
        if "data" in fields:
            ev_id = int(fields["id"]) if "id" in fields else None
            out.append((ev_id, fields.get("event", "message"), json.loads(fields["data"])))
    return out


def test_event_stream_replays_and_ends_when_the_job_is_terminal(ctx: Ctx) -> None:
    job_id = ctx.submit(budget=5, proposer="random")
    ctx.work()
    r = ctx.client.get(f"{API}/jobs/{job_id}/events", headers=ctx.h("alice"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = _sse(r.text)
    kinds = [k for _, k, _ in events]
    assert kinds[0] == "created" and kinds[1] == "started" and kinds[-2:] == ["finished", "end"]
    evaluated = [d for _, k, d in events if k == "evaluated"]
    assert [d["n_evaluated"] for d in evaluated] == [1, 2, 3, 4, 5] and all(d["budget"] == 5 for d in evaluated)
    assert events[-1][2]["status"] == "succeeded"
    third = events[3][0]
    replay = _sse(ctx.client.get(f"{API}/jobs/{job_id}/events",
                                 headers={**ctx.h("alice"), "Last-Event-ID": str(third)}).text)
    assert [e[0] for e in replay[:-1]] == [e[0] for e in events[4:-1]]
    # EventSource can't send headers: the stream (and only the stream) also takes ?token=
    by_query = ctx.client.get(f"{API}/jobs/{job_id}/events", params={"token": ctx.tokens["alice"], "after": third})
    assert by_query.status_code == 200 and len(_sse(by_query.text)) == len(replay)
    assert ctx.client.get(f"{API}/jobs/{job_id}", params={"token": ctx.tokens["alice"]}).status_code == 401


def test_event_stream_follows_a_live_job(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOMCU_SIMULATED_TIME_SCALE", "2e-5")  # ~0.05 s per evaluation
    get_settings.cache_clear()
    job_id = ctx.submit(budget=6, proposer="random")
    runner = threading.Thread(target=lambda: (time.sleep(0.3), ctx.work()))
    runner.start()
    with ctx.client.stream("GET", f"{API}/jobs/{job_id}/events", headers=ctx.h("alice")) as r:
        text = "".join(r.iter_text())
    runner.join(30)
    kinds = [k for _, k, _ in _sse(text)]
    assert kinds.count("evaluated") == 6 and kinds[-2:] == ["finished", "end"]


def test_cancel_queued_and_running_jobs(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    queued = ctx.submit()
    r = ctx.client.post(f"{API}/jobs/{queued}/cancel", headers=ctx.h("alice"))
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    again = ctx.client.post(f"{API}/jobs/{queued}/cancel", headers=ctx.h("alice"))
    assert again.status_code == 409 and "already ended" in again.json()["detail"]

    monkeypatch.setenv("AUTOMCU_SIMULATED_TIME_SCALE", "2e-5")
    get_settings.cache_clear()
    running = ctx.submit(budget=200, proposer="random")
    runner = threading.Thread(target=ctx.work)
    runner.start()
    deadline = time.monotonic() + 20
    while ctx.client.get(f"{API}/jobs/{running}", headers=ctx.h("alice")).json()["n_evaluated"] < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    r = ctx.client.post(f"{API}/jobs/{running}/cancel", headers=ctx.h("alice"))
    assert r.status_code == 200 and r.json()["cancel_requested"] is True
    runner.join(20)
    job = ctx.client.get(f"{API}/jobs/{running}", headers=ctx.h("alice")).json()
    assert job["status"] == "cancelled" and 2 <= job["n_evaluated"] < 200 and job["stop_reason"] == "cancelled by user"


def test_artifacts_are_served_by_recorded_name_only(ctx: Ctx, tmp_path: Path) -> None:
    job_id = ctx.submit()
    model = tmp_path / "out" / "model.tflite"
    model.parent.mkdir()
    model.write_bytes(b"TFL3-model")
    (tmp_path / "secret.txt").write_text("not yours")
    with ctx.db.transaction() as s:
        s.execute(update(Job).where(Job.id == job_id).values(artifacts={"tflite": str(model), "gone": "/nope/x.bin"}))
    job = ctx.client.get(f"{API}/jobs/{job_id}", headers=ctx.h("alice")).json()
    assert {a["name"] for a in job["artifacts"]} == {"tflite", "gone"}
    r = ctx.client.get(f"{API}/jobs/{job_id}/artifacts/tflite", headers=ctx.h("alice"))
    assert r.status_code == 200 and r.content == b"TFL3-model" and "model.tflite" in r.headers["content-disposition"]
    assert ctx.client.get(f"{API}/jobs/{job_id}/artifacts/gone", headers=ctx.h("alice")).status_code == 404
    for name in ("model.tflite", "secret.txt", "..%2F..%2Fsecret.txt", "%2e%2e", "%2Fetc%2Fpasswd", "tflite%00",
                 "..%5C..%5Csecret.txt"):
        r = ctx.client.get(f"{API}/jobs/{job_id}/artifacts/{name}", headers=ctx.h("alice"))
        assert r.status_code in (404, 422), name
    for raw in ("..", "../../secret.txt", "../../../../../../etc/passwd"):  # normalized by the client: other routes
        r = ctx.client.get(f"{API}/jobs/{job_id}/artifacts/{raw}", headers=ctx.h("alice"))
        assert b"not yours" not in r.content and b"root:" not in r.content
        assert r.headers["content-type"].startswith("application/json")


def test_boards_and_estimate(ctx: Ctx) -> None:
    boards = ctx.client.get(f"{API}/boards", headers=ctx.h("bob")).json()
    names = {b["name"].lower() for b in boards["items"]}
    assert boards["total"] == len(boards["items"]) >= 5 and "stm32f746" in names
    f746 = next(b for b in boards["items"] if b["name"].lower() == "stm32f746")
    assert f746["sram_kb"] > 0 and f746["flash_kb"] > 0 and f746["core"] == "cortex-m7"

    r = ctx.client.post(f"{API}/estimate", json={"arch": ARCH, "board": "stm32f746"}, headers=ctx.h("bob"))
    assert r.status_code == 200, r.text
    est = r.json()
    assert set(est) == {"arch", "index", "flash_bytes", "peak_sram_bytes", "latency_ms", "macs", "params",
                        "feasible", "violations"}
    assert est["arch"] == ARCH and est["flash_bytes"] > 0 and est["macs"] > 0
    by_index = ctx.client.post(f"{API}/estimate", json={"arch": est["index"], "board": "stm32f746"},
                               headers=ctx.h("bob")).json()
    assert by_index == est
    tiny = ctx.client.post(f"{API}/estimate", json={"arch": ARCH, "hardware": TINY}, headers=ctx.h("bob")).json()
    assert tiny["feasible"] is False and tiny["violations"][0]["resource"] in ("sram", "flash")
    assert "limit" in tiny["violations"][0]["message"]
    for body, words in (({"arch": ARCH, "board": "esp99"}, ["unknown board", "STM32F746", "hardware {sram_kb"]),
                        ({"arch": "|bogus~0|", "board": "stm32f746"}, ["arch"]),
                        ({"arch": 99999, "board": "stm32f746"}, ["arch"]),
                        ({"arch": ARCH, "dataset": "svhn"}, ["unknown dataset"])):
        r = ctx.client.post(f"{API}/estimate", json=body, headers=ctx.h("bob"))
        assert r.status_code == 422 and all(w in r.json()["message"] for w in words), r.text
