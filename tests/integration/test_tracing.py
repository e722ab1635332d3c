"""Tracing: one trace follows an event from its producer through every stage to the list."""

from __future__ import annotations

import itertools
import secrets

import pytest

from streamapp.bench.otlp_receiver import OtlpReceiver
from streamapp.ops.tracing import STAGES
from tests.support import Tail, now_ms, send, wait_for

pytestmark = pytest.mark.integration


def traceparent(sampled: bool = True) -> tuple[str, str, bytes]:
    """A producer's span: (trace id, span id, header value)."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}".encode()


def click(event_id: str, user: str, item: str, t: int) -> dict:
    return {"event_id": event_id, "user_id": user, "item_id": item, "ts": t}


def list_header(tail: Tail, event_id: str) -> str:
    """The traceparent on the list a given event triggered."""
    for record, headers in zip(tail.records, tail.headers, strict=True):
        if record["trigger"]["event_id"] == event_id:
            return headers["traceparent"].decode()
    raise AssertionError(f"no list for {event_id}")


async def test_one_trace_spans_producer_stages_and_published_list(deployment, producer):
    clicks, inventory = deployment.topic("clicks"), deployment.topic("inventory")
    async with OtlpReceiver() as receiver:
        worker = deployment.worker(
            STREAMAPP_TRACING="otlp",
            STREAMAPP_TRACING_ENDPOINT=receiver.endpoint,
            STREAMAPP_TRACING_SAMPLE="0",  # only what producers sampled
            OTEL_BSP_SCHEDULE_DELAY="100",
        ).start()
        t = now_ms()
        trace_id, producer_span, header = traceparent()
        unsampled = traceparent(sampled=False)
        await send(producer, clicks, "u1", click("a1", "u1", "a", t))
        await send(producer, clicks, "u1", click("a2", "u1", "b", t + 1), [("traceparent", header)])
        await send(
            producer, clicks, "u2", click("b1", "u2", "a", t + 2), [("traceparent", unsampled[2])]
        )
        await send(producer, clicks, "u3", click("c1", "u3", "a", t + 3))
        bad_trace, _, bad_header = traceparent()
        await send(producer, clicks, "u4", b"{not json", [("traceparent", bad_header)])
        async with Tail(deployment.topic("recommendations")) as recs:
            await recs.until(
                lambda rs: {"a2", "b1", "c1"} <= {r["trigger"]["event_id"] for r in rs}
            )

            # The list continues the producer's trace, from the worker's publish span.
            version, list_trace, publish_span, flags = list_header(recs, "a2").split("-")
            assert (version, list_trace, flags) == ("00", trace_id, "01")
            # An unsampled producer's context rides on untouched; no context, no header.
            assert list_header(recs, "b1") == unsampled[2].decode()
            with pytest.raises(KeyError):
                list_header(recs, "c1")

            def mine() -> list:
                return [s for s in receiver.spans() if s.trace_id == trace_id]

            await wait_for(lambda: len(mine()) == 1 + len(STAGES), what="the event's spans")
            spans = {s.name: s for s in mine()}
            root = spans["streamapp process"]
            assert root.parent_span_id == producer_span
            assert root.attributes["messaging.destination.name"] == clicks
            assert root.attributes["streamapp.event_id"] == "a2"
            stages = [spans[name] for name in STAGES]
            assert all(s.parent_span_id == root.span_id for s in stages)
            assert spans["publish"].span_id == publish_span
            # Stages tile the event's time in the worker, in order.
            assert stages[0].start_ns == root.start_ns and stages[-1].end_ns == root.end_ns
            for before, after in itertools.pairwise(stages):
                assert before.end_ns == after.start_ns and before.start_ns <= before.end_ns

            # The dead-lettered event's trace ends in decode, marked as an error.
            await wait_for(lambda: any(s.trace_id == bad_trace for s in receiver.spans()))
            failed = {s.name: s for s in receiver.spans() if s.trace_id == bad_trace}
            assert set(failed) == {"streamapp process", "decode"}
            assert (
                failed["streamapp process"].attributes["streamapp.dead_letter"] == "malformed_json"
            )
            assert failed["decode"].status_code == 2  # ERROR
            # Events producers did not sample were not traced.
            assert {s.trace_id for s in receiver.spans()} == {trace_id, bad_trace}

            # A stock-out's context rides through the refresh topic to the corrected list.
            stock_trace, stock_span, stock_header = traceparent()
            await send(
                producer,
                inventory,
                "b",
                {"event_id": "s1", "item_id": "b", "stock": 0, "ts": t + 10},
                [("traceparent", stock_header)],
            )
            await recs.until(lambda rs: any(r["trigger"]["event_id"] == "s1" for r in rs))
            assert list_header(recs, "s1").split("-")[1] == stock_trace

            def refresh_roots() -> list:
                """Exported spans arrive in batches: the inventory's may come first."""
                return [
                    s
                    for s in receiver.spans()
                    if s.trace_id == stock_trace and s.name == "streamapp process"
                ]

            await wait_for(refresh_roots, what="the stock-out's process spans")
            assert {s.parent_span_id for s in refresh_roots()} == {stock_span}
        worker.stop()


async def test_tracing_off_exports_nothing_and_passes_context_through(deployment, producer):
    clicks = deployment.topic("clicks")
    async with OtlpReceiver() as receiver:
        deployment.worker(
            STREAMAPP_TRACING_ENDPOINT=receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY="100"
        ).start()
        _, _, header = traceparent()
        await send(
            producer, clicks, "u1", click("p1", "u1", "a", now_ms()), [("traceparent", header)]
        )
        async with Tail(deployment.topic("recommendations")) as recs:
            await recs.until(lambda rs: any(r["trigger"]["event_id"] == "p1" for r in rs))
            assert list_header(recs, "p1") == header.decode()
        assert receiver.bodies == []
