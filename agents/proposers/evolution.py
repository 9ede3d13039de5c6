"""Constraint-aware regularized evolution (Real et al. 2019), the offline default proposer.

Population = the last ``population_size`` evaluated archs (ageing: the oldest drops out).
Each child: tournament of ``sample_size`` → parent with the best validation accuracy →
``n_mutations`` single-edge mutations → those the hardware screen predicts to violate a limit
are dropped (mutations are steered away from resources whose margin is used up) → the
remaining children are ranked by the cheap live-conv-FLOPs signal (``ranking="signal"``: within
what fits, more compute goes with higher accuracy) and the best is proposed; ``ranking="random"``
picks one at random (plain regularized evolution). Before the population is full, proposals are
the best-ranked of ``n_initial_samples`` random archs that pass the screen (so are proposals
when no unseen child of the tournament winner fits any more). Cells that compute
the same function as one already proposed are skipped.

Noise: the search sees one training run's validation accuracy, and the product keeps the arch
with the best one. When the incumbent has not been beaten for ``remeasure_after`` evaluations,
a share ``remeasure_share`` of the proposals re-measure it: the same function written with
other (dead-edge) ops, i.e. another training run of it, so that a merely lucky challenger has
to beat more than one draw of the incumbent. ``remeasure_after=0`` turns this off.
"""

from __future__ import annotations

import random
from functools import lru_cache
from typing import Literal

from agents.messages import Proposal, ProposalBatch, ProposalRequest
from agents.proposers.base import SeenArchs, rng_for
from agents.proposers.cheap_signals import live_conv_cost
from agents.proposers.hardware_screen import HardwareScreen
from agents.proposers.neighbours import fitting_neighbours, is_fresh, take
from search_spaces.nb201.space import SPACE_SIZE, Arch

Ranking = Literal["signal", "random"]


