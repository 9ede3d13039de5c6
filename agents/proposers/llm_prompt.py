"""Prompt construction for the LLM proposer: task, budget, grammar, history and feedback.

What differs between search spaces (the system prompt, the grammar section, the format reminder of
the repair message) is one :class:`SpacePrompt`: :data:`NB201_PROMPT` or :data:`MCU_PROMPT`.
"""

from __future__ import annotations

from dataclasses import dataclass

from agents.messages import EvaluatedCandidate, ProposalRequest, RejectedCandidate
from search_spaces.mcu import space as mcu
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

MCU_SYSTEM_PROMPT = (
    "You are the proposer agent of AutoMCU, a feasibility-first neural architecture search for "
    "microcontrollers. You propose networks of the mcu search space, a macro (width C, cells per stage N, "
    "stem stride S) plus a NAS-Bench-201 cell, that should reach high validation accuracy when trained on "
    "the dataset while fitting the board's int8 Flash, peak SRAM and latency limits. The macro decides SRAM "
    "and Flash far more than the cell does: Flash (the weights) grows with C squared and with N; peak SRAM "
    "(the live activations) grows with C and with the feature-map size, and stem stride 2 halves every "
    "feature map's height and width (a quarter of the activations and of the MACs): the main SRAM lever. "
    "In the cell, nor_conv_3x3 costs most; dw_sep_conv_3x3 (depthwise 3x3 + pointwise 1x1) is a 3x3 that MCU "
    "toolchains run far cheaper; nor_conv_1x1 is cheaper still; skip_connect, avg_pool_3x3 and none are "
    "nearly free, but the cell output must stay connected to its input. Every candidate is trained, so "
    "every proposal costs: learn from the evaluated candidates and from the violation reasons of "
    "infeasible ones. Reply with JSON only."
)


@dataclass(frozen=True)
class SpacePrompt:
    """The space-specific parts of the prompts: system prompt, grammar section, repair reminder."""

    system: str
    grammar: str  # the "## Search space" section
    repair_hint: str  # the valid choices and the format, for the repair message


NB201_PROMPT = SpacePrompt(
    system=SYSTEM_PROMPT,
    grammar=f"{GRAMMAR}\nValid op names: {', '.join(OPS)}.",
    repair_hint=f"valid op names: {', '.join(OPS)}; the format |op~0|+|op~0|op~1|+|op~0|op~1|op~2|",
)


def _choices(values: tuple[int, ...]) -> str:
    return ", ".join(map(str, values))


MCU_PROMPT = SpacePrompt(
    system=MCU_SYSTEM_PROMPT,
    grammar=(
        f"{mcu.GRAMMAR}\nValid op names: {', '.join(mcu.OPS)}.\n"
        f"Valid macro choices: C (channels of the first stage; the stages have C, 2C, 4C) in {_choices(mcu.CHANNELS)}; "
        f"N (cells per stage) in {_choices(mcu.CELLS)}; S (stem stride) in {_choices(mcu.STEM_STRIDES)}.\n"
        "Width C, depth N and the stem stride decide SRAM and Flash far more than the cell; stem stride 2 halves "
        "every feature map (the main SRAM lever). A cell whose output does not depend on its input (every path "
        "from node 0 to node 3 has a none edge) is refused, and so is an arch that computes the same function as "
        "an already proposed one (differing only in ops on edges that no input-to-output path uses)."
    ),
    repair_hint=(
        f"the format C<channels>-N<cells per stage>-S<stem stride>:|op~0|+|op~0|op~1|+|op~0|op~1|op~2|; "
        f"C in {_choices(mcu.CHANNELS)}; N in {_choices(mcu.CELLS)}; S in {_choices(mcu.STEM_STRIDES)}; "
        f"valid op names: {', '.join(mcu.OPS)}; the cell output connected to its input"
    ),
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


def user_prompt(request: ProposalRequest, space: SpacePrompt = NB201_PROMPT) -> str:
    sections = []
    if request.task:
        sections.append(f"## Task\n{request.task.strip()}")
    sections.append(f"## Dataset\n{request.dataset}")
    sections.append(f"## Hardware budget\n{budget_text(request)}")
    sections.append(f"## Search space\n{space.grammar}")

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


def build_messages(request: ProposalRequest, space: SpacePrompt = NB201_PROMPT) -> list[dict[str, str]]:
    return [{"role": "system", "content": space.system}, {"role": "user", "content": user_prompt(request, space)}]


def repair_message(errors: list[str], missing: int, space: SpacePrompt = NB201_PROMPT) -> str:
    return (
        "Some proposals in your reply could not be used:\n"
        + "\n".join(f"- {e}" for e in errors)
        + f"\n\nReply again with JSON only, holding exactly {missing} new replacement proposal(s) "
        f"({space.repair_hint}; none of the already proposed archs)."
    )
