"""The predictor-guided proposer: a surrogate on the job's evaluations, expected improvement over the feasible set."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from agents.feasibility import feasible_set
from agents.messages import EvaluatedCandidate, ProposalRequest
from agents.proposers.base import ProposerUnavailable
from agents.proposers.predictor import PredictorProposer, expected_improvement
from automcu.hardware.catalog import get_board
from search_spaces.nb201.index import index_of
from search_spaces.nb201.space import CONV3, Arch

BOARD = get_board("STM32F411")
LIMIT = 196.858


def score(arch: Arch) -> float:
    """A synthetic accuracy the surrogate can learn: 3x3 convs help, pooling hurts."""
    return 80.0 + 2.0 * arch.count(CONV3) - 1.0 * arch.count(4)


def run(steps: int, seed: int = 0) -> list[EvaluatedCandidate]:
    prop = PredictorProposer()
    evaluated: list[EvaluatedCandidate] = []
    seen: list[str] = []
    for step in range(steps):
        batch = prop.propose(ProposalRequest(dataset="cifar10", hardware=BOARD, max_latency_ms=LIMIT, seed=seed,
                                             step=step, evaluated=evaluated, seen=seen))
        assert len(batch.proposals) == 1
        p = batch.proposals[0]
        assert p.arch not in seen
        seen.append(p.arch)
        evaluated.append(EvaluatedCandidate(arch=p.arch, val_acc=score(Arch.from_string(p.arch))))
    return evaluated


def test_proposals_fit_are_new_and_the_surrogate_finds_better_archs() -> None:
    fits = set(feasible_set("cifar10", BOARD, LIMIT).tolist())
    evaluated = run(25)
    assert all(index_of(Arch.from_string(e.arch)) in fits for e in evaluated)
    first, later = evaluated[:6], evaluated[6:]
    assert max(e.val_acc for e in later) > max(e.val_acc for e in first)
    assert "expected improvement" in PredictorProposer().propose(ProposalRequest(
        dataset="cifar10", hardware=BOARD, max_latency_ms=LIMIT, evaluated=evaluated,
        seen=[e.arch for e in evaluated])).proposals[0].reason


def test_expected_improvement_prefers_high_mean_and_high_uncertainty() -> None:
    ei = expected_improvement(np.array([1.0, 2.0, 1.0]), np.array([0.1, 0.1, 2.0]), best=1.5)
    assert ei[1] > ei[0] and ei[2] > ei[0]


def test_missing_scikit_learn_degrades_to_a_clear_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    evaluated = run(6)
    monkeypatch.setitem(sys.modules, "sklearn.gaussian_process", None)
    with pytest.raises(ProposerUnavailable) as info:
        PredictorProposer().propose(ProposalRequest(dataset="cifar10", hardware=BOARD, max_latency_ms=LIMIT,
                                                    evaluated=evaluated, seen=[e.arch for e in evaluated]))
    assert "scikit-learn" in info.value.reason
