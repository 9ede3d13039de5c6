"""Prompt construction for the LLM proposer: task, budget, grammar, history and feedback."""

from __future__ import annotations

from agents.messages import EvaluatedCandidate, ProposalRequest, RejectedCandidate
from search_spaces.nb201.space import GRAMMAR, OPS

#: How much history goes into one prompt (the rest is summarised by count).
TOP_K = 8
RECENT_REJECTED = 8
MAX_SEEN_LISTED = 200

SYSTEM_PROMPT = (
    "You are the proposer agent of AutoMCU, a feasibility-first neural architecture search for "
    "microcontrollers. You propose NAS-Bench-201 cells that should reach high validation accuracy "
    "while fitting the board's int8 Flash, peak SRAM and latency limits. Convolutions (nor_conv_3x3 "
    "most, nor_conv_1x1 less) add parameters, Flash, activations and latency; skip_connect, "
    "avg_pool_3x3 and none are nearly free. Learn from the evaluated candidates and from the "
    "violation reasons of infeasible ones. Reply with JSON only."
)


def _fmt_margins(margins: dict[str, float]) -> str:
    if not margins:
        return ""
    return ", margins " + ", ".join(f"{k} {v:+.0%}" for k, v in sorted(margins.items()))


def _fmt_evaluated(c: EvaluatedCandidate) -> str:
    parts = [f"val_acc {c.val_acc:.2f}%"]
    if c.flash_bytes is not None:
        parts.append(f"flash {c.flash_bytes / 1024:,.1f} KB")
    if c.peak_sram_bytes is not None:
        parts.append(f"peak SRAM {c.peak_sram_bytes / 1024:,.1f} KB")
    if c.latency_ms is not None:
        parts.append(f"latency {c.latency_ms:,.1f} ms")
    return f"- {c.arch}: {', '.join(parts)}{_fmt_margins(c.margins)}"


def _fmt_rejected(c: RejectedCandidate) -> str:
    reasons = "; ".join(v.describe() for v in c.violations) or "infeasible"
    return f"- {c.arch}: {reasons}"


def budget_text(request: ProposalRequest) -> str:
    hw = request.hardware
    lines = []
    if hw is None:
        lines.append("No hardware limits: the search is unconstrained.")
    else:
        lines.append(
            f"Board {hw.name} ({hw.core} @ {hw.clock_mhz:g} MHz): {hw.sram_kb:g} KB SRAM and "
            f"{hw.flash_kb:g} KB Flash usable"
            + (f", of which the TFLM runtime takes {hw.runtime_sram_kb:g} KB SRAM" if hw.runtime_sram_kb else "")
            + (f" and {hw.runtime_flash_kb:g} KB Flash" if hw.runtime_flash_kb else "")
            + ". The int8 model's weights must fit Flash and its tensor arena must fit SRAM."
        )
    if request.max_latency_ms is not None:
        lines.append(f"Latency limit: {request.max_latency_ms:g} ms per inference.")
    return "\n".join(lines)


def user_prompt(request: ProposalRequest) -> str:
    sections = []
    if request.task:
        sections.append(f"## Task\n{request.task.strip()}")
    sections.append(f"## Dataset\n{request.dataset}")
    sections.append(f"## Hardware budget\n{budget_text(request)}")
    sections.append(f"## Search space\n{GRAMMAR}\nValid op names: {', '.join(OPS)}.")

    best = sorted(request.evaluated, key=lambda c: -c.val_acc)[:TOP_K]
    if best:
        sections.append(
            f"## Best feasible candidates so far ({len(best)} of {len(request.evaluated)} evaluated)\n"
            + "\n".join(_fmt_evaluated(c) for c in best)
        )
    else:
        sections.append("## Evaluated candidates\nNone yet.")
    recent = request.rejected[-RECENT_REJECTED:]
    if recent:
        sections.append(
            "## Recent infeasible proposals and why they were rejected (do not repeat these mistakes)\n"
            + "\n".join(_fmt_rejected(c) for c in recent)
        )
    if request.seen:
        listed = request.seen[-MAX_SEEN_LISTED:]
        more = len(request.seen) - len(listed)
        sections.append(
            f"## Already proposed ({len(request.seen)}; never propose these again)\n"
            + "\n".join(listed)
            + (f"\n(and {more} older ones)" if more else "")
        )
    sections.append(
        f"## Your answer\nPropose exactly {request.n} new, distinct architecture(s) not listed above. "
        'Reply with JSON only: {"proposals": [{"arch": "<arch string>", "reason": "<why it should be '
        'accurate and fit the budget>", "parent": "<the listed arch it modifies, or null>"}]}'
    )
    return "\n\n".join(sections)


def build_messages(request: ProposalRequest) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user_prompt(request)}]


def repair_message(errors: list[str], missing: int) -> str:
    return (
        "Some proposals in your reply could not be used:\n"
        + "\n".join(f"- {e}" for e in errors)
        + f"\n\nReply again with JSON only, holding exactly {missing} new replacement proposal(s) "
        f"(valid op names: {', '.join(OPS)}; the format |op~0|+|op~0|op~1|+|op~0|op~1|op~2|; "
        "none of the already proposed archs)."
    )
