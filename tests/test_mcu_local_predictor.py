"""The ``local`` and ``predictor`` proposers over the mcu space: what they propose fits the feasibility agent's
estimate, is new (string and function), follows their rule (the incumbent's neighbourhood; the surrogate's
expected improvement), repeats itself for the same history (a resumed job proposes the same), and a search with
either runs end to end through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agents.feasibility import FeasibilityAgent
from agents.messages import EvaluatedCandidate, FeasibilityRequest, ProposalRequest
from agents.proposers.mcu_local import MCULocalSearchProposer
from agents.proposers.mcu_predictor import MCUPredictorProposer
from automcu.cli.app import app
from automcu.hardware.spec import HardwareSpec
from automcu.jobs.spec import JobSpec
from search_spaces.mcu.space import MCUArch

runner = CliRunner()


def _hw(sram_kb: float = 40, flash_kb: float = 192) -> HardwareSpec:
    hw = JobSpec(dataset="digits", hardware={"sram_kb": sram_kb, "flash_kb": flash_kb, "clock_mhz": 64,
                                             "core": "cortex-m4f"}).resolve_hardware()
    assert hw is not None
    return hw


def _distance(a: MCUArch, b: MCUArch) -> int:
    """Edges plus macro choices that differ."""
    return sum(x != y for x, y in zip(a.ops, b.ops, strict=True)) + (a.C != b.C) + (a.N != b.N) + \
        (a.stem_stride != b.stem_stride)


def _history(hw: HardwareSpec, n: int, seed: int = 0) -> list[EvaluatedCandidate]:
    """``n`` fitting archs with accuracies that grow with C (a signal a surrogate can learn)."""
    import random

    rng, agent, out = random.Random(seed), FeasibilityAgent(), []
    while len(out) < n:
        a = MCUArch.sample(rng)
        if a.output_connected and agent.check(FeasibilityRequest(arch=a.to_string(), dataset="digits",
                                                                 hardware=hw)).feasible:
            out.append(EvaluatedCandidate(arch=a.to_string(), val_acc=70.0 + a.C + rng.random()))
    return out


def test_local_search_walks_the_incumbents_fitting_neighbourhood() -> None:
    hw, agent = _hw(), FeasibilityAgent()
    evaluated = _history(hw, 4)
    best = max(evaluated, key=lambda e: e.val_acc)
    req = ProposalRequest(dataset="digits", hardware=hw, n=5, seed=1, step=4, evaluated=evaluated,
                          seen=[e.arch for e in evaluated])
    batch = MCULocalSearchProposer().propose(req)
    assert len(batch.proposals) == 5
    keys = {MCUArch.from_string(e.arch).canonical_key() for e in evaluated}
    for p in batch.proposals:
        arch = MCUArch.from_string(p.arch)
        assert p.parent == best.arch and _distance(arch, MCUArch.from_string(best.arch)) == 1, p
        assert "neighbour of the incumbent" in p.reason and arch.canonical_key() not in keys
        keys.add(arch.canonical_key())
        assert agent.check(FeasibilityRequest(arch=p.arch, dataset="digits", hardware=hw)).feasible
    again = MCULocalSearchProposer().propose(req)  # a resumed job: same history, same proposals
    assert [p.arch for p in again.proposals] == [p.arch for p in batch.proposals]


def test_local_search_starts_from_random_fitting_draws_and_says_so() -> None:
    hw, agent = _hw(), FeasibilityAgent()
    batch = MCULocalSearchProposer(n_initial=2).propose(ProposalRequest(dataset="digits", hardware=hw, n=2, seed=0))
    assert [p.reason.split(":")[0] for p in batch.proposals] == ["start", "start"]
    assert all(agent.check(FeasibilityRequest(arch=p.arch, dataset="digits", hardware=hw)).feasible
               for p in batch.proposals)


def test_predictor_proposes_by_expected_improvement_what_fits_and_is_new() -> None:
    hw, agent = _hw(), FeasibilityAgent()
    evaluated = _history(hw, 8, seed=3)
    req = ProposalRequest(dataset="digits", hardware=hw, n=3, seed=2, step=8, evaluated=evaluated,
                          seen=[e.arch for e in evaluated])
    batch = MCUPredictorProposer(n_pool_samples=60).propose(req)
    assert len(batch.proposals) == 3
    keys = {MCUArch.from_string(e.arch).canonical_key() for e in evaluated}
    for p in batch.proposals:
        assert "expected improvement" in p.reason
        assert MCUArch.from_string(p.arch).canonical_key() not in keys
        keys.add(MCUArch.from_string(p.arch).canonical_key())
        assert agent.check(FeasibilityRequest(arch=p.arch, dataset="digits", hardware=hw)).feasible
    # accuracy grows with C in the history: the surrogate's picks lean to the widest C that fits
    mean_c = sum(MCUArch.from_string(p.arch).C for p in batch.proposals) / 3
    assert mean_c >= sum(MCUArch.from_string(e.arch).C for e in evaluated) / len(evaluated)
    again = MCUPredictorProposer(n_pool_samples=60).propose(req)
    assert [p.arch for p in again.proposals] == [p.arch for p in batch.proposals]


def test_predictor_before_its_surrogate_samples_and_says_why() -> None:
    hw = _hw()
    batch = MCUPredictorProposer(n_initial=4).propose(ProposalRequest(dataset="digits", hardware=hw, n=2, seed=0))
    assert len(batch.proposals) == 2 and all("initial sample" in p.reason for p in batch.proposals)


@pytest.mark.parametrize("proposer", ["local", "predictor"])
def test_a_search_with_it_runs_end_to_end(tmp_path: Path, proposer: str) -> None:
    pytest.importorskip("torch")
    db = f"sqlite:///{tmp_path / 'a.db'}"
    res = runner.invoke(app, ["search", "--space", "mcu", "--dataset", "digits", "--board", "STM32F411",
                              "--sram-kb", "40", "--flash-kb", "192", "--proposer", proposer, "--budget", "4",
                              "--epochs", "1", "--seed", "1", "--json", "--quiet", "--db", db])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["status"] == "succeeded" and out["n_evaluated"] == 4, out
    shown = json.loads(runner.invoke(app, ["show", out["job_id"], "--candidates", "--json", "--db", db]).stdout)
    assert shown["proposer_used"] == proposer and shown["space"] == "mcu"
    cands = [c for c in shown["candidates"] if c["status"] == "evaluated"]
    assert len(cands) == 4 and len({MCUArch.from_string(c["arch"]).canonical_key() for c in cands}) == 4
    assert all(c["sram_total_bytes"] <= 40 * 1024 and c["flash_total_bytes"] <= 192 * 1024 for c in cands)
