"""OpenTelemetry traces of an event's path: decode → state → candidates → rank → publish.

The worker processes events in batches, so each stage runs once for the whole batch; a traced
event gets a ``streamapp process`` span (a child of the producer's span when its record carries
a W3C ``traceparent`` header) with one child per stage, timed by the batch's stage boundaries.
The published list carries the ``traceparent`` of its trigger event's ``publish`` span, so a
consumer of the recommendations topic continues the same trace: one trace shows an event from
the producer to the list.

Off by default (``STREAMAPP_TRACING=off``): no SDK is set up and no span is made, but an input
``traceparent`` is still copied onto the list, so traces stay connected across a worker that
does not trace. ``console`` prints spans; ``otlp`` exports OTLP/HTTP to
``STREAMAPP_TRACING_ENDPOINT``. Events without a ``traceparent`` are sampled at
``STREAMAPP_TRACING_SAMPLE``; a producer's sampling decision is always honoured.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from streamapp.contracts.events import Headers, Record
from streamapp.settings import Settings

TRACEPARENT = "traceparent"
# version (not ff) - trace id (not all zero) - parent id (not all zero) - flags, lower-case hex.
_TRACEPARENT_FORMAT = re.compile(
    rb"(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}"
)
STAGES = ("decode", "state", "candidates", "rank", "publish")
PROPAGATOR = TraceContextTextMapPropagator()


def configure(settings: Settings, service: str) -> Tracer | None:
    """A tracer exporting as configured, or None when tracing is off."""
    if settings.tracing == "off":
        return None
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415 (only when tracing is on)
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import (  # noqa: PLC0415
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SpanExporter,
    )
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased  # noqa: PLC0415

    exporter: SpanExporter
    if settings.tracing == "console":
        exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )

        exporter = OTLPSpanExporter(endpoint=settings.tracing_endpoint)
    provider = TracerProvider(
        resource=Resource.create({"service.name": service}),
        sampler=ParentBased(TraceIdRatioBased(settings.tracing_sample)),
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return trace.get_tracer("streamapp")


def shutdown() -> None:
    """Export what is buffered (a worker's last batch) before the process exits."""
    provider = trace.get_tracer_provider()
    stop = getattr(provider, "shutdown", None)
    if stop is not None:
        stop()


def traceparent(headers: Headers) -> bytes | None:
    """An input's W3C ``traceparent`` if it is well-formed, else None.

    Input headers are not trusted: whatever is carried over lands on every list and refresh the
    event causes, so a header of any size or shape could make the broker refuse those outputs.

    >>> traceparent([("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")])
    b'00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
    >>> traceparent([("traceparent", b"00-" + b"x" * 10_000)]) is None
    True
    """
    for key, value in headers:
        if key == TRACEPARENT:
            return value if _TRACEPARENT_FORMAT.fullmatch(value) else None
    return None


class Stages:
    """Wall-clock boundaries of one batch's stages (ns), the times every event's spans get."""

    def __init__(self) -> None:
        self.bounds = [time.time_ns()]

    def mark(self) -> None:
        """The current stage ended; the next one starts now."""
        self.bounds.append(time.time_ns())


@dataclass
class _Traced:
    """One traced event's ``streamapp process`` span and, once the lists are being sent, its
    open ``publish`` span."""

    root: Span
    publish: Span | None = None


@dataclass
class BatchTraces:
    """The spans of one batch's traced events, keyed like the lists they lead to."""

    tracer: Tracer | None
    traced: dict[tuple[str, str], list[_Traced]] = field(default_factory=dict)
    passthrough: dict[tuple[str, str], bytes] = field(default_factory=dict)
    failed: list[tuple[Span, str]] = field(default_factory=list)

    def _root(self, record: Record, stages: Stages) -> Span | None:
        header = traceparent(record.headers)
        context = (
            PROPAGATOR.extract({TRACEPARENT: header.decode("ascii", "replace")})
            if header is not None
            else Context()
        )
        assert self.tracer is not None
        span = self.tracer.start_span(
            "streamapp process",
            context=context,
            kind=SpanKind.CONSUMER,
            start_time=stages.bounds[0],
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": record.topic,
                "messaging.destination.partition.id": str(record.partition),
                "messaging.kafka.offset": record.offset,
            },
        )
        return span if span.is_recording() else None

    def event(self, key: tuple[str, str], record: Record, event_id: str, stages: Stages) -> None:
        """An event that will change state and lead to ``key``'s list. Not traced (tracing off,
        or the event not sampled), its own context, if any, is what the list carries."""
        root = None if self.tracer is None else self._root(record, stages)
        if root is not None:
            root.set_attribute("streamapp.event_id", event_id)
            self.traced.setdefault(key, []).append(_Traced(root))
            return
        header = traceparent(record.headers)
        if header is not None:
            self.passthrough[key] = header

    def dead_letter(self, record: Record, reason: str, stages: Stages) -> None:
        """An event that went to the dead-letter topic: its trace ends in ``decode``."""
        if self.tracer is None:
            return
        root = self._root(record, stages)
        if root is not None:
            self.failed.append((root, reason))

    def publishing(self, stages: Stages) -> None:
        """Decode → rank are over: write their spans and open each event's ``publish`` span."""
        for root, reason in self.failed:
            child = self._child(root, "decode", stages.bounds[0])
            child.set_status(Status(StatusCode.ERROR, reason))
            child.end(stages.bounds[1])
            root.set_attribute("streamapp.dead_letter", reason)
            root.set_status(Status(StatusCode.ERROR, reason))
            root.end(stages.bounds[1])
        for events in self.traced.values():
            for event in events:
                for n, name in enumerate(STAGES[:-1]):
                    self._child(event.root, name, stages.bounds[n]).end(stages.bounds[n + 1])
                event.publish = self._child(event.root, "publish", stages.bounds[-1])

    def headers(self, key: tuple[str, str]) -> Headers | None:
        """The ``traceparent`` for ``key``'s list: its last traced event's ``publish`` span."""
        events = self.traced.get(key)
        if events:
            carrier: dict[str, str] = {}
            context = trace.set_span_in_context(events[-1].publish)  # type: ignore[arg-type]
            PROPAGATOR.inject(carrier, context=context)
            return [(TRACEPARENT, carrier[TRACEPARENT].encode())]
        header = self.passthrough.get(key)
        return None if header is None else [(TRACEPARENT, header)]

    def published(self, stages: Stages) -> None:
        """The lists are handed to the producer: close every open span."""
        end = stages.bounds[-1]
        for events in self.traced.values():
            for event in events:
                if event.publish is not None:
                    event.publish.end(end)
                event.root.end(end)

    def _child(self, parent: Span, name: str, start: int) -> Span:
        assert self.tracer is not None
        return self.tracer.start_span(
            name,
            context=trace.set_span_in_context(parent),
            kind=SpanKind.PRODUCER if name == "publish" else SpanKind.INTERNAL,
            start_time=start,
        )
