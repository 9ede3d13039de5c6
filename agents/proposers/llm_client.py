"""Chat-completions transport for the LLM agents: response-format negotiation, retries, usage.

Works against any OpenAI-compatible server (OpenAI, vLLM, llama.cpp server, Ollama) through
the ``openai`` client. Structured output is asked for with a JSON-schema response format; a
server that rejects it (HTTP 400) is asked again with ``json_object``, then with no response
format, and the first mode that works is remembered for later calls. Timeouts, connection
errors, 429 and 5xx are retried with exponential backoff; after ``max_retries`` retries, or on
any other error, :class:`LLMUnavailable` is raised with a one-line reason. Whatever the server
sends (a 200 whose body is plain text or not UTF-8, any status, a hang) ends in a reply or in
:class:`LLMUnavailable`, never in another exception. The time one client (one job's proposer) may
lose to failing calls is bounded in total by ``total_deadline_s`` (default: twice ``llm_timeout_s``),
not per try: each try's timeout is clipped to what is left, and once it is spent every later
call is refused at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import openai
from openai import OpenAI

from automcu.core.config import Settings

#: Response-format modes, most structured first.
FORMAT_MODES: tuple[str, ...] = ("json_schema", "json_object", "none")


class LLMUnavailable(RuntimeError):
    """The endpoint could not produce a reply (after retries where retrying makes sense)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class ChatReply:
    content: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    latency_s: float  # wall time of the successful HTTP call
    format_mode: str
    attempts: int  # HTTP calls made for this reply, failed ones included


@dataclass
class UsageTotals:
    """Running totals over the calls of one agent step."""

    calls: int = 0
    http_attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    latency_s: float = 0.0
    per_call: list[str] = field(default_factory=list)

    def add(self, reply: ChatReply) -> None:
        self.calls += 1
        self.http_attempts += reply.attempts
        self.prompt_tokens += reply.prompt_tokens
        self.completion_tokens += reply.completion_tokens
        self.total_tokens += reply.total_tokens
        self.latency_s += reply.latency_s
        self.per_call.append(
            f"LLM call {self.calls}: {reply.prompt_tokens} prompt + {reply.completion_tokens} completion tokens, "
            f"{reply.latency_s:.2f} s, response_format={reply.format_mode}, {reply.attempts} HTTP attempt(s)"
        )

    def as_dict(self) -> dict[str, float]:
        return {
            "llm_calls": float(self.calls),
            "http_attempts": float(self.http_attempts),
            "prompt_tokens": float(self.prompt_tokens),
            "completion_tokens": float(self.completion_tokens),
            "total_tokens": float(self.total_tokens),
            "latency_s": round(self.latency_s, 4),
        }


_TRANSIENT = (openai.APITimeoutError, openai.APIConnectionError, openai.InternalServerError, openai.RateLimitError)


