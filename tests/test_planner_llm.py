"""The planner with the LLM proposer against a real chat-completions server on 127.0.0.1."""

from __future__ import annotations

import json

import pytest
from fake_llm_server import FakeLLMServer, Reply

from automcu.core.config import get_settings
from automcu.engine.planner import run_job
from automcu.jobs.spec import JobSpec
from automcu.storage.db import open_database
from automcu.storage.repository import candidates_of, create_job, events_of, get_job, messages_of

A = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
B = "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def _configure(monkeypatch: pytest.MonkeyPatch, srv: FakeLLMServer) -> None:
    monkeypatch.setenv("AUTOMCU_LLM_BASE_URL", srv.base_url)
    monkeypatch.setenv("AUTOMCU_LLM_MODEL", "fake-model")
    monkeypatch.setenv("AUTOMCU_LLM_API_KEY", "k")
    monkeypatch.setenv("AUTOMCU_LLM_MAX_RETRIES", "1")
    monkeypatch.setenv("AUTOMCU_LLM_RETRY_BASE_DELAY_S", "0.01")
    monkeypatch.setenv("AUTOMCU_LLM_TIMEOUT_S", "2")
    get_settings.cache_clear()


def _reply(*archs: str) -> str:
    return json.dumps({"proposals": [{"arch": a, "reason": f"because {i}", "parent": None}
                                     for i, a in enumerate(archs)]})


def test_llm_proposals_are_stored_with_their_rationale_and_usage(monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    with FakeLLMServer([_reply(A), _reply(B)]) as srv:
        _configure(monkeypatch, srv)
        db = open_database(db_url)
        job = create_job(db, JobSpec(dataset="cifar10", budget=2, proposer="auto"), None)
        run_job(db, job.id)
    final = get_job(db, job.id)
    assert final.status == "succeeded" and final.proposer_used == "llm"
    cands = candidates_of(db, job.id)
    assert [c.arch for c in cands] == [A, B] and cands[0].reason == "because 0" and cands[0].proposer == "llm"
    out = [m for m in messages_of(db, job.id) if m.agent == "proposer" and m.direction == "out"]
    assert out[0].payload["usage"]  # token usage and latency recorded with the message


def test_failing_endpoint_falls_back_to_evolution_and_says_why(monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    with FakeLLMServer([Reply(status=500)] * 4) as srv:
        _configure(monkeypatch, srv)
        db = open_database(db_url)
        job = create_job(db, JobSpec(dataset="cifar10", budget=5, proposer="llm"), None)
        run_job(db, job.id)
        assert len(srv.requests) == 2  # one call + one retry, then the fallback
    final = get_job(db, job.id)
    assert final.status == "succeeded" and final.proposer_used == "evolution"
    fallback = [e for e in events_of(db, job.id) if e.kind == "proposer_fallback"]
    assert len(fallback) == 1 and "llm" in fallback[0].payload["reason"]
    assert sum(c.status == "evaluated" for c in candidates_of(db, job.id)) == 5


def test_task_text_becomes_the_spec_in_the_planners_first_step(monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    from automcu.cli.search_run import prepare_job

    task_reply = json.dumps({"dataset": "cifar10", "board": "RP2040", "max_latency_ms": 900})
    with FakeLLMServer([task_reply]) as srv:
        _configure(monkeypatch, srv)
        spec = JobSpec(dataset="cifar10", budget=3, proposer="evolution", task="keyword spotting on a Pico, < 0.9 s")
        db, job = prepare_job(spec, db_url)
        assert srv.requests == [] and job.task_spec is None  # submitting never waits for the LLM
        run_job(db, job.id)
        assert len(srv.requests) == 1
    final = get_job(db, job.id)
    assert final.status == "succeeded"
    assert final.board == "RP2040" and final.max_latency_ms == 900 and final.hardware["name"] == "RP2040"
    assert final.task_spec["board"] == "RP2040"
    task_msgs = [m for m in messages_of(db, job.id) if m.agent == "task"]
    assert [m.direction for m in task_msgs] == ["in", "out"]
    assert any(e.kind == "task_spec" for e in events_of(db, job.id))


def test_explicit_board_wins_over_the_task_text(monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    from automcu.cli.search_run import prepare_job

    task_reply = json.dumps({"dataset": "cifar10", "board": "RP2040", "max_latency_ms": 900})
    with FakeLLMServer([task_reply]) as srv:
        _configure(monkeypatch, srv)
        spec = JobSpec(dataset="cifar10", board="STM32H743", budget=2, proposer="evolution", task="on a Pico")
        db, job = prepare_job(spec, db_url)
        run_job(db, job.id)
    final = get_job(db, job.id)
    assert final.board == "STM32H743" and final.max_latency_ms == 900  # the latency was not given explicitly