class EvolutionProposer:
    name = "evolution"

    def __init__(
        self,
        population_size: int = 5,
        sample_size: int = 3,
        n_mutations: int = 16,
        n_initial_samples: int = 20,
        ranking: Ranking = "signal",
        remeasure_after: int = 15,
        remeasure_share: float = 0.5,
        feasibility_aware: bool = True,
    ) -> None:
        if ranking not in ("signal", "random"):
            raise ValueError(f"unknown ranking {ranking!r}; choose signal or random")
        if not 0.0 <= remeasure_share <= 1.0:
            raise ValueError(f"remeasure_share must be in [0, 1], got {remeasure_share}")
        self.population_size = population_size
        self.sample_size = sample_size
        self.n_mutations = n_mutations
        self.n_initial_samples = n_initial_samples
        self.ranking: Ranking = ranking
        self.remeasure_after = remeasure_after
        self.remeasure_share = remeasure_share
        self.feasibility_aware = feasibility_aware

    @property
    def signals(self) -> str:
        """The cheap signals this configuration screens and ranks proposals by (for reports)."""
        used = []
        if self.feasibility_aware:
            used.append("estimator feasibility margins (drop children predicted over a limit)")
        if self.ranking == "signal":
            used.append("live-edge conv FLOPs (rank children)")
        return ", ".join(used) or "none"

    def propose(self, request: ProposalRequest) -> ProposalBatch:
        rng = rng_for(request, self.name)
        screen = HardwareScreen(request.hardware if self.feasibility_aware else None,
                                request.max_latency_ms if self.feasibility_aware else None, request.dataset)
        seen = SeenArchs(request)
        history = _History(request)
        notes: list[str] = []
        out: list[Proposal] = []
        for _ in range(request.n):
            proposal = None
            for _attempt in range(50):
                proposal = self._one(rng, history, seen, screen)
                if proposal is not None:
                    break
            if proposal is None:
                notes.append("no unseen arch that fits was found near the population")
                break
            take(out, seen, proposal)
        return ProposalBatch(proposer=self.name, proposals=out, notes=notes)

    # ------------------------------------------------------------------------------------------
    def _best(self, options: list[tuple[Arch, str]], rng: random.Random) -> tuple[Arch, str] | None:
        if not options:
            return None
        if self.ranking == "random":
            return rng.choice(options)
        return max(options, key=lambda o: live_conv_cost(o[0]))

    def _one(self, rng: random.Random, history: _History, seen: SeenArchs,
             screen: HardwareScreen) -> Proposal | None:
        dropped: dict[str, int] = {}
        options: list[tuple[Arch, str]] = []
        ranked_by = "live conv FLOPs" if self.ranking == "signal" else "random choice"

        def fits(arch: Arch) -> bool:
            violated = screen.violated(arch)
            for resource in violated:
                dropped[resource] = dropped.get(resource, 0) + 1
            return not violated

        def consider(arch: Arch, how: str) -> None:
            if is_fresh(arch, seen) and fits(arch):
                options.append((arch, how))

        if len(history) < self.population_size:
            for _ in range(self.n_initial_samples):
                consider(Arch.sample(rng), "initial population: random sample")
            picked = self._best(options, rng)
            if picked is None:
                return None
            return Proposal(arch=picked[0].to_string(),
                            reason=f"{picked[1]} (of {len(options)} fitting samples, by {ranked_by})")
        if self.remeasure_after and rng.random() < self.remeasure_share:
            again = self._remeasure(history, seen, screen)
            if again is not None:
                return again
        population = history.last(self.population_size)
        contenders = rng.sample(population, min(self.sample_size, len(population)))
        parent, parent_acc = max(contenders, key=lambda p: p[1])
        drawn = [parent.mutate(rng) for _ in range(self.n_mutations)]  # random one-edge neighbours, repeats kept
        how = dict(drawn)  # a child is always the same edge change
        options = [(child, how[child]) for child in fitting_neighbours(parent, fits, seen, [c for c, _ in drawn])]
        picked = self._best(options, rng)
        if picked is None:  # the parent's fitting neighbourhood is used up: jump elsewhere
            for _ in range(self.n_initial_samples):
                consider(Arch.sample(rng), "random sample")
            picked = self._best(options, rng)
            if picked is None:
                return None
            return Proposal(arch=picked[0].to_string(),
                            reason=f"{picked[1]}: no unseen fitting child of the tournament winner (val "
                                   f"{parent_acc:.2f}); best of {len(options)} fitting samples by {ranked_by}")
        steer = ""
        if dropped:
            parts = ", ".join(f"{n} over {r}" for r, n in sorted(dropped.items()))
            steer = f"; dropped as over budget: {parts} (parent margins {_fmt(screen.margins(parent))})"
        return Proposal(
            arch=picked[0].to_string(),
            parent=parent.to_string(),
            reason=f"mutation {picked[1]} of tournament winner (val {parent_acc:.2f}), best of {len(options)} "
                   f"fitting children by {ranked_by}{steer}",
        )

    def _remeasure(self, history: _History, seen: SeenArchs, screen: HardwareScreen) -> Proposal | None:
        best = history.best_position()
        if best is None:
            return None
        stalled = len(history) - 1 - best
        if stalled < self.remeasure_after:
            return None
        arch, acc = history.at(best)
        for twin in same_function(arch):
            if twin.to_string() not in seen and not screen.violated(twin):
                return Proposal(arch=twin.to_string(), parent=arch.to_string(),
                                reason=f"re-measure the incumbent (val {acc:.2f}, unbeaten for {stalled} "
                                       "evaluations): the same function with other dead-edge ops, another "
                                       "training run")
        return None


class _History:
    """The evaluated archs of the request, parsed only where they are read (the population, the incumbent)."""

    def __init__(self, request: ProposalRequest) -> None:
        self._request = request

    def __len__(self) -> int:
        return len(self._request.evaluated)

    def at(self, i: int) -> tuple[Arch, float]:
        e = self._request.evaluated[i]
        return Arch.from_string(e.arch), e.val_acc

    def last(self, k: int) -> list[tuple[Arch, float]]:
        n = len(self)
        return [self.at(i) for i in range(max(0, n - k), n)]

    def best_position(self) -> int | None:
        return self._request.best_position()


@lru_cache(maxsize=1)
def _functions() -> dict[str, tuple[int, ...]]:
    """Canonical key → base-5 codes of every cell string that computes that function."""
    out: dict[str, list[int]] = {}
    for code in range(SPACE_SIZE):
        out.setdefault(Arch.from_code(code).canonical_key(), []).append(code)
    return {k: tuple(v) for k, v in out.items()}


def same_function(arch: Arch) -> list[Arch]:
    """Every other cell string of the space that computes the same function as ``arch``."""
    return [Arch.from_code(c) for c in _functions()[arch.canonical_key()] if c != arch.code]


def _fmt(margins: dict[str, float]) -> str:
    return ", ".join(f"{r} {100 * m:.0f} %" for r, m in margins.items()) or "none"
