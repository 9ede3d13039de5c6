"""Proposers over the ``mcu`` search space (:mod:`search_spaces.mcu.space`): random and regularized evolution.

Same interface as every proposer (``propose(ProposalRequest) -> ProposalBatch``, randomness from
``(seed, step)``); the archs they propose are mcu strings (``C16-N2-S1:|...|``), which the feasibility
agent and the training evaluator take as they are. The registry offers them as ``random`` and ``evolution``
for jobs whose space is ``mcu`` (``--space mcu``).

The evolution proposer screens what it proposes with the feasibility agent's estimate when the job has a target
(the agent stays the authority that accepts or rejects a proposal): population fillers are drawn until one fits,
children are mutated again (up to :data:`CHILD_TRIES` times) until one fits, then the macro is shrunk.
"""

from __future__ import annotations

import random

from agents.feasibility import FeasibilityAgent, checked
from agents.messages import (
    EvaluatedCandidate,
    FeasibilityReport,
    FeasibilityRequest,
    Proposal,
    ProposalBatch,
    ProposalRequest,
)
from agents.proposers.base import SeenArchs, rng_for
from search_spaces.mcu.space import CELLS, CHANNELS, SPACE_SIZE, MCUArch, is_mcu_arch

#: resources whose violation a smaller macro fixes
MEMORY = frozenset({"sram", "flash", "latency"})
#: screened evolution: random draws for one population filler, mutations for one child
FILL_TRIES = 200
CHILD_TRIES = 16


class Screen:
    """The feasibility agent's estimate of the request's target (inactive without one)."""

    def __init__(self, request: ProposalRequest) -> None:
        self.request = request
        self.active = request.hardware is not None or request.max_latency_ms is not None
        self._agent = FeasibilityAgent()

    def report(self, arch: MCUArch) -> FeasibilityReport:
        """The agent's (cached) report: the estimate (MACs, params, memory) and, with a target, the verdict."""
        r = self.request
        return checked(self._agent, FeasibilityRequest(arch=arch.to_string(), dataset=r.dataset, hardware=r.hardware,
                                                       max_latency_ms=r.max_latency_ms))

    def fits(self, arch: MCUArch) -> bool:
        return not self.active or self.report(arch).feasible


def is_new(arch: MCUArch, seen: SeenArchs) -> bool:
    """Neither the arch nor another computing the same function (an op changed on a dead edge, say) was seen:
    a trained search pays for every evaluation, and two archs of one function train to the same network."""
    return arch.to_string() not in seen and not seen.has_function(arch.canonical_key())


def sample_new(rng: random.Random, seen: SeenArchs) -> MCUArch | None:
    """A uniform draw that is connected and new (None after 1,000 draws without one)."""
    for _ in range(1000):
        arch = MCUArch.sample(rng)
        if arch.output_connected and is_new(arch, seen):
            return arch
    return None


def mcu_history(request: ProposalRequest) -> list[EvaluatedCandidate]:
    """The request's evaluated candidates written in the mcu grammar (a job's history is all mcu)."""
    return [e for e in request.evaluated if is_mcu_arch(e.arch)]


class MCURandomProposer:
    """Uniform over the mcu space (cells whose output ignores the input are skipped)."""

    name = "mcu-random"

    def propose(self, request: ProposalRequest) -> ProposalBatch:
        rng = rng_for(request, self.name)
        seen = SeenArchs(request)
        out: list[Proposal] = []
        while len(out) < request.n and len(seen) < SPACE_SIZE:
            arch = sample_new(rng, seen)
            if arch is None:
                break
            seen.add(arch.to_string(), arch.canonical_key())
            out.append(Proposal(arch=arch.to_string(), reason="uniform random sample of the mcu space"))
        return ProposalBatch(proposer=self.name, proposals=out)


