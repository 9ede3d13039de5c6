"""mcu-space archs through the feasibility agent and the training evaluator (digits, seconds)."""

from __future__ import annotations

import pytest

from agents.feasibility import FeasibilityAgent
from agents.messages import (
    EvaluatedCandidate,
    EvaluationRequest,
    FeasibilityRequest,
    ProposalRequest,
    RejectedCandidate,
)
from agents.proposers.mcu import MCUEvolutionProposer, MCURandomProposer
from automcu.hardware.catalog import resolve_hardware
from automcu.hardware.mcu import estimate_mcu
from search_spaces.mcu.space import MCUArch, MCUArchError
from search_spaces.nb201.index import index_of
from search_spaces.nb201.space import parse_arch

SMALL = "C8-N1-S2:|dw_sep_conv_3x3~0|+|nor_conv_3x3~0|dw_sep_conv_3x3~1|+|skip_connect~0|none~1|dw_sep_conv_3x3~2|"
BIG = "C32-N3-S1:|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
F411_CLASS = resolve_hardware("stm32f411", sram_kb=64, flash_kb=256)


def test_feasibility_agent_checks_mcu_archs() -> None:
    agent = FeasibilityAgent()
    ok = agent.check(FeasibilityRequest(arch=SMALL, dataset="fashion-mnist", hardware=F411_CLASS))
    assert ok.feasible and ok.index == MCUArch.from_string(SMALL).code
    est = estimate_mcu(SMALL, F411_CLASS, 1, 28, 10)
    assert (ok.flash_bytes, ok.peak_sram_bytes) == (est.flash_bytes, est.peak_sram_bytes)
    assert 0 < ok.margins["sram"] < 1 and 0 < ok.margins["flash"] < 1
    bad = agent.check(FeasibilityRequest(arch=BIG, dataset="fashion-mnist", hardware=F411_CLASS,
                                         max_latency_ms=50))
    assert not bad.feasible
    resources = {v.resource for v in bad.violations}
    assert {"sram", "flash", "latency"} <= resources
    assert all(v.layer for v in bad.violations)
    # the input shape comes from the dataset: digits (8 px) needs far less SRAM than fashion-mnist (28 px)
    small = agent.check(FeasibilityRequest(arch=BIG, dataset="digits", hardware=F411_CLASS))
    assert small.peak_sram_bytes < bad.peak_sram_bytes
    with pytest.raises(MCUArchError):
        agent.check(FeasibilityRequest(arch="C10-N1-S1:|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"))
    # NB201 strings are unchanged
    text = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    nb = agent.check(FeasibilityRequest(arch=text, dataset="cifar10"))
    assert nb.arch == text and nb.index == index_of(parse_arch(text))


def test_digits_search_loop_over_the_mcu_space() -> None:
    """mcu evolution proposer → feasibility agent (F411 with 24 KB SRAM) → real training on digits, with the
    planner's feedback (evaluated and rejected archs go back to the proposer); a few evaluations, seconds."""
    pytest.importorskip("torch")
    from agents.training_evaluator import TrainingEvaluator

    agent = FeasibilityAgent()
    ev = TrainingEvaluator(dataset="digits", epochs=3, batch_size=64, lr=0.1, train_limit=600, threads=1)
    tight = F411_CLASS.model_copy(update={"sram_kb": 24.0}) if F411_CLASS is not None else None
    proposer = MCUEvolutionProposer(population=4, sample=2)
    evaluated: list[EvaluatedCandidate] = []
    rejected: list[RejectedCandidate] = []
    seen: list[str] = []
    step = 0
    while len(evaluated) < 4 and step < 20:
        req = ProposalRequest(dataset="digits", hardware=tight, n=2, seed=0, step=step, evaluated=evaluated,
                              rejected=rejected, seen=seen)
        batch = proposer.propose(req)
        assert batch.proposals and all(p.arch not in seen for p in batch.proposals)
        assert proposer.propose(req) == batch  # same (seed, step, history), same proposals
        step += 1
        for p in batch.proposals:
            seen.append(p.arch)
            if p.parent is not None:
                assert p.parent in {e.arch for e in evaluated}
            report = agent.check(FeasibilityRequest(arch=p.arch, dataset="digits", hardware=tight))
            if not report.feasible:
                rejected.append(RejectedCandidate(arch=p.arch, violations=report.violations))
                continue
            res = ev.evaluate(EvaluationRequest(arch=p.arch, dataset="digits", seed=0))
            assert res.arch == p.arch and res.index == MCUArch.from_string(p.arch).code
            assert res.params > 0 and res.train_seconds > 0
            evaluated.append(EvaluatedCandidate(arch=p.arch, val_acc=res.val_acc, flash_bytes=report.flash_bytes,
                                                peak_sram_bytes=report.peak_sram_bytes))
    assert len(evaluated) >= 4
    assert max(e.val_acc for e in evaluated) > 30.0  # well above chance (10 %) after 3 epochs on 600 images
    assert all(e.peak_sram_bytes is not None and e.peak_sram_bytes <= 24 * 1024 for e in evaluated)


