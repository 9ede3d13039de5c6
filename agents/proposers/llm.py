"""The LLM proposer: an OpenAI-compatible chat model proposes the next archs of the job's space.

:class:`LLMProposer` proposes NAS-Bench-201 cells; :class:`MCULLMProposer`, the same proposer for the
``mcu`` space, proposes macro + cell strings (``C16-N2-S1:|...|``). The two differ only in their space
hooks: the prompt parts (:class:`~agents.proposers.llm_prompt.SpacePrompt`) and how archs are read and
checked (:class:`~agents.proposers.llm_parse.ArchReader`).

One :meth:`LLMProposer.propose` call = one chat call, plus at most ONE repair round in the same
conversation when the reply is not JSON, names an unknown op or (mcu) a macro choice outside the
space, is malformed, repeats an arch the job has already seen (mcu: or its function), has a cell
output disconnected from the input (mcu), or holds fewer valid proposals than asked. Entries still
invalid after the repair round are dropped with a note. Transport failures (timeouts, connection
errors, 5xx) are retried with backoff inside :class:`~agents.proposers.llm_client.ChatClient`;
when the endpoint stays unusable, or no valid proposal remains, :class:`ProposerUnavailable`
is raised and the planner falls back to evolution.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from openai import OpenAI

from agents.messages import Proposal, ProposalBatch, ProposalRequest
from agents.proposers.base import ProposerUnavailable
from agents.proposers.llm_client import ChatClient, LLMUnavailable, UsageTotals
from agents.proposers.llm_parse import (
    MCU_READER,
    NB201_READER,
    ArchReader,
    KnownArchs,
    ReplyFormatError,
    parse_reply,
    proposal_schema,
    validate_items,
)
from agents.proposers.llm_prompt import MCU_PROMPT, NB201_PROMPT, SpacePrompt, build_messages, repair_message
from automcu.core.config import Settings


class LLMProposer:
    """Proposer of NAS-Bench-201 cells backed by an OpenAI-compatible chat-completions endpoint."""

    name = "llm"
    #: the space hooks: the space-specific prompt parts, and how archs are read and checked
    prompt: SpacePrompt = NB201_PROMPT
    reader: ArchReader = NB201_READER

    def __init__(
        self,
        settings: Settings,
        *,
        client: OpenAI | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        try:
            self._chat = ChatClient(settings, client=client, sleep=sleep)
        except LLMUnavailable as exc:
            raise ProposerUnavailable(exc.reason) from exc

    def set_progress(self, on_wait: Callable[[dict[str, float]], None] | None) -> None:
        """Report the wait while a reply is awaited (the planner shows it as ``proposer_waiting`` progress)."""
        self._chat.on_wait = on_wait

    @property
    def response_format(self) -> str:
        """The response-format mode that the endpoint accepted last (remembered across calls)."""
        return self._chat.format_mode

    def _call(self, messages: list[dict[str, str]], usage: UsageTotals) -> str:
        try:
            reply = self._chat.chat(messages, schema_name=self.reader.schema_name, schema=proposal_schema())
        except LLMUnavailable as exc:
            raise ProposerUnavailable(exc.reason, usage=usage.as_dict()) from exc
        usage.add(reply)
        return reply.content

    def _validate(self, text: str, seen: KnownArchs, want: int) -> tuple[list[Proposal], list[str], list[str]]:
        try:
            reply = parse_reply(text)
        except ReplyFormatError as exc:
            return [], [str(exc)], []
        return validate_items(reply.proposals, seen, want)

    def propose(self, request: ProposalRequest) -> ProposalBatch:
        started = time.perf_counter()
        usage = UsageTotals()
        seen = KnownArchs.of_request(self.reader, request)
        messages = build_messages(request, self.prompt)
        content = self._call(messages, usage)
        proposals, errors, notes = self._validate(content, seen, request.n)

        repaired = 0
        if len(proposals) < request.n:
            missing = request.n - len(proposals)
            if not errors:
                errors = [f"only {len(proposals)} of the {request.n} requested proposals were given"]
            notes.append(f"repair round: {'; '.join(errors)}")
            messages = [
                *messages,
                {"role": "assistant", "content": content},
                {"role": "user", "content": repair_message(errors, missing, self.prompt)},
            ]
            repaired = 1
            content = self._call(messages, usage)
            more, errors2, notes2 = self._validate(content, seen, missing)
            proposals += more
            notes += notes2
            errors = errors2 or (["the repaired reply held no new proposal"] if not more else [])
            for err in errors2:
                notes.append(f"dropped after repair: {err}")

        usage_dict = usage.as_dict()
        usage_dict["repair_rounds"] = float(repaired)
        usage_dict["wall_s"] = round(time.perf_counter() - started, 4)
        notes = [*usage.per_call, *notes]
        if not proposals:
            raise ProposerUnavailable(
                "the LLM gave no valid proposal after one repair round: " + "; ".join(errors)[:300],
                usage=usage_dict,
            )
        if len(proposals) < request.n:
            notes.append(f"returned {len(proposals)} of {request.n} requested proposals")
        return ProposalBatch(proposer=self.name, proposals=proposals, notes=notes, usage=usage_dict)


class MCULLMProposer(LLMProposer):
    """The LLM proposer for the ``mcu`` space: macro (C, N, stem stride) + cell strings, same flow."""

    name = "mcu-llm"
    prompt = MCU_PROMPT
    reader = MCU_READER
