"""Free ``--task`` text → a typed :class:`TaskSpec`, with one chat call (when an LLM is configured).

The derived spec only fills what the user did not say explicitly: :func:`merge_task_spec`
lets explicit flags win. Offline (no LLM endpoint) :func:`parse_task` returns None and the
text is stored and passed to the proposer unchanged. A failing endpoint does not fail the
job: the spec comes back empty, with the reason in ``notes``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from openai import OpenAI
from pydantic import BaseModel, Field, ValidationError

from automcu.core.config import Settings

#: Dataset names a search accepts, and spellings an LLM may use for them.
KNOWN_DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "ImageNet16-120", "fashion-mnist", "mnist", "digits")
_DATASET_ALIASES: dict[str, str] = {
    "cifar10": "cifar10",
    "cifar100": "cifar100",
    "imagenet16120": "ImageNet16-120",
    "imagenet16": "ImageNet16-120",
    "fashionmnist": "fashion-mnist",
    "mnist": "mnist",
    "digits": "digits",
}
HARDWARE_FIELDS: tuple[str, ...] = ("sram_kb", "flash_kb", "clock_mhz", "core")
SPEC_FIELDS: tuple[str, ...] = ("dataset", "board", *HARDWARE_FIELDS, "max_latency_ms")


class _SpecReply(BaseModel):
    """The fields an LLM reply may set (validated before any is used)."""

    dataset: str | None = None
    board: str | None = None
    sram_kb: float | None = Field(default=None, gt=0)
    flash_kb: float | None = Field(default=None, gt=0)
    clock_mhz: float | None = Field(default=None, gt=0)
    core: str | None = None
    max_latency_ms: float | None = Field(default=None, gt=0)


class TaskSpec(_SpecReply):
    """What the task text says about the search; every field optional."""

    notes: list[str] = []

    def fields_set(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in SPEC_FIELDS if getattr(self, k) is not None}


def _schema() -> dict[str, Any]:
    num = {"type": ["number", "null"]}
    text = {"type": ["string", "null"]}
    props = {"dataset": text, "board": text, "sram_kb": num, "flash_kb": num, "clock_mhz": num, "core": text,
             "max_latency_ms": num}
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


def _known_boards() -> list[str] | None:
    try:
        from automcu.hardware.catalog import list_boards
    except ImportError:
        return None
    return [b.name for b in list_boards()]


def _messages(text: str, boards: list[str] | None) -> list[dict[str, str]]:
    system = (
        "You extract a microcontroller neural-network search specification from a user's task description. "
        "Reply with JSON only, with exactly these keys (null when the text does not say): dataset, board, "
        "sram_kb, flash_kb, clock_mhz, core, max_latency_ms. "
        f"dataset is one of {', '.join(KNOWN_DATASETS)} (e.g. clothing images -> fashion-mnist, handwritten "
        "digits -> mnist). "
        + (f"board is one of {', '.join(boards)}; " if boards else "board is the board's name; ")
        + "use sram_kb/flash_kb/clock_mhz/core (e.g. cortex-m7) only for limits stated as numbers. "
        "max_latency_ms is the per-inference latency limit in milliseconds. Never guess values the text lacks."
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": text.strip()}]


def _dataset(value: str, notes: list[str]) -> str | None:
    key = "".join(ch for ch in value.lower() if ch.isalnum())
    if key in _DATASET_ALIASES:
        return _DATASET_ALIASES[key]
    notes.append(f"dropped dataset {value!r} from the task: not one of {', '.join(KNOWN_DATASETS)}")
    return None


def _board(value: str, notes: list[str]) -> str | None:
    if "/" in value or "\\" in value or value.lower().endswith((".yaml", ".yml")):
        notes.append(f"dropped board {value!r} from the task: board files must be given explicitly")
        return None
    try:
        from automcu.hardware.catalog import get_board
    except ImportError:
        return value  # no catalog to check against; the planner validates it
    try:
        return get_board(value).name
    except ValueError as exc:
        notes.append(f"dropped unknown board {value!r} from the task: {str(exc).splitlines()[0][:200]}")
        return None


def spec_from_reply(content: str) -> TaskSpec:
    """Validate one LLM reply into a TaskSpec (unknown boards/datasets dropped with notes)."""
    from agents.proposers.llm_parse import ReplyFormatError, extract_json

    notes: list[str] = []
    try:
        data = extract_json(content)
        reply = _SpecReply.model_validate(data)
    except (ReplyFormatError, ValidationError) as exc:
        return TaskSpec(notes=[f"could not read the task spec from the LLM reply: {str(exc).splitlines()[0][:200]}"])
    values = reply.model_dump()
    if values["dataset"]:
        values["dataset"] = _dataset(values["dataset"], notes)
    if values["board"]:
        values["board"] = _board(values["board"], notes)
    if values["core"]:
        values["core"] = values["core"].strip().lower()
    if values["board"] and any(values[k] is not None for k in HARDWARE_FIELDS):
        notes.append("the task names a board and raw limits; the board's catalog figures are used")
        for k in HARDWARE_FIELDS:
            values[k] = None
    return TaskSpec(**{k: v or None for k, v in values.items()}, notes=notes)


def parse_task(
    text: str | None,
    settings: Settings | None = None,
    *,
    client: OpenAI | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> TaskSpec | None:
    """One chat call turning task text into a TaskSpec; None offline or for empty text."""
    from agents.proposers.llm_client import ChatClient, LLMUnavailable

    if settings is None:
        from automcu.core.config import get_settings

        settings = get_settings()
    if not text or not text.strip() or (not settings.llm_configured and client is None):
        return None
    try:
        chat = ChatClient(settings, client=client, sleep=sleep)
        reply = chat.chat(_messages(text, _known_boards()), schema_name="task_spec", schema=_schema())
    except LLMUnavailable as exc:
        return TaskSpec(notes=[f"task text not parsed: {exc.reason}"])
    spec = spec_from_reply(reply.content)
    spec.notes.append(
        f"task parsed by {settings.llm_model}: {reply.prompt_tokens} prompt + {reply.completion_tokens} completion "
        f"tokens, {reply.latency_s:.2f} s"
    )
    return spec


def merge_task_spec(spec: TaskSpec | None, explicit: dict[str, Any]) -> dict[str, Any]:
    """``explicit`` (flags / request fields; None = not given) completed from ``spec``.

    Explicit values always win. Hardware is taken as a whole: when the user gave a board or
    any raw limit explicitly, nothing hardware-related comes from the task text (a board
    from the text never mixes with explicit limits, and vice versa). Keys of ``explicit``
    other than the spec's fields pass through unchanged.
    """
    merged = dict(explicit)
    for key in SPEC_FIELDS:
        merged.setdefault(key, None)
    if spec is None:
        return merged
    hw_keys = ("board", *HARDWARE_FIELDS)
    explicit_hw = any(explicit.get(k) is not None for k in hw_keys)
    for key in SPEC_FIELDS:
        if merged[key] is not None:
            continue
        if key in hw_keys and explicit_hw:
            continue
        value = getattr(spec, key)
        if value is not None:
            merged[key] = value
    return merged
