"""SSE: clients following the same job share one feed (one DB poll per job); leaving frees it."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, MutableMapping

import pytest

from api import sse
from automcu.core.config import get_settings
from tests.test_api import API, Ctx, _sse, ctx  # noqa: F401  (the fixture)


def test_clients_of_one_job_share_one_feed_and_get_every_event(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setenv("AUTOMCU_SIMULATED_TIME_SCALE", "2e-5")
    get_settings.cache_clear()
    made: list[str] = []
    original = sse.JobFeed.__init__

    def counting(self: sse.JobFeed, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        made.append(self.job_id)

    monkeypatch.setattr(sse.JobFeed, "__init__", counting)
    job_id = ctx.submit(budget=8, proposer="random")
    texts: list[str] = []
    connected = threading.Barrier(6)

    def follow() -> None:
        with ctx.client.stream("GET", f"{API}/jobs/{job_id}/events", headers=ctx.h("alice")) as r:
            chunks = r.iter_text()
            first = next(chunks)
            connected.wait(10)
            texts.append(first + "".join(chunks))

    clients = [threading.Thread(target=follow) for _ in range(5)]
    for t in clients:
        t.start()
    connected.wait(10)  # every client is streaming before the job starts
    ctx.work()
    for t in clients:
        t.join(30)
    assert len(texts) == 5
    streams = [[(i, k) for i, k, _ in _sse(text)] for text in texts]
    assert all(s == streams[0] for s in streams) and [k for _, k in streams[0]].count("evaluated") == 8
    assert made == [job_id]  # one feed (one poll loop) for five clients
    deadline = time.monotonic() + 5
    while sse.feed_count() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sse.feed_count() == 0  # the last client gone: nothing left polling


def test_a_client_that_leaves_early_frees_the_feed(ctx: Ctx) -> None:  # noqa: F811
    job_id = ctx.submit(budget=5)  # queued: no worker runs it, so the stream would go on forever
    with ctx.client.stream("GET", f"{API}/jobs/{job_id}/events", headers=ctx.h("alice")) as r:
        chunks = r.iter_text()
        assert next(chunks).startswith("retry:")
        assert sse.feed_count() == 1
    deadline = time.monotonic() + 30  # freed within a poll or two; generous on a loaded box
    while sse.feed_count() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sse.feed_count() == 0


@pytest.mark.parametrize("spec_version", ["2.0", "2.4"])
def test_a_stream_cancelled_while_sending_still_closes_its_generator(spec_version: str) -> None:
    """The race behind a feed left polling: the client goes while a chunk is being sent."""
    import anyio

    closed: list[bool] = []

    async def events() -> AsyncIterator[str]:
        try:
            yield "retry: 2000\n\n"
            yield ": ping\n\n"
        finally:
            closed.append(True)

    async def main() -> None:
        response = sse.EventStreamResponse(events())
        scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": spec_version}, "method": "GET"}

        async def receive() -> dict[str, object]:
            await anyio.sleep_forever()
            return {}

        with anyio.CancelScope() as cancel:
            async def send(message: MutableMapping[str, object]) -> None:
                if message["type"] == "http.response.body":
                    cancel.cancel()  # the client has gone: the send is cancelled, the generator sits at a yield
                    await anyio.sleep(0)

            await response(scope, receive, send)
        assert closed == [True]  # now, not when the event loop shuts down and finalizes stray generators

    anyio.run(main)
