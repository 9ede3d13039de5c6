"""LLMProposer against a real HTTP server speaking the chat-completions protocol."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_llm_server import FakeLLMServer, Reply
from fake_llm_server import proposals_reply as reply

from agents.messages import EvaluatedCandidate, ProposalRequest, RejectedCandidate, Violation
from agents.proposers.base import ProposerUnavailable
from agents.proposers.llm import LLMProposer
from automcu.core.config import Settings
from automcu.hardware.spec import HardwareSpec
from search_spaces.nb201.space import GRAMMAR

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
A1 = "|nor_conv_1x1~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
A2 = "|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
A3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_1x1~1|skip_connect~2|"
BIG = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"

BOARD = HardwareSpec(name="tiny-m4", core="cortex-m4f", clock_mhz=80, sram_kb=128, flash_kb=512)


def request(n: int = 2, **kw: object) -> ProposalRequest:
    base: dict[str, object] = {
        "task": "classify 10 clothing types on a small Cortex-M4",
        "dataset": "cifar10",
        "hardware": BOARD,
        "max_latency_ms": 150.0,
        "n": n,
        "evaluated": [
            EvaluatedCandidate(
                arch=BEST, val_acc=91.61, flash_bytes=400_000, peak_sram_bytes=90_000, latency_ms=120.0,
                margins={"sram": 0.31, "flash": 0.22, "latency": 0.2},
            )
        ],
        "seen": [BEST],
    }
    base.update(kw)
    return ProposalRequest(**base)  # type: ignore[arg-type]


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as srv:
        yield srv


def proposer_for(srv: FakeLLMServer, sleeps: list[float] | None = None, **kw: object) -> LLMProposer:
    opts: dict[str, object] = {
        "llm_base_url": srv.base_url,
        "llm_model": "fake-model",
        "llm_api_key": "test-key",
        "llm_timeout_s": 5.0,
        "llm_max_retries": 2,
        "llm_retry_base_delay_s": 0.01,
    }
    opts.update(kw)
    settings = Settings(**opts)  # type: ignore[arg-type]
    if sleeps is None:
        return LLMProposer(settings)
    return LLMProposer(settings, sleep=sleeps.append)


def test_valid_json_reply_and_prompt_contents(server: FakeLLMServer) -> None:
    server.add(reply((A1, "cheaper first edge", BEST), (A2, "skip instead of conv", BEST)))
    batch = proposer_for(server).propose(request())
    assert batch.proposer == "llm"
    assert [p.arch for p in batch.proposals] == [A1, A2]
    assert all(p.reason and p.parent == BEST for p in batch.proposals)
    assert server.paths == ["/v1/chat/completions"]
    body = server.requests[0]
    assert body["model"] == "fake-model"
    assert body["response_format"]["type"] == "json_schema"
    prompt = server.user_texts(0)[0]
    for expected in ("classify 10 clothing types", GRAMMAR, "128 KB SRAM", "512 KB Flash", "150 ms", BEST, "91.61%",
                     "exactly 2"):
        assert expected in prompt, expected


def test_json_in_code_fence_with_prose(server: FakeLLMServer) -> None:
    server.add(f"Sure! Here are my picks:\n```json\n{reply((A1, 'cheaper', None))}\n```\nGood luck.")
    batch = proposer_for(server).propose(request(n=1))
    assert [p.arch for p in batch.proposals] == [A1]
    assert batch.proposals[0].parent is None
    assert len(server.requests) == 1


def test_unknown_op_gets_one_repair_round(server: FakeLLMServer) -> None:
    bad = A1.replace("nor_conv_1x1", "conv_5x5")
    server.add(reply((bad, "bigger kernel", BEST), (A2, "fine", BEST)), reply((A3, "repaired", BEST)))
    batch = proposer_for(server).propose(request())
    assert [p.arch for p in batch.proposals] == [A2, A3]
    assert len(server.requests) == 2
    repair = server.requests[1]["messages"]
    assert [m["role"] for m in repair] == ["system", "user", "assistant", "user"]
    assert "conv_5x5" in repair[-1]["content"] and "unknown op" in repair[-1]["content"]
    assert batch.usage["repair_rounds"] == 1
    assert any("repair round" in n for n in batch.notes)


def test_still_invalid_after_repair_is_dropped_with_note(server: FakeLLMServer) -> None:
    server.add(reply((A1, "ok", BEST), ("|garbage|", "??", None)), reply((BEST, "again the seen one", None)))
    batch = proposer_for(server).propose(request())
    assert [p.arch for p in batch.proposals] == [A1]
    assert len(server.requests) == 2  # exactly one repair round
    assert any("dropped after repair" in n and "already proposed" in n for n in batch.notes)
    assert any("returned 1 of 2" in n for n in batch.notes)


def test_seen_arch_is_repaired(server: FakeLLMServer) -> None:
    server.add(reply((BEST, "the best one again", None)), reply((A2, "new", BEST)))
    batch = proposer_for(server).propose(request(n=1))
    assert [p.arch for p in batch.proposals] == [A2]
    assert "already proposed" in server.user_texts(1)[-1]


def test_infeasible_reasons_reach_the_next_prompt(server: FakeLLMServer) -> None:
    server.add(reply((BIG, "all convolutions for accuracy", BEST)), reply((A3, "lighter", BEST)))
    prop = proposer_for(server)
    first = prop.propose(request(n=1))
    assert [p.arch for p in first.proposals] == [BIG]  # the proposer does not judge feasibility
    assert "infeasible" not in server.user_texts(0)[0]
    violation = Violation(resource="sram", value=210_000, limit=131_072, excess=78_928, unit="bytes",
                          layer="cell 2 conv")
    nxt = request(n=1, step=1, seen=[BEST, BIG], rejected=[RejectedCandidate(arch=BIG, violations=[violation])])
    second = prop.propose(nxt)
    assert [p.arch for p in second.proposals] == [A3]
    prompt = server.user_texts(1)[0]
    assert "infeasible" in prompt
    assert f"{BIG}: {violation.describe()}" in prompt
    assert "sram 210,000 bytes > limit 131,072 by 78,928 (peak at cell 2 conv)" in prompt


def test_timeout_retries_then_unavailable(server: FakeLLMServer) -> None:
    server.add(*[Reply(sleep=1.5, content=reply((A1, "late", None))) for _ in range(3)])
    sleeps: list[float] = []
    prop = proposer_for(server, sleeps, llm_timeout_s=0.2, llm_max_retries=2)
    prop._chat.total_deadline_s = 10.0  # retries, not the total deadline, are under test here
    t0 = time.perf_counter()
    with pytest.raises(ProposerUnavailable) as info:
        prop.propose(request(n=1))
    assert time.perf_counter() - t0 < 3.0
    assert len(server.requests) == 3  # first try + 2 retries
    assert sleeps == [0.01, 0.02]  # exponential backoff
    assert "Timeout" in info.value.reason and "3 time(s)" in info.value.reason


def test_500_retried_then_success(server: FakeLLMServer) -> None:
    server.add(Reply(status=500), Reply(status=502), reply((A1, "ok", None)))
    sleeps: list[float] = []
    batch = proposer_for(server, sleeps).propose(request(n=1))
    assert [p.arch for p in batch.proposals] == [A1]
    assert len(server.requests) == 3 and sleeps == [0.01, 0.02]
    assert batch.usage["http_attempts"] == 3 and batch.usage["llm_calls"] == 1


def test_500_retried_then_failure(server: FakeLLMServer) -> None:
    server.add(*[Reply(status=500, content="boom") for _ in range(4)])
    with pytest.raises(ProposerUnavailable) as info:
        proposer_for(server, [], llm_max_retries=3).propose(request(n=1))
    assert len(server.requests) == 4
    assert "HTTP 500" in info.value.reason


def test_not_json_is_repaired(server: FakeLLMServer) -> None:
    server.add("I think a cell with more convolutions would be great.", reply((A1, "now as JSON", None)))
    batch = proposer_for(server).propose(request(n=1))
    assert [p.arch for p in batch.proposals] == [A1]
    assert "no JSON object" in server.user_texts(1)[-1]


def test_not_json_twice_is_unavailable(server: FakeLLMServer) -> None:
    server.add("no idea", "still prose")
    with pytest.raises(ProposerUnavailable) as info:
        proposer_for(server).propose(request(n=1))
    assert "no valid proposal" in info.value.reason
    assert info.value.usage["llm_calls"] == 2


def test_usage_recorded(server: FakeLLMServer) -> None:
    server.add(Reply(content=reply((A1, "ok", None)), prompt_tokens=321, completion_tokens=45))
    batch = proposer_for(server).propose(request(n=1))
    u = batch.usage
    assert (u["prompt_tokens"], u["completion_tokens"], u["total_tokens"]) == (321, 45, 366)
    assert u["llm_calls"] == 1 and u["latency_s"] > 0
    assert any("321 prompt + 45 completion tokens" in n for n in batch.notes)


def test_usage_sums_over_repair(server: FakeLLMServer) -> None:
    server.add(Reply(content="nope", prompt_tokens=100, completion_tokens=1),
               Reply(content=reply((A1, "ok", None)), prompt_tokens=150, completion_tokens=20))
    batch = proposer_for(server).propose(request(n=1))
    assert batch.usage["prompt_tokens"] == 250 and batch.usage["total_tokens"] == 271


def test_json_schema_rejected_falls_back_and_is_remembered() -> None:
    with FakeLLMServer(reject_json_schema=True) as srv:
        srv.add(reply((A1, "ok", None)), reply((A2, "ok", None)))
        prop = proposer_for(srv)
        prop.propose(request(n=1))
        prop.propose(request(n=1, seen=[BEST, A1]))
        kinds = [(r.get("response_format") or {}).get("type") for r in srv.requests]
    assert kinds == ["json_schema", "json_object", "json_object"]
    assert prop.response_format == "json_object"


def test_unconfigured_is_unavailable() -> None:
    with pytest.raises(ProposerUnavailable):
        LLMProposer(Settings(llm_base_url=None))


def test_connection_refused_is_unavailable() -> None:
    srv = FakeLLMServer().start()
    url = srv.base_url
    srv.stop()
    sleeps: list[float] = []
    prop = LLMProposer(Settings(llm_base_url=url, llm_max_retries=1, llm_retry_base_delay_s=0.01, llm_timeout_s=1.0),
                       sleep=sleeps.append)
    with pytest.raises(ProposerUnavailable) as info:
        prop.propose(request(n=1))
    assert "Connection" in info.value.reason and sleeps == [0.01]


@pytest.mark.parametrize("raw, status", [
    (b"Sorry, the model is overloaded. Try later.", 200),  # a 200 whose body is plain text
    (b"\xff\xfe\x00garbage \xc3\x28 not utf-8", 200),  # a 200 with bytes that are not UTF-8
    (b"<html>teapot</html>", 418),  # an odd status with an HTML body
    (b"", 200),  # an empty 200
])
def test_any_reply_body_becomes_unavailable_not_a_crash(server: FakeLLMServer, raw: bytes, status: int) -> None:
    server.add(*[Reply(raw=raw, status=status) for _ in range(4)])
    with pytest.raises(ProposerUnavailable) as info:
        proposer_for(server, []).propose(request(n=1))
    assert info.value.reason and "\n" not in info.value.reason


def test_hanging_server_is_bounded_by_one_total_deadline(server: FakeLLMServer) -> None:
    # every try hangs; per-try timeout 1 s and 3 retries would lose 4 s, the total deadline allows 0.6 s
    server.add(*[Reply(sleep=3.0, content=reply((A1, "late", None))) for _ in range(8)])
    prop = proposer_for(server, [], llm_timeout_s=1.0, llm_max_retries=3)
    prop._chat.total_deadline_s = 0.6
    with pytest.raises(ProposerUnavailable):
        prop.propose(request(n=1))
    assert prop._chat.lost_s < 1.5
    with pytest.raises(ProposerUnavailable) as again:  # later calls of the same job are refused at once
        prop.propose(request(n=1))
    assert "total deadline" in again.value.reason


def test_a_slow_reply_is_reported_as_progress_while_it_is_awaited(server: FakeLLMServer) -> None:
    server.add(Reply(sleep=0.5, content=reply((A1, "slow but fine", None))))
    prop = proposer_for(server, [], llm_timeout_s=5.0)
    ticks: list[dict[str, float]] = []
    prop.set_progress(ticks.append)
    prop._chat.wait_tick_s = 0.1
    batch = prop.propose(request(n=1))
    assert [p.arch for p in batch.proposals] == [A1]
    assert len(ticks) >= 2  # about every tick while the reply was awaited, then no more
    assert all(t["try"] == 1 and t["limit_s"] == 5.0 and not t["backoff"] for t in ticks)
    assert [t["elapsed_s"] for t in ticks] == sorted(t["elapsed_s"] for t in ticks)
    n = len(ticks)
    time.sleep(0.3)
    assert len(ticks) == n


def test_cli_shows_the_wait_for_a_hanging_endpoint_then_falls_back(server: FakeLLMServer, tmp_path: Path) -> None:
    import subprocess
    import sys

    server.add(*[Reply(sleep=4.0, content=reply((A1, "late", None))) for _ in range(4)])
    env = {**os.environ, "AUTOMCU_LLM_BASE_URL": server.base_url, "AUTOMCU_LLM_TIMEOUT_S": "3",
           "AUTOMCU_LLM_MAX_RETRIES": "0", "AUTOMCU_DATA_DIR": str(tmp_path / "data")}
    out = subprocess.run([sys.executable, "-m", "automcu.cli.app", "search", "--dataset", "cifar10", "--budget", "3",
                          "--proposer", "llm", "--db", f"sqlite:///{tmp_path / 'a.db'}"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout + out.stderr
    assert "llm waiting for a reply: 2 s of 3 s (try 1" in text, text[-2000:]
    [line] = [x for x in text.splitlines() if "proposer fallback:" in x]
    assert line.rstrip().endswith("Request timed out."), line  # the whole reason on one line (not wrapped at 80)
