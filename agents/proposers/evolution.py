"""Constraint-aware regularized evolution (Real et al. 2019), the offline default proposer.

Population = the last ``population_size`` evaluated archs (ageing: the oldest drops out).
Each child: tournament of ``sample_size`` → parent with the best validation accuracy →
``n_mutations`` single-edge mutations → those the hardware screen predicts to violate a limit
are dropped (mutations are steered away from resources whose margin is used up) → the
remaining children are ranked by a cheap signal (live-edge conv FLOPs) and the best is proposed.
Before the population is full, proposals are random archs screened and ranked the same way.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from agents.proposers.base import rng_for
from agents.proposers.cheap_signals import live_conv_cost
from automcu.messages import Proposal, ProposalBatch, ProposalRequest
from search_spaces.nb201.space import Arch

Screen = Callable[[Arch], list[str]]  # arch -> predicted violated resources (empty = fits)


def hardware_screen(request: ProposalRequest) -> Screen:
    """Predicted violations from the same estimator the feasibility agent uses (vectorized, cached)."""
    if request.hardware is None and request.max_latency_ms is None:
        return lambda _arch: []
    from agents.proposers.hardware_screen import violated_resources

    return lambda arch: violated_resources(arch, request.hardware, request.max_latency_ms, request.dataset)


class EvolutionProposer:
    name = "evolution"

    def __init__(
        self,
        population_size: int = 5,
        sample_size: int = 3,
        n_mutations: int = 8,
        n_initial_samples: int = 20,
        use_signal: bool = True,
        feasibility_aware: bool = True,
    ) -> None:
        self.population_size = population_size
        self.sample_size = sample_size
        self.n_mutations = n_mutations
        self.n_initial_samples = n_initial_samples
        self.use_signal = use_signal
        self.feasibility_aware = feasibility_aware

    def propose(self, request: ProposalRequest) -> ProposalBatch:
        rng = rng_for(request, self.name)
        screen = hardware_screen(request) if self.feasibility_aware else (lambda _a: [])
        seen = {Arch.from_string(a) for a in request.seen}
        seen_keys = {a.canonical_key() for a in seen}
        history = [(Arch.from_string(e.arch), e.val_acc) for e in request.evaluated]
        notes: list[str] = []
        out: list[Proposal] = []
        for _ in range(request.n):
            proposal = None
            for _attempt in range(50):
                proposal = self._one(rng, history, seen, seen_keys, screen)
                if proposal is not None:
                    break
            if proposal is None:
                notes.append("no unseen arch that fits was found near the population")
                break
            arch = Arch.from_string(proposal.arch)
            seen.add(arch)
            seen_keys.add(arch.canonical_key())
            out.append(proposal)
        return ProposalBatch(proposer=self.name, proposals=out, notes=notes)

    # ------------------------------------------------------------------------------------------
    def _fresh(self, arch: Arch, seen: set[Arch], seen_keys: set[str]) -> bool:
        return arch not in seen and arch.canonical_key() not in seen_keys and arch.output_connected

    def _pick(self, options: list[tuple[Arch, str]], rng: random.Random) -> tuple[Arch, str] | None:
        if not options:
            return None
        if not self.use_signal:
            return rng.choice(options)
        return max(options, key=lambda o: live_conv_cost(o[0]))

    def _one(
        self,
        rng: random.Random,
        history: list[tuple[Arch, float]],
        seen: set[Arch],
        seen_keys: set[str],
        screen: Screen,
    ) -> Proposal | None:
        rejected_by_screen = 0
        if len(history) < self.population_size:
            options = []
            for _ in range(self.n_initial_samples):
                arch = Arch.sample(rng)
                if not self._fresh(arch, seen, seen_keys):
                    continue
                if screen(arch):
                    rejected_by_screen += 1
                    continue
                options.append((arch, "initial population: random sample"))
            picked = self._pick(options, rng)
            if picked is None:
                return None
            how = f"best by live conv FLOPs of {len(options)} fitting samples" if self.use_signal else "random"
            return Proposal(arch=picked[0].to_string(), reason=f"{picked[1]} ({how})")
        population = history[-self.population_size:]
        contenders = rng.sample(population, min(self.sample_size, len(population)))
        parent, parent_acc = max(contenders, key=lambda p: p[1])
        options = []
        for _ in range(self.n_mutations):
            child, how = parent.mutate(rng)
            if not self._fresh(child, seen, seen_keys):
                continue
            violated = screen(child)
            if violated:
                rejected_by_screen += 1
                continue
            options.append((child, how))
        picked = self._pick(options, rng)
        if picked is None:
            return None
        steer = f"; {rejected_by_screen} mutations dropped as over budget" if rejected_by_screen else ""
        return Proposal(
            arch=picked[0].to_string(),
            parent=parent.to_string(),
            reason=f"mutation {picked[1]} of tournament winner (val {parent_acc:.2f}){steer}",
        )
