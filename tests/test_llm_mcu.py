"""The LLM proposer on the mcu space (macro + cell strings) against a real chat-completions server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_llm_server import FakeLLMServer
from fake_llm_server import proposals_reply as reply

from agents.messages import EvaluatedCandidate, ProposalRequest, RejectedCandidate, Violation
from agents.proposers import registry
from agents.proposers.base import ProposerUnavailable
from agents.proposers.llm import LLMProposer, MCULLMProposer
from agents.proposers.llm_parse import MCU_READER, KnownArchs, ProposalItem, validate_items
from automcu.core.config import Settings, get_settings
from automcu.hardware.spec import HardwareSpec
from search_spaces.mcu.space import GRAMMAR, MCUArch

BEST = "C16-N1-S2:|nor_conv_3x3~0|+|dw_sep_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_1x1~1|dw_sep_conv_3x3~2|"
M1 = "C8-N1-S2:|dw_sep_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|skip_connect~0|none~1|dw_sep_conv_3x3~2|"
M2 = "C12-N1-S2:|nor_conv_1x1~0|+|dw_sep_conv_3x3~0|skip_connect~1|+|skip_connect~0|avg_pool_3x3~1|dw_sep_conv_3x3~2|"
M3 = "C8-N2-S2:|skip_connect~0|+|dw_sep_conv_3x3~0|none~1|+|dw_sep_conv_3x3~0|skip_connect~1|nor_conv_1x1~2|"
# node 1 is dead (none from the input): the ops of edges 2<-1 and 3<-1 change nothing, so DEAD_TWIN computes DEAD
DEAD = "C16-N1-S2:|none~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|avg_pool_3x3~0|nor_conv_1x1~1|avg_pool_3x3~2|"
DEAD_TWIN = "C16-N1-S2:|none~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|avg_pool_3x3~2|"
# every path from the input to the output has a none edge
DISCONNECTED = "C8-N1-S1:|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|"

BOARD = HardwareSpec(name="tiny-m4", core="cortex-m4f", clock_mhz=100, sram_kb=40, flash_kb=192)


def request(n: int = 2, **kw: object) -> ProposalRequest:
    base: dict[str, object] = {
        "task": "recognise handwritten digits on a small Cortex-M4",
        "dataset": "digits",
        "hardware": BOARD,
        "max_latency_ms": 50.0,
        "n": n,
        "evaluated": [EvaluatedCandidate(arch=BEST, val_acc=93.4, flash_bytes=99_000, peak_sram_bytes=14_000,
                                         latency_ms=3.2, margins={"sram": 0.65, "flash": 0.49})],
        "seen": [BEST],
    }
    base.update(kw)
    return ProposalRequest(**base)  # type: ignore[arg-type]


def settings_for(srv: FakeLLMServer) -> Settings:
    return Settings(llm_base_url=srv.base_url, llm_model="fake-model", llm_api_key="test-key", llm_timeout_s=5.0,
                    llm_max_retries=1, llm_retry_base_delay_s=0.01)


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as srv:
        yield srv


def test_valid_mcu_reply_and_the_prompt_states_the_space_and_the_board(server: FakeLLMServer) -> None:
    server.add(reply((f"  {M1.replace(':', ': ', 1)} ", "narrower, depthwise convs", BEST),
                     (M2, "1x1 stem cell", f" {BEST} ")))
    batch = MCULLMProposer(settings_for(server)).propose(request())
    assert batch.proposer == "mcu-llm"
    assert [p.arch for p in batch.proposals] == [M1, M2]  # normalised
    assert [p.parent for p in batch.proposals] == [BEST, BEST]
    assert len(server.requests) == 1 and batch.usage["repair_rounds"] == 0
    body = server.requests[0]
    assert body["response_format"]["json_schema"]["name"] == "mcu_proposals"
    system = body["messages"][0]["content"]
    assert "mcu search space" in system and "stem stride 2 halves every feature map" in system
    prompt = server.user_texts(0)[0]
    for expected in (GRAMMAR, "dw_sep_conv_3x3", "C (channels of the first stage", "in 8, 12, 16, 24, 32",
                     "N (cells per stage) in 1, 2, 3", "S (stem stride) in 1, 2", "decide SRAM and Flash far more",
                     "40 KB SRAM", "192 KB Flash", "50 ms", "recognise handwritten digits", BEST, "93.40%",
                     "exactly 2"):
        assert expected in prompt, expected
    assert "NAS-Bench-201 cells that should" not in system  # not the nb201 system prompt


def test_unknown_op_and_bad_channels_get_one_repair_round_naming_both(server: FakeLLMServer) -> None:
    bad_op = M1.replace("nor_conv_1x1", "conv_5x5")
    bad_c = M2.replace("C12-", "C20-")
    server.add(reply((bad_op, "bigger kernel", BEST), (bad_c, "wider", BEST)),
               reply((M3, "repaired: two thin cells", BEST), ("C8-N4-S2:" + M1.split(":", 1)[1], "deeper", None)))
    batch = MCULLMProposer(settings_for(server)).propose(request())
    assert [p.arch for p in batch.proposals] == [M3]
    assert len(server.requests) == 2 and batch.usage["repair_rounds"] == 1
    repair = server.requests[1]["messages"]
    assert [m["role"] for m in repair] == ["system", "user", "assistant", "user"]
    text = repair[-1]["content"]
    assert "unknown op 'conv_5x5'" in text
    assert "C20-N1-S2" in text and "C must be one of 8, 12, 16, 24, 32" in text
    assert "C<channels>-N<cells per stage>-S<stem stride>:" in text and "dw_sep_conv_3x3" in text  # the format
    assert "exactly 2 new replacement" in text
    assert any("dropped after repair" in n and "N must be one of 1, 2, 3" in n for n in batch.notes)
    assert any("returned 1 of 2" in n for n in batch.notes)


def test_a_repeated_function_and_a_disconnected_cell_are_dropped_with_notes(server: FakeLLMServer) -> None:
    server.add(reply((M1, "new", None), (DEAD_TWIN, "same as the seen one, other dead op", DEAD),
                     (DISCONNECTED, "tiny", None)),
               reply((DEAD_TWIN, "again", DEAD), (DISCONNECTED, "again", None)))
    batch = MCULLMProposer(settings_for(server)).propose(request(n=3, seen=[BEST, DEAD]))
    assert [p.arch for p in batch.proposals] == [M1]
    assert len(server.requests) == 2  # exactly one repair round
    first_errors = server.user_texts(1)[-1]
    assert f"computes the same function as {DEAD}" in first_errors
    assert "output node is disconnected from the input" in first_errors
    dropped = [n for n in batch.notes if n.startswith("dropped after repair")]
    assert len(dropped) == 2
    assert any(DEAD_TWIN in n and "same function" in n for n in dropped)
    assert any(DISCONNECTED in n and "disconnected" in n for n in dropped)
    assert any("returned 1 of 3" in n for n in batch.notes)


def test_the_exact_seen_string_and_a_twin_within_one_reply_are_repeats() -> None:
    seen = KnownArchs(MCU_READER, [BEST, "not an arch"])
    items = [ProposalItem(arch=BEST, reason="again"), ProposalItem(arch=DEAD, reason="new", parent="garbage"),
             ProposalItem(arch=DEAD_TWIN, reason="twin of the one just accepted")]
    valid, errors, notes = validate_items(items, seen, 3)
    assert [p.arch for p in valid] == [DEAD] and valid[0].parent is None
    assert "already proposed or evaluated" in errors[0] and f"same function as {DEAD}" in errors[1]
    assert any("unparsable parent" in n for n in notes)
    assert MCUArch.from_string(DEAD).canonical_key() in seen.functions


def test_rejections_with_reasons_and_seen_archs_reach_the_prompt(server: FakeLLMServer) -> None:
    big = "C32-N3-S1:|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    violation = Violation(resource="sram", value=71_920, limit=40_960, excess=30_960, unit="bytes", layer="stem")
    server.add(reply((M1, "smaller and strided", big)))
    req = request(n=1, seen=[BEST, big], rejected=[RejectedCandidate(arch=big, violations=[violation])])
    batch = MCULLMProposer(settings_for(server)).propose(req)
    assert [p.arch for p in batch.proposals] == [M1] and batch.proposals[0].parent == big
    prompt = server.user_texts(0)[0]
    assert f"{big}: {violation.describe()}" in prompt
    assert "## Already proposed (2; never propose these again)" in prompt


def test_invalid_json_twice_is_unavailable(server: FakeLLMServer) -> None:
    server.add("A wider network would be nice.", "still no JSON")
    with pytest.raises(ProposerUnavailable) as info:
        MCULLMProposer(settings_for(server)).propose(request(n=1))
    assert "no valid proposal" in info.value.reason
    assert info.value.usage["llm_calls"] == 2 and info.value.usage["repair_rounds"] == 1


def test_an_nb201_cell_is_not_an_mcu_arch(server: FakeLLMServer) -> None:
    cell = M1.split(":", 1)[1]
    server.add(reply((cell, "no macro", None)), reply((M2, "with the macro", None)))
    batch = MCULLMProposer(settings_for(server)).propose(request(n=1))
    assert [p.arch for p in batch.proposals] == [M2]
    assert "not in the mcu format C<channels>" in server.user_texts(1)[-1]


def test_registry_makes_the_mcu_llm_proposer(server: FakeLLMServer) -> None:
    settings = settings_for(server)
    proposer = registry.make_proposer("llm", settings, "mcu")
    assert isinstance(proposer, MCULLMProposer)
    assert type(registry.make_proposer("llm", settings)) is LLMProposer  # nb201 unchanged
    assert registry.supports("llm", "mcu")
    assert registry.resolve_name("auto", settings, "mcu") == "llm"
    assert isinstance(registry.make_proposer("auto", settings, "mcu"), MCULLMProposer)
    with pytest.raises(ProposerUnavailable):
        MCULLMProposer(Settings(llm_base_url=None))


def test_an_mcu_job_searched_by_the_llm_evaluates_its_archs(monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    pytest.importorskip("torch")
    from automcu.engine.planner import run_job
    from automcu.jobs.spec import JobSpec
    from automcu.storage.db import open_database
    from automcu.storage.repository import candidates_of, create_job, get_job, messages_of

    with FakeLLMServer([reply((M1, "thin and strided", None)), reply((M2, "a little wider", M1)),
                        reply((M3, "two thin cells", M2))]) as srv:
        for var, value in (("BASE_URL", srv.base_url), ("MODEL", "fake-model"), ("API_KEY", "k"),
                           ("MAX_RETRIES", "1"), ("RETRY_BASE_DELAY_S", "0.01"), ("TIMEOUT_S", "5")):
            monkeypatch.setenv(f"AUTOMCU_LLM_{var}", value)
        get_settings.cache_clear()
        spec = JobSpec(dataset="digits", space="mcu", proposer="llm", budget=3, epochs=1, seed=0,
                       hardware={"sram_kb": 40, "flash_kb": 192, "clock_mhz": 100, "core": "cortex-m4f"})
        db = open_database(db_url)
        job = create_job(db, spec, spec.resolve_hardware())
        run_job(db, job.id)
        assert len(srv.requests) == 3
        later = srv.user_texts(2)[0]
    final = get_job(db, job.id)
    assert final.status == "succeeded" and final.proposer_used == "llm"
    cands = candidates_of(db, job.id)
    assert [c.arch for c in cands] == [M1, M2, M3]
    assert all(c.status == "evaluated" and c.proposer == "mcu-llm" for c in cands)
    assert cands[1].reason == "a little wider"
    assert M1 in later and M2 in later and "dw_sep_conv_3x3" in later  # the history reaches later prompts
    out = [m for m in messages_of(db, job.id) if m.agent == "proposer" and m.direction == "out"]
    assert out and all(m.payload["usage"] for m in out)
