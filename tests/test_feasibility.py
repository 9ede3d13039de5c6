"""Feasibility agent: verdicts, violations with layers, margins, whole-space mask, verify hook."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from agents.feasibility import FeasibilityAgent, VerificationUnavailable, feasible_mask
from agents.messages import FeasibilityRequest
from automcu.hardware.catalog import get_board
from automcu.hardware.estimator import Macro, estimate_all

ALL_CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
TINY = "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|"


def test_known_infeasible_arch_on_small_board() -> None:
    board = get_board("STM32F411")  # 512 KB Flash, 128 KB SRAM, 100 MHz
    r = FeasibilityAgent().check(FeasibilityRequest(arch=ALL_CONV, hardware=board, max_latency_ms=100))
    assert not r.feasible and r.index == 1462
    by = {v.resource: v for v in r.violations}
    assert set(by) == {"flash", "sram", "latency"}
    flash = by["flash"]
    assert flash.limit == 512 * 1024 and flash.value > 1.5e6
    assert flash.excess == pytest.approx(flash.value - flash.limit)
    sram = by["sram"]
    assert sram.limit == 128 * 1024 and sram.value == r.peak_sram_bytes and sram.excess > 0
    assert sram.layer and sram.layer.startswith("stage1")
    assert by["latency"].unit == "ms" and by["latency"].layer
    assert r.margins == {}
    assert "by" in sram.describe()


def test_feasible_arch_has_margins() -> None:
    r = FeasibilityAgent().check(FeasibilityRequest(arch=TINY, hardware=get_board("STM32H743"), max_latency_ms=500))
    assert r.feasible and not r.violations
    assert set(r.margins) == {"flash", "sram", "latency"}
    assert all(0 < m < 1 for m in r.margins.values())
    assert r.flash_bytes > 0 and r.params > 0 and r.macs > 0


def test_unconstrained_is_feasible() -> None:
    r = FeasibilityAgent().check(FeasibilityRequest(arch="6111"))
    assert r.feasible and r.margins == {} and r.index == 6111


def test_mask_matches_agent_on_sample() -> None:
    board = get_board("nRF52840")
    mask = feasible_mask(board, 800.0)
    assert 0 < mask.sum() < len(mask)
    fig = estimate_all(board, Macro())
    agent = FeasibilityAgent()
    from search_spaces.nb201.index import arch_of_index

    for i in np.random.default_rng(3).choice(15625, 15, replace=False):
        r = agent.check(FeasibilityRequest(arch=arch_of_index(int(i)).to_string(), hardware=board,
                                           max_latency_ms=800.0))
        assert r.feasible == bool(mask[i])
        assert r.peak_sram_bytes == fig["peak_sram_bytes"][i]


def test_verify_missing_module_says_which_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "automcu.deploy.verify", None)  # import fails
    req = FeasibilityRequest(arch=TINY, hardware=get_board("STM32F746"), verify="all")
    with pytest.raises(VerificationUnavailable, match="tflite"):
        FeasibilityAgent().check(req)


def test_verify_figures_decide(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    class Res:
        arena_bytes = 10_000_000
        flash_bytes = 1000
        fits = False

    fake = types.ModuleType("automcu.deploy.verify")
    fake.verify_arch = lambda arch, macro, hw: Res()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "automcu.deploy.verify", fake)
    r = FeasibilityAgent().check(FeasibilityRequest(arch=TINY, hardware=get_board("STM32F746"), verify="all"))
    assert r.verified and r.verified["arena_bytes"] == 10_000_000
    assert not r.feasible and r.violations[0].resource == "sram"
    # "near" skips the check when the estimate is far from every limit
    r2 = FeasibilityAgent().check(FeasibilityRequest(arch=TINY, hardware=get_board("STM32F746"), verify="near"))
    assert r2.verified is None and r2.feasible
