"""Random proposer: uniform over the space; the planner's feasibility agent rejects what doesn't fit."""

from __future__ import annotations

from agents.messages import Proposal, ProposalBatch, ProposalRequest
from agents.proposers.base import SeenArchs, rng_for
from search_spaces.nb201.space import SPACE_SIZE, Arch


class RandomProposer:
    name = "random"

    def propose(self, request: ProposalRequest) -> ProposalBatch:
        rng = rng_for(request, self.name)
        seen = SeenArchs(request)
        out: list[Proposal] = []
        while len(out) < request.n and len(seen) < SPACE_SIZE:
            arch = Arch.sample(rng).to_string()
            if arch in seen:
                continue
            seen.add(arch)
            out.append(Proposal(arch=arch, reason="uniform random sample"))
        return ProposalBatch(proposer=self.name, proposals=out)
