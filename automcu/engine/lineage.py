"""A candidate's ancestry within its job: root → … → candidate, each step with who proposed it and why."""

from __future__ import annotations

from typing import Any

from automcu.storage.models import Candidate


def lineage(cands: list[Candidate], arch: str) -> list[dict[str, Any]]:
    """The chain of proposals that led to ``arch`` (oldest first); empty when the job has no such candidate.

    A parent that is not a candidate of this job (e.g. an LLM citing an arch it invented) ends the
    chain as an ``external`` entry; a cycle (an arch proposed again as its own ancestor) stops it.
    """
    by_arch = {c.arch: c for c in cands}
    chain: list[dict[str, Any]] = []
    seen: set[str] = set()
    current: str | None = arch
    while current is not None and current not in seen:
        seen.add(current)
        cand = by_arch.get(current)
        if cand is None:
            chain.append({"arch": current, "external": True})
            break
        chain.append({"arch": cand.arch, "index": cand.index, "step": cand.step, "proposer": cand.proposer,
                      "reason": cand.reason, "status": cand.status, "val_acc": cand.val_acc,
                      "eval_order": cand.eval_order})
        current = cand.parent
    return chain[::-1] if chain and arch in by_arch else []
