"""Tolerant parsing and validation of LLM replies.

Replies may be bare JSON, JSON inside a ```json fence, or JSON wrapped in prose. The JSON is
validated with pydantic; each proposed arch must parse in the job's search space (an
:class:`ArchReader`: :data:`NB201_READER` or :data:`MCU_READER`), must be proposable there (an mcu
cell's output must depend on its input), must not be already seen in the job (in the mcu space: nor
compute the function of a seen arch), and must not repeat within the reply.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from agents.messages import Proposal, ProposalRequest
from search_spaces.mcu.space import MCUArch
from search_spaces.nb201.space import Arch


class ReplyFormatError(ValueError):
    """The reply holds no JSON object of the expected shape."""


class ProposalItem(BaseModel):
    arch: str = Field(description="arch string of the job's search space")
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
    """Canonical NAS-Bench-201 arch string, or None when it does not parse."""
    return NB201_READER.normalise(arch)


# ----- search spaces ---------------------------------------------------------------------------
def _no_problems(arch: str) -> list[str]:
    return []


@dataclass(frozen=True)
class ArchReader:
    """How the LLM proposer reads the archs of one search space.

    ``parse``: the canonical string of a proposed arch, or ``ValueError`` saying what is wrong;
    ``problems``: why a canonical arch may not be proposed (empty: it may);
    ``function_key``: the function a canonical arch computes (two archs of one key train to the same
    network, so the second counts as a repeat); None: only identical strings are repeats.
    """

    space: str
    schema_name: str
    parse: Callable[[str], str]
    problems: Callable[[str], list[str]] = _no_problems
    function_key: Callable[[str], str] | None = None

    def normalise(self, arch: str) -> str | None:
        """Canonical arch string, or None when it does not parse."""
        try:
            return self.parse(arch)
        except ValueError:
            return None


def _parse_nb201(text: str) -> str:
    return Arch.from_string(text).to_string()  # ArchError is a ValueError


def parse_mcu(text: str) -> str:
    """Canonical mcu arch string of ``text``; ``MCUArchError`` naming every bad macro choice and the cell's error."""
    return MCUArch.from_string(text).to_string()


def _mcu_problems(arch: str) -> list[str]:
    return MCUArch.from_string(arch).issues()


def _mcu_function(arch: str) -> str:
    return MCUArch.from_string(arch).canonical_key()


NB201_READER = ArchReader("nb201", "nb201_proposals", _parse_nb201)
MCU_READER = ArchReader("mcu", "mcu_proposals", parse_mcu, _mcu_problems, _mcu_function)


class KnownArchs:
    """The archs a job has already proposed (canonical strings and, where the space has them, function keys),
    plus the ones accepted during this step. Unparsable history entries are ignored.

    Built from a request (:meth:`of_request`) it reads the request's shared sets, which the planner keeps up to
    date, so a step costs nothing per arch of history; the history is scanned only to name the twin of a
    function repeat."""

    def __init__(self, reader: ArchReader, archs: Iterable[str] = ()) -> None:
        self.reader = reader
        self._history: Sequence[str] = ()
        self._shared: set[str] = set()
        self._shared_keys: set[str] = set()
        self.strings: set[str] = set()
        self.functions: dict[str, str] = {}  # function key -> the first arch seen with it (this step's, or given)
        for arch in archs:
            canonical = reader.normalise(arch)
            if canonical:
                self.add(canonical)

    @classmethod
    def of_request(cls, reader: ArchReader, request: ProposalRequest) -> KnownArchs:
        known = cls(reader)
        known._history = request.seen
        known._shared = request.seen_set()
        if reader.function_key is not None:
            known._shared_keys = request.seen_keys()
        return known

    def add(self, arch: str) -> None:
        self.strings.add(arch)
        if self.reader.function_key is not None:
            self.functions.setdefault(self.reader.function_key(arch), arch)

    def _twin_in_history(self, key: str) -> str:
        for arch in self._history:
            canonical = self.reader.normalise(arch)
            if canonical and self.reader.function_key is not None and self.reader.function_key(canonical) == key:
                return canonical
        return "an arch"

    def repeat(self, arch: str) -> str | None:
        """Why the canonical ``arch`` repeats a known one, or None when it is new."""
        if arch in self.strings or arch in self._shared:
            return "was already proposed or evaluated in this job"
        if self.reader.function_key is not None:
            key = self.reader.function_key(arch)
            twin = self.functions.get(key)
            if twin is None and key in self._shared_keys:
                twin = self._twin_in_history(key)
            if twin is not None:
                return (f"computes the same function as {twin}, already proposed or evaluated in this job "
                        "(it differs only in ops that no input-to-output path uses, or by a symmetry)")
        return None


def validate_items(
    items: list[ProposalItem], seen: KnownArchs, want: int
) -> tuple[list[Proposal], list[str], list[str]]:
    """Split reply items into valid proposals (at most ``want``), errors to send back, and notes.

    ``seen`` holds the archs the job already has (and ones accepted earlier in this step), read in
    its space; it is updated with the accepted archs.
    """
    reader = seen.reader
    valid: list[Proposal] = []
    errors: list[str] = []
    notes: list[str] = []
    for k, item in enumerate(items):
        try:
            arch = reader.parse(item.arch)
        except ValueError as exc:
            errors.append(f"proposal {k + 1} ({item.arch!r}): {exc}")
            continue
        problems = reader.problems(arch)
        if problems:
            errors.append(f"proposal {k + 1} ({arch}): {'; '.join(problems)}")
            continue
        repeat = seen.repeat(arch)
        if repeat:
            errors.append(f"proposal {k + 1} ({arch}) {repeat}")
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
            parent = reader.normalise(item.parent)
            if parent is None:
                notes.append(f"proposal {arch}: ignored unparsable parent {item.parent!r}")
        seen.add(arch)
        valid.append(Proposal(arch=arch, reason=reason, parent=parent))
    return valid, errors, notes