def test_mcu_proposers_shrink_after_memory_rejections() -> None:
    big = MCUArch.from_string(BIG)
    evaluated = [EvaluatedCandidate(arch=big.with_op(0, k).to_string(), val_acc=50.0 + k) for k in range(6)]
    over = FeasibilityAgent().check(FeasibilityRequest(arch=BIG, dataset="fashion-mnist", hardware=F411_CLASS))
    assert over.violations
    req = ProposalRequest(dataset="fashion-mnist", n=16, seed=1, evaluated=evaluated,
                          rejected=[RejectedCandidate(arch=BIG, violations=over.violations)],
                          seen=[e.arch for e in evaluated])
    batch = MCUEvolutionProposer(population=6, sample=3).propose(req)
    assert len(batch.proposals) == 16
    shrunk = [p for p in batch.proposals if "(shrink)" in p.reason]
    assert shrunk and all(MCUArch.from_string(p.arch).C <= 32 for p in shrunk)
    rnd = MCURandomProposer().propose(ProposalRequest(dataset="digits", n=5, seed=3))
    assert len({p.arch for p in rnd.proposals}) == 5
    assert all(MCUArch.from_string(p.arch).output_connected for p in rnd.proposals)


def test_cli_estimate_takes_an_mcu_arch() -> None:
    import json

    from typer.testing import CliRunner

    from automcu.cli.app import app

    runner = CliRunner()
    res = runner.invoke(app, ["estimate", "--arch", SMALL, "--dataset", "fashion-mnist", "--board", "stm32f411",
                              "--sram-kb", "64", "--flash-kb", "256", "--json"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    est = estimate_mcu(SMALL, F411_CLASS, 1, 28, 10)
    assert r["arch"] == SMALL and r["index"] == MCUArch.from_string(SMALL).code and r["feasible"] is True
    assert (r["flash_bytes"], r["peak_sram_bytes"], r["sram_arena_bytes"]) == (
        est.flash_bytes, est.peak_sram_bytes, est.arena_bytes)
    res = runner.invoke(app, ["estimate", "--arch", SMALL.replace("C8", "C9"), "--dataset", "fashion-mnist"])
    assert res.exit_code == 2 and "C = 9 is not in the mcu space" in res.output
    res = runner.invoke(app, ["estimate", "--arch", SMALL, "--dataset", "svhn"])
    assert res.exit_code == 2 and "unknown dataset" in res.output


def test_a_hand_built_proposal_request_keys_mcu_archs_in_their_own_space() -> None:
    nb = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    req = ProposalRequest(dataset="fashion-mnist", seen=[SMALL, nb])  # no planner lookups attached
    assert req.seen_keys() == {MCUArch.from_string(SMALL).canonical_key(), parse_arch(nb).canonical_key()}
    # a proposer fed such a request proposes archs whose keys it has not seen
    batch = MCUEvolutionProposer().propose(ProposalRequest(dataset="fashion-mnist", seen=[SMALL, nb], n=3))
    assert len(batch.proposals) == 3
    assert all(MCUArch.from_string(p.arch).canonical_key() not in req.seen_keys() for p in batch.proposals)
