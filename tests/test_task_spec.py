"""Task text → TaskSpec through a real chat-completions server; merging with explicit flags."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fake_llm_server import FakeLLMServer, Reply

from automcu.core.config import Settings
from automcu.jobs.task_spec import TaskSpec, merge_task_spec, parse_task, spec_from_reply

TEXT = "classify 10 clothing types on an STM32F746 under 100 ms"


def spec_json(**kw: object) -> str:
    base: dict[str, object] = {k: None for k in
                               ("dataset", "board", "sram_kb", "flash_kb", "clock_mhz", "core", "max_latency_ms")}
    base.update(kw)
    return json.dumps(base)


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as srv:
        yield srv


def settings_for(srv: FakeLLMServer) -> Settings:
    return Settings(llm_base_url=srv.base_url, llm_model="fake", llm_timeout_s=5.0, llm_max_retries=1,
                    llm_retry_base_delay_s=0.0)


def test_offline_returns_none() -> None:
    assert parse_task(TEXT, Settings(llm_base_url=None)) is None


def test_empty_text_returns_none(server: FakeLLMServer) -> None:
    assert parse_task("  ", settings_for(server)) is None
    assert server.requests == []


def test_parses_dataset_board_latency(server: FakeLLMServer) -> None:
    server.add(spec_json(dataset="FashionMNIST", board="stm32f746", max_latency_ms=100))
    spec = parse_task(TEXT, settings_for(server))
    assert spec is not None
    assert (spec.dataset, spec.board, spec.max_latency_ms) == ("fashion-mnist", "STM32F746", 100.0)
    assert spec.sram_kb is None
    body = server.requests[0]
    assert body["response_format"]["type"] == "json_schema"
    assert body["messages"][-1]["content"] == TEXT
    assert "STM32F746" in body["messages"][0]["content"]  # the catalog's boards are offered
    assert any("prompt" in n and "tokens" in n for n in spec.notes)


def test_unknown_board_dropped_with_note(server: FakeLLMServer) -> None:
    server.add("```json\n" + spec_json(dataset="cifar10", board="STM32ZZ999", max_latency_ms=50) + "\n```")
    spec = parse_task("cifar10 on my STM32ZZ999, 50 ms", settings_for(server))
    assert spec is not None
    assert spec.board is None and spec.dataset == "cifar10" and spec.max_latency_ms == 50
    assert any("STM32ZZ999" in n and "unknown board" in n for n in spec.notes)


def test_board_path_from_llm_is_not_followed() -> None:
    spec = spec_from_reply(spec_json(board="../../boards/x.yaml"))
    assert spec.board is None and any("explicitly" in n for n in spec.notes)


def test_unknown_dataset_dropped_and_raw_limits_kept() -> None:
    spec = spec_from_reply(spec_json(dataset="svhn", sram_kb=256, flash_kb=1024, clock_mhz=120, core="Cortex-M4F"))
    assert spec.dataset is None and any("svhn" in n for n in spec.notes)
    assert (spec.sram_kb, spec.flash_kb, spec.clock_mhz, spec.core) == (256, 1024, 120, "cortex-m4f")


def test_invalid_values_give_empty_spec_with_note() -> None:
    spec = spec_from_reply(spec_json(sram_kb=-5))
    assert spec.fields_set() == {} and spec.notes
    spec = spec_from_reply("I cannot help with that")
    assert spec.fields_set() == {} and "no JSON" in spec.notes[0]


def test_endpoint_failure_does_not_raise(server: FakeLLMServer) -> None:
    server.add(Reply(status=500), Reply(status=500))
    spec = parse_task(TEXT, settings_for(server))
    assert spec is not None and spec.fields_set() == {}
    assert "HTTP 500" in spec.notes[0]
    assert len(server.requests) == 2


def test_merge_explicit_flags_win() -> None:
    spec = TaskSpec(dataset="fashion-mnist", board="STM32F746", max_latency_ms=100)
    merged = merge_task_spec(spec, {"dataset": "mnist", "board": None, "max_latency_ms": None, "budget": 50})
    assert merged["dataset"] == "mnist"
    assert merged["board"] == "STM32F746" and merged["max_latency_ms"] == 100
    assert merged["budget"] == 50


def test_merge_explicit_hardware_is_taken_whole() -> None:
    spec = TaskSpec(board="STM32F746", max_latency_ms=100)
    merged = merge_task_spec(spec, {"sram_kb": 64, "flash_kb": 256, "clock_mhz": 48, "core": "cortex-m0+"})
    assert merged["board"] is None and merged["sram_kb"] == 64 and merged["max_latency_ms"] == 100
    spec = TaskSpec(sram_kb=320, flash_kb=1024)
    merged = merge_task_spec(spec, {"board": "RP2040"})
    assert merged["board"] == "RP2040" and merged["sram_kb"] is None and merged["flash_kb"] is None


def test_merge_without_spec() -> None:
    merged = merge_task_spec(None, {"dataset": "cifar10"})
    assert merged["dataset"] == "cifar10" and merged["board"] is None
