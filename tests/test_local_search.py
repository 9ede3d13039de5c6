"""The feasible-set local search: proposes only archs that fit, never twice, and never runs dry early."""

from __future__ import annotations

import numpy as np

from agents.feasibility import FeasibilityAgent, feasible_mask, feasible_set
from agents.messages import EvaluatedCandidate, ProposalRequest
from agents.proposers.local_search import LocalSearchProposer
from automcu.hardware.catalog import get_board
from search_spaces.nb201.index import index_of
from search_spaces.nb201.space import Arch

BOARD = get_board("STM32F411")


def test_feasible_set_is_the_mask_and_cached() -> None:
    idx = feasible_set("cifar10", BOARD, 196.858)
    assert np.array_equal(idx, np.flatnonzero(feasible_mask(BOARD, 196.858, "cifar10")))
    assert FeasibilityAgent.feasible_set("cifar10", BOARD, 196.858) is idx
    assert 0 < len(idx) < 15625 and not idx.flags.writeable


def test_walk_stays_inside_the_feasible_set_and_moves_to_better_neighbours() -> None:
    fits = set(feasible_set("cifar10", BOARD, 196.858).tolist())
    prop = LocalSearchProposer()
    evaluated: list[EvaluatedCandidate] = []
    seen: list[str] = []
    for step in range(60):
        req = ProposalRequest(dataset="cifar10", hardware=BOARD, max_latency_ms=196.858, seed=3, step=step,
                              evaluated=evaluated, seen=seen)
        batch = prop.propose(req)
        assert len(batch.proposals) == 1, (step, batch.notes)
        p = batch.proposals[0]
        arch = Arch.from_string(p.arch)
        assert index_of(arch) in fits and p.arch not in seen
        if len(evaluated) >= prop.n_initial:
            best = max(evaluated, key=lambda e: e.val_acc)
            if p.parent is not None and p.parent == best.arch:
                assert arch in Arch.from_string(best.arch).neighbours()
        seen.append(p.arch)
        evaluated.append(EvaluatedCandidate(arch=p.arch, val_acc=float(arch.count(3))))  # more 3x3 convs = better


def test_tiny_feasible_set_is_proposed_to_the_end() -> None:
    idx = feasible_set("cifar10", BOARD, 40.0)
    assert 0 < len(idx) < 400
    prop = LocalSearchProposer()
    seen: list[str] = []
    keys: set[str] = set()
    for step in range(len(idx) + 5):
        batch = prop.propose(ProposalRequest(dataset="cifar10", hardware=BOARD, max_latency_ms=40.0, seed=0,
                                             step=step, seen=seen))
        if not batch.proposals:
            assert batch.notes
            break
        seen.append(batch.proposals[0].arch)
        keys.add(Arch.from_string(batch.proposals[0].arch).canonical_key())
    assert len(seen) == len(idx) and keys  # every feasible arch, none twice, then dry
