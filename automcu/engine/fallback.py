"""What keeps a search going once its proposer runs dry (rounds in a row that add no new feasible candidate).

Per space, one :class:`Fallback`:

* ``nb201`` (:class:`FeasibleSetFallback`): the estimator's exact feasible set (a vectorized sweep of all
  15,625 archs); seeded samples of its unexplored part, and "exhausted" only when every feasible arch was
  proposed (counted).
* ``mcu`` (:class:`SampledFallback`): 1.4 M archs are too many to sweep, so each step draws seeded random
  archs, checks them with the feasibility agent's estimate and proposes those that fit and are new. Every
  statement says what was tried (how many drawn, how many new, how many fit); a step whose draws hold no new
  fitting arch stops the search saying so, never that the feasible space is exhausted.

Both are deterministic in (job seed, step), so a resumed job continues exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from agents.feasibility import FeasibilityAgent, checked
from agents.messages import FeasibilityRequest, Proposal, ProposalBatch
from automcu.engine.state import JobState
from automcu.hardware.spec import HardwareSpec

MAX_IDLE_ROUNDS = 20  # proposal rounds in a row that add no new feasible candidate → the proposer ran dry
#: random mcu archs drawn per fallback step (each costs one estimate, about 1.5 ms)
MCU_DRAWS_PER_STEP = 400


class Fallback(Protocol):
    def none_fit(self) -> str | None:
        """Why nothing of the space can fit the target (checked before any step), or None."""

    def ran_dry(self, proposer: str, state: JobState) -> tuple[str, dict[str, Any]]:
        """The note when the proposer ran dry: its sentence and the event's figures."""

    def propose(self, state: JobState, seed: int, step: int, n: int) -> ProposalBatch | str:
        """Up to ``n`` new archs that fit, or the sentence saying why the search stops here."""


@dataclass
class FeasibleSetFallback:
    """The NB201 space: the exact feasible set (official indices, ascending)."""

    feasible: np.ndarray
    space_size: int

    def none_fit(self) -> str | None:
        if len(self.feasible):
            return None
        return (f"no arch of the space fits these limits (0 of {self.space_size:,} feasible by the estimator); "
                "nothing was evaluated")

    def ran_dry(self, proposer: str, state: JobState) -> tuple[str, dict[str, Any]]:
        left = len(state.unexplored(self.feasible))
        why = (f"{proposer} proposer added no new feasible candidate in {MAX_IDLE_ROUNDS} rounds; continuing "
               f"from the feasible set ({left:,} of {len(self.feasible):,} feasible archs not yet proposed)")
        return why, {"feasible": len(self.feasible), "unexplored": left}

    def propose(self, state: JobState, seed: int, step: int, n: int) -> ProposalBatch | str:
        from search_spaces.nb201.index import arch_of_index

        left = state.unexplored(self.feasible)
        if not len(left):
            return f"the feasible space is exhausted: all {len(self.feasible):,} feasible archs were proposed"
        rng = np.random.default_rng([seed, step])
        picks = rng.choice(len(left), size=min(n, len(left)), replace=False)
        reason = f"sampled from the {len(left):,} unexplored feasible archs (the proposer ran dry)"
        return ProposalBatch(proposer="feasible-set", proposals=[
            Proposal(arch=arch_of_index(int(left[int(k)])).to_string(), reason=reason) for k in picks])


@dataclass
class SampledFallback:
    """The mcu space: seeded random draws checked by the feasibility agent's estimate."""

    agent: FeasibilityAgent
    dataset: str
    hardware: HardwareSpec | None
    max_latency_ms: float | None
    draws: int = MCU_DRAWS_PER_STEP

    def _fits(self, text: str) -> bool:
        req = FeasibilityRequest(arch=text, dataset=self.dataset, hardware=self.hardware,
                                 max_latency_ms=self.max_latency_ms)
        return checked(self.agent, req).feasible

    def none_fit(self) -> str | None:
        from search_spaces.mcu.space import CELLS, CHANNELS, EDGES, SKIP, STEM_STRIDES, MCUArch

        ops = [0] * len(EDGES)
        ops[EDGES.index((3, 0))] = SKIP  # output = input: the cell adds no op
        smallest = MCUArch(tuple(ops), C=CHANNELS[0], N=CELLS[0], stem_stride=max(STEM_STRIDES))
        req = FeasibilityRequest(arch=smallest.to_string(), dataset=self.dataset, hardware=self.hardware,
                                 max_latency_ms=self.max_latency_ms)
        report = checked(self.agent, req)
        if report.feasible:
            return None
        over = "; ".join(v.describe() for v in report.violations)
        return (f"the cheapest network of the mcu space ({smallest.macro_string()} with a skip-only cell: only "
                f"the stem, the reduction blocks and the head, which every mcu arch has) does not fit these limits "
                f"({over}); nothing was evaluated")

    def ran_dry(self, proposer: str, state: JobState) -> tuple[str, dict[str, Any]]:
        from search_spaces.mcu.space import SPACE_SIZE

        why = (f"{proposer} proposer added no new feasible candidate in {MAX_IDLE_ROUNDS} rounds; continuing "
               f"with seeded random draws from the mcu space ({SPACE_SIZE:,} archs, {len(state.seen):,} proposed "
               f"so far), {self.draws} a step, each checked by the estimator")
        return why, {"space_size": SPACE_SIZE, "proposed": len(state.seen), "draws_per_step": self.draws}

    def propose(self, state: JobState, seed: int, step: int, n: int) -> ProposalBatch | str:
        from search_spaces.mcu.space import SPACE_SIZE, MCUArch

        rng = np.random.default_rng([seed, step])
        picked: list[str] = []
        new = fits = drawn = 0
        for code in rng.integers(0, SPACE_SIZE, size=self.draws):
            drawn += 1
            arch = MCUArch.from_code(int(code))
            text = arch.to_string()
            if not arch.output_connected or state.seen_mask[arch.code] or text in picked:
                continue
            new += 1
            if self._fits(text):
                fits += 1
                picked.append(text)
                if len(picked) >= n:
                    break
        if not picked:
            return (f"the proposer ran dry and {drawn} seeded random draws from the {SPACE_SIZE:,}-arch mcu space "
                    f"at step {step} held {new} connected archs not yet proposed, none of which fits these limits "
                    f"by the estimate (a sample, not a count of the space)")
        reason = (f"random draw from the mcu space that fits the estimate (the proposer ran dry; {drawn} drawn "
                  f"this step, {new} new, {fits} fit)")
        return ProposalBatch(proposer="mcu-sample", proposals=[Proposal(arch=t, reason=reason) for t in picked])


def fallback_for(space: str, agent: FeasibilityAgent, dataset: str, hardware: HardwareSpec | None,
                 max_latency_ms: float | None) -> Fallback:
    if space == "mcu":
        return SampledFallback(agent, dataset, hardware, max_latency_ms)
    from search_spaces.nb201.space import SPACE_SIZE

    return FeasibleSetFallback(agent.feasible_set(dataset, hardware, max_latency_ms), SPACE_SIZE)


__all__ = ["MAX_IDLE_ROUNDS", "MCU_DRAWS_PER_STEP", "Fallback", "FeasibleSetFallback", "SampledFallback",
           "fallback_for"]