def _shrink(arch: MCUArch, rng: random.Random) -> tuple[MCUArch, str] | None:
    """One macro move that lowers SRAM/Flash/latency: fewer channels, fewer cells or a strided stem."""
    moves: list[tuple[MCUArch, str]] = []
    i = CHANNELS.index(arch.C)
    if i > 0:
        moves.append((arch.with_macro(C=CHANNELS[i - 1]), f"channels C: {arch.C} -> {CHANNELS[i - 1]} (shrink)"))
    j = CELLS.index(arch.N)
    if j > 0:
        moves.append((arch.with_macro(N=CELLS[j - 1]), f"cells per stage N: {arch.N} -> {CELLS[j - 1]} (shrink)"))
    if arch.stem_stride == 1:
        moves.append((arch.with_macro(stem_stride=2), "stem stride: 1 -> 2 (shrink)"))
    return rng.choice(moves) if moves else None


class MCUEvolutionProposer:
    """Regularized evolution (Real et al. 2019) over the mcu space: a tournament of ``sample`` among the last
    ``population`` evaluated archs, the winner mutated once (an edge op or a macro choice). While the recent
    rejections are over a memory or latency limit, half the children shrink the macro instead (the feedback
    loop of the feasibility agent). Random archs until ``sample`` have been evaluated."""

    name = "mcu-evolution"

    def __init__(self, population: int = 20, sample: int = 5) -> None:
        if population < 1 or not 1 <= sample <= population:
            raise ValueError(f"need 1 <= sample <= population, got sample={sample}, population={population}")
        self.population, self.sample = population, sample

    def _filler(self, rng: random.Random, seen: SeenArchs, screen: Screen) -> tuple[MCUArch, str] | None:
        """A new random arch, the first of up to FILL_TRIES draws that fits the estimate."""
        arch = None
        for tries in range(1, (FILL_TRIES if screen.active else 1) + 1):
            arch = sample_new(rng, seen)
            if arch is None:
                return None
            if screen.fits(arch):
                note = f"; fits the estimate (draw {tries})" if screen.active else ""
                return arch, f"random (population still filling){note}"
        assert arch is not None
        return arch, f"random (population still filling); none of {FILL_TRIES} draws fit the estimate"

    def _child(self, p: MCUArch, rng: random.Random, over_limit: bool, seen: SeenArchs,
               screen: Screen) -> tuple[MCUArch, str] | None:
        """A new mutation of ``p`` that fits the estimate: up to CHILD_TRIES mutations, then shrinking moves."""
        for _ in range(CHILD_TRIES if screen.active else 1):
            move = _shrink(p, rng) if over_limit and rng.random() < 0.5 else None
            child, why = move if move is not None else p.mutate(rng)
            if child.output_connected and is_new(child, seen) and screen.fits(child):
                return child, why + ("; fits the estimate" if screen.active else "")
        if not screen.active:
            return None
        arch, whys = p, []
        while (move := _shrink(arch, rng)) is not None:  # every mutation overflowed: make the winner smaller
            arch, why = move
            whys.append(why)
            if is_new(arch, seen) and screen.fits(arch):
                return arch, "; ".join(whys) + f" (no {CHILD_TRIES} mutations fit the estimate)"
        return None

    def propose(self, request: ProposalRequest) -> ProposalBatch:
        rng = rng_for(request, self.name)
        seen = SeenArchs(request)
        screen = Screen(request)
        pop: list[EvaluatedCandidate] = mcu_history(request)[-self.population:]
        over_limit = any(v.resource in MEMORY for r in request.rejected[-5:] for v in r.violations)
        out: list[Proposal] = []
        for _ in range(50 * request.n):
            if len(out) >= request.n:
                break
            if len(pop) < self.sample:
                filled = self._filler(rng, seen, screen)
                if filled is None:
                    break
                arch, reason, parent = filled[0], filled[1], None
            else:
                best = max(rng.sample(pop, self.sample), key=lambda e: e.val_acc)
                made = self._child(MCUArch.from_string(best.arch), rng, over_limit, seen, screen)
                if made is None:
                    continue
                arch, parent = made[0], best.arch
                reason = f"mutation of the tournament winner ({best.val_acc:.2f} %): {made[1]}"
            if not is_new(arch, seen):
                continue
            seen.add(arch.to_string(), arch.canonical_key())
            out.append(Proposal(arch=arch.to_string(), reason=reason, parent=parent))
        return ProposalBatch(proposer=self.name, proposals=out)


__all__ = ["MCUEvolutionProposer", "MCURandomProposer", "Screen", "is_new", "mcu_history", "sample_new"]
