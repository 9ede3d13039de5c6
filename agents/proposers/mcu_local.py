"""Best-improvement local search over the ``mcu`` space (White et al. 2020), the ``local`` proposer there.

The mcu space (1.4 M archs) is walked, not enumerated. A neighbour is one edge op or one macro choice away
(:meth:`MCUArch.neighbours`: 30 op changes, up to 7 width / depth / stride changes). Each proposal takes the
evaluated archs from the best validation accuracy down; the first one with a fresh neighbour that the
feasibility agent's estimate says fits is the centre, and its fitting neighbour of most estimated MACs (the most
capacity the limits allow) is proposed. Every fitting neighbour of the incumbent is tried before the walk moves
on, and it moves as soon as one beats the incumbent. With none left (a local optimum of all that was seen), or for
the first ``n_initial`` proposals, the walk restarts from the best by MACs of ``n_restart_samples`` random
fitting draws. Fresh: connected to the input, and neither the string nor its function (canonical cell and macro)
proposed before. The agent stays the authority that accepts or rejects a proposal.
"""

from __future__ import annotations

import random

from agents.messages import Proposal, ProposalBatch, ProposalRequest
from agents.proposers.base import SeenArchs, rng_for
from agents.proposers.local_search import LocalSearchSettings
from agents.proposers.mcu import Screen, is_new, mcu_history, sample_new
from search_spaces.mcu.space import MCUArch

#: random draws per restart sample (a draw must also fit the estimate)
DRAWS_PER_SAMPLE = 20


def fitting_neighbours(centre: MCUArch, seen: SeenArchs, screen: Screen) -> list[MCUArch]:
    """The fresh one-edge / one-macro-choice neighbours of ``centre`` that fit the estimate."""
    return [n for n in centre.neighbours() if n.output_connected and is_new(n, seen) and screen.fits(n)]


def fitting_draws(rng: random.Random, seen: SeenArchs, screen: Screen, n: int) -> tuple[list[MCUArch], int]:
    """Up to ``n`` distinct fresh random archs that fit, from at most ``n * DRAWS_PER_SAMPLE`` draws; and the
    number of draws made."""
    out: dict[str, MCUArch] = {}
    draws = 0
    while len(out) < n and draws < n * DRAWS_PER_SAMPLE:
        draws += 1
        arch = sample_new(rng, seen)
        if arch is None:
            break
        if screen.fits(arch):
            out.setdefault(arch.canonical_key(), arch)
    return list(out.values()), draws


class MCULocalSearchProposer(LocalSearchSettings):
    name = "mcu-local"

    def propose(self, request: ProposalRequest) -> ProposalBatch:
        rng = rng_for(request, self.name)
        seen = SeenArchs(request)
        screen = Screen(request)
        evaluated = mcu_history(request)
        history = sorted(((e.val_acc, -i, e.arch) for i, e in enumerate(evaluated)), reverse=True)
        out: list[Proposal] = []
        notes: list[str] = []
        for _ in range(request.n):
            picked = None
            if len(evaluated) + len(out) >= self.n_initial:
                picked = self._neighbour(history, seen, screen)
            if picked is None:
                picked, tried = self._restart(rng, seen, screen, len(evaluated) + len(out))
                if picked is None:
                    notes.append(f"no fresh arch that fits found: no evaluated arch has a fitting fresh neighbour "
                                 f"and none of {tried} random draws fit (the space is not exhausted by this count)")
                    break
            arch = MCUArch.from_string(picked.arch)
            seen.add(picked.arch, arch.canonical_key())
            out.append(picked)
        return ProposalBatch(proposer=self.name, proposals=out, notes=notes)

    @staticmethod
    def _neighbour(history: list[tuple[float, int, str]], seen: SeenArchs, screen: Screen) -> Proposal | None:
        for rank, (acc, _, text) in enumerate(history):
            options = fitting_neighbours(MCUArch.from_string(text), seen, screen)
            if options:
                best = max(options, key=lambda a: (screen.report(a).macs, a.code))
                where = "the incumbent" if rank == 0 else f"evaluated arch #{rank + 1} by val (the better ones' " \
                                                           "fitting neighbourhoods are used up)"
                return Proposal(arch=best.to_string(), parent=text,
                                reason=f"neighbour of {where} (val {acc:.2f}): the most estimated MACs "
                                       f"({screen.report(best).macs:,}) of {len(options)} fresh fitting neighbours")
        return None

    def _restart(self, rng: random.Random, seen: SeenArchs, screen: Screen, done: int) -> tuple[Proposal | None, int]:
        picks, draws = fitting_draws(rng, seen, screen, self.n_restart_samples)
        if not picks:
            return None, draws
        best = max(picks, key=lambda a: (screen.report(a).macs, a.code))
        why = "start" if done < self.n_initial else "restart (no evaluated arch has a fresh fitting neighbour)"
        return Proposal(arch=best.to_string(), reason=f"{why}: the most estimated MACs of {len(picks)} random "
                                                      f"fitting archs ({draws} draws)"), draws


__all__ = ["MCULocalSearchProposer", "fitting_draws", "fitting_neighbours"]
