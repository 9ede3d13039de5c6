"""Tolerant parsing and validation of LLM replies.

Replies may be bare JSON, JSON inside a ```json fence, or JSON wrapped in prose. The JSON is
validated with pydantic; each proposed arch must parse as a NAS-Bench-201 cell, must not be
already seen in the job, and must not repeat within the reply.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from agents.messages import Proposal
from search_spaces.nb201.space import Arch, ArchError


class ReplyFormatError(ValueError):
    """The reply holds no JSON object of the expected shape."""


class ProposalItem(BaseModel):
    arch: str = Field(description="NAS-Bench-201 arch string")
    reason: str = Field(description="why this arch should do well and fit the budget")
    parent: str | None = Field(default=None, description="arch string it was derived from, or null")


class ProposalReply(BaseModel):
    proposals: list[ProposalItem]


def proposal_schema() -> dict[str, Any]:
    """JSON schema of the expected reply (for ``response_format``)."""
    return {
        "type": "object",
        "properties": {
            "proposals": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "arch": {"type": "string"},
                        "reason": {"type": "string"},
                        "parent": {"type": ["string", "null"]},
                    },
                    "required": ["arch", "reason", "parent"],
                    "additionalProperties": False,
                },
            }
        },
        "required": ["proposals"],
        "additionalProperties": False,
    }


_FENCE_RE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


def _balanced_objects(text: str) -> list[str]:
    """Every top-level ``{...}`` span of ``text`` (string-literal aware)."""
    spans = []
    depth = 0
    start = -1
    in_str = False
    escape = False
    for i, ch in enumerate(text):
        if in_str:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"':
            in_str = depth > 0
        elif ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                spans.append(text[start : i + 1])
    return spans


def extract_json(text: str) -> Any:
    """The first JSON object found in ``text``: whole text, fenced blocks, then ``{...}`` spans."""
    if not text or not text.strip():
        raise ReplyFormatError("the reply was empty")
    candidates = [text.strip()]
    candidates += [m.group(1).strip() for m in _FENCE_RE.finditer(text)]
    candidates += _balanced_objects(text)
    for cand in candidates:
        try:
            value = json.loads(cand)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    snippet = text.strip().replace("\n", " ")[:120]
    raise ReplyFormatError(f"the reply contained no JSON object (it began: {snippet!r})")


def parse_reply(text: str) -> ProposalReply:
    data = extract_json(text)
    if isinstance(data, dict) and "proposals" not in data and "arch" in data:
        data = {"proposals": [data]}  # a single proposal sent bare
    try:
        return ProposalReply.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        shape = '{"proposals": [{"arch", "reason", "parent"}]}'
        raise ReplyFormatError(f"the JSON did not match {shape}: {problems}") from exc


def normalise(arch: str) -> str | None:
    """Canonical arch string, or None when it does not parse."""
    try:
        return Arch.from_string(arch).to_string()
    except ArchError:
        return None


def validate_items(
    items: list[ProposalItem], seen: set[str], want: int
) -> tuple[list[Proposal], list[str], list[str]]:
    """Split reply items into valid proposals (at most ``want``), errors to send back, and notes.

    ``seen`` holds canonical strings of archs the job already has (and ones accepted earlier
    in this step); it is updated with the accepted archs.
    """
    valid: list[Proposal] = []
    errors: list[str] = []
    notes: list[str] = []
    for k, item in enumerate(items):
        try:
            arch = Arch.from_string(item.arch).to_string()
        except ArchError as exc:
            errors.append(f"proposal {k + 1} ({item.arch!r}): {exc}")
            continue
        if arch in seen:
            errors.append(f"proposal {k + 1} ({arch}) was already proposed or evaluated in this job")
            continue
        reason = item.reason.strip()
        if not reason:
            errors.append(f"proposal {k + 1} ({arch}) has no reason")
            continue
        if len(valid) >= want:
            notes.append(f"dropped extra proposal {arch}: only {want} were asked for")
            continue
        parent = None
        if item.parent:
            parent = normalise(item.parent)
            if parent is None:
                notes.append(f"proposal {arch}: ignored unparsable parent {item.parent!r}")
        seen.add(arch)
        valid.append(Proposal(arch=arch, reason=reason, parent=parent))
    return valid, errors, notes