def _describe(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{name}{f' (HTTP {status})' if status else ''}: {text[:200]}"


class ChatClient:
    """One configured endpoint. ``sleep`` is injectable so tests need not wait for backoff."""

    def __init__(
        self,
        settings: Settings,
        *,
        client: OpenAI | None = None,
        sleep: Callable[[float], None] = time.sleep,
        total_deadline_s: float | None = None,
    ) -> None:
        if not settings.llm_base_url and client is None:
            raise LLMUnavailable("no LLM endpoint configured (set AUTOMCU_LLM_BASE_URL)")
        self.settings = settings
        self.model = settings.llm_model
        self.max_retries = max(0, settings.llm_max_retries)
        self.base_delay_s = max(0.0, settings.llm_retry_base_delay_s)
        self._sleep = sleep
        self._client = client or OpenAI(
            base_url=settings.llm_base_url,
            # local servers ignore the key but the client insists on one
            api_key=settings.llm_api_key or "not-needed",
            timeout=settings.llm_timeout_s,
            max_retries=0,
        )
        self.format_mode: str = FORMAT_MODES[0]
        #: called about every ``wait_tick_s`` while a call or a backoff is in progress (see :meth:`_waiting`)
        self.on_wait: Callable[[dict[str, float]], None] | None = None
        self.wait_tick_s = 2.0
        self.total_deadline_s = 2 * settings.llm_timeout_s if total_deadline_s is None else max(0.0, total_deadline_s)
        self.lost_s = 0.0  # wall time spent on failed tries and backoff, over this client's life

    def _left(self) -> float:
        return self.total_deadline_s - self.lost_s

    @contextmanager
    def _waiting(self, attempt: int, limit_s: float, backoff: bool = False) -> Iterator[None]:
        """While the body runs, report {elapsed_s, try, limit_s, deadline_left_s, backoff} every tick."""
        if self.on_wait is None:
            yield
            return
        done = threading.Event()
        started = time.perf_counter()
        report = self.on_wait

        def tick() -> None:
            while not done.wait(self.wait_tick_s):
                elapsed = time.perf_counter() - started
                report({"elapsed_s": round(elapsed, 1), "try": attempt, "limit_s": round(limit_s, 1),
                        "deadline_left_s": round(max(0.0, self._left() - elapsed), 1), "backoff": float(backoff)})

        thread = threading.Thread(target=tick, name="llm-wait", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join(1.0)

    def _response_format(self, mode: str, schema_name: str, schema: dict[str, Any]) -> dict[str, Any] | None:
        if mode == "json_schema":
            return {"type": "json_schema", "json_schema": {"name": schema_name, "schema": schema, "strict": False}}
        if mode == "json_object":
            return {"type": "json_object"}
        return None

    def chat(self, messages: list[dict[str, str]], *, schema_name: str, schema: dict[str, Any]) -> ChatReply:
        """One reply, negotiating the response format and retrying transient failures."""
        attempts = 0
        failures = 0
        while True:
            mode = self.format_mode
            kwargs: dict[str, Any] = {"model": self.model, "messages": messages}
            fmt = self._response_format(mode, schema_name, schema)
            if fmt is not None:
                kwargs["response_format"] = fmt
            if self.settings.llm_temperature is not None:
                kwargs["temperature"] = self.settings.llm_temperature
            if self._left() <= 0:
                raise LLMUnavailable(f"LLM endpoint used up its total deadline of {self.total_deadline_s:g} s on "
                                     f"failed calls ({attempts} tries in this call)")
            kwargs["timeout"] = max(0.05, min(self.settings.llm_timeout_s, self._left()))
            attempts += 1
            started = time.perf_counter()
            try:
                with self._waiting(attempts, kwargs["timeout"]):
                    response = self._client.chat.completions.create(**kwargs)
                reply = self._reply(response, time.perf_counter() - started, mode, attempts)
            except openai.BadRequestError as exc:
                nxt = FORMAT_MODES.index(mode) + 1
                if nxt < len(FORMAT_MODES):
                    # the server does not take this response format: downgrade and remember
                    self.format_mode = FORMAT_MODES[nxt]
                    continue
                raise LLMUnavailable(f"LLM endpoint rejected the request: {_describe(exc)}") from exc
            except _TRANSIENT as exc:
                self.lost_s += time.perf_counter() - started
                failures += 1
                if failures > self.max_retries:
                    raise LLMUnavailable(
                        f"LLM endpoint failed {failures} time(s) in a row, last: {_describe(exc)}"
                    ) from exc
                if self._left() <= 0:
                    raise LLMUnavailable(f"LLM endpoint used up its total deadline of {self.total_deadline_s:g} s "
                                         f"after {failures} failed tries, last: {_describe(exc)}") from exc
                delay = min(self.base_delay_s * 2 ** (failures - 1), self._left())
                with self._waiting(attempts, delay, backoff=True):
                    self._sleep(delay)
                self.lost_s += delay
                continue
            except openai.OpenAIError as exc:  # auth, unknown model, malformed response...
                self.lost_s += time.perf_counter() - started
                raise LLMUnavailable(f"LLM endpoint error: {_describe(exc)}") from exc
            except Exception as exc:  # any other reply (plain-text 200, bad bytes): fall back
                self.lost_s += time.perf_counter() - started
                raise LLMUnavailable(f"LLM endpoint sent a reply that is not a chat completion: {_describe(exc)}") \
                    from exc
            return reply

    @staticmethod
    def _reply(response: Any, latency: float, mode: str, attempts: int) -> ChatReply:
        """A chat completion's text and token counts; raises on anything that is not one."""
        choices = response.choices  # a str / dict body (not a completion) raises AttributeError here
        content = ""
        if choices:
            content = choices[0].message.content or ""
        if not isinstance(content, str):
            raise TypeError(f"message content is {type(content).__name__}, not text")
        usage = response.usage
        prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion = int(getattr(usage, "completion_tokens", 0) or 0)
        total = int(getattr(usage, "total_tokens", 0) or 0) or prompt + completion
        return ChatReply(content, prompt, completion, total, latency, mode, attempts)
