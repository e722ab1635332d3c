"""The topology, top to bottom: the one module that wires agents to topics.

::

    clicks ─┐
    carts  ─┼─► interactions agent ─► InteractionProcessor ─► recommendations / dead-letter
    refresh ┘
    inventory ─► inventory agent ─► InventoryProcessor ─► refresh (keyed by user) / dead-letter
    Connections service: Redis, lag reader; timers ─► consumer lag gauge, promoted model

    learner app (own group `<app_id>-learner`): clicks, carts, audit ─► Learner ─► user vectors
    Snapshots service: timer ─► versioned snapshot ─► rollout: gate, candidate + canary
        experiments (experiments topic) ─► workers' model timer; experiment monitor: lists,
        clicks, carts ─► streaming attribution ─► experiment gauges, canary verdicts ─►
        promote or roll back (rollouts topic)

Values are raw bytes (decoded with orjson in the processors: faust.Record costs ~8 µs more per
event); each agent has ``concurrency=1`` because at-least-once with more can commit past an
in-flight message (faust-streaming #606). Every agent hands its batches to a
:class:`~.batch_runner.BatchRunner` inside :func:`held`: a batch is acknowledged only
once it is applied and its outputs are confirmed, however often it has to be retried. The
interactions agent applies the next batch, once it has arrived, while it ranks the one before
(:mod:`.ahead`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping, Sequence
from typing import Any, cast

import faust
from aiokafka import TopicPartition
from faust.exceptions import ProducerSendError
from faust.transport.drivers import aiokafka as kafka_driver
from faust.types import ChannelT, EventT, StreamT, TransportT
from mode import Service

from streamapp.brokers import kafka_options
from streamapp.clock import now_ms
from streamapp.contracts.events import Headers, Record
from streamapp.experiments.assignment import models_named
from streamapp.experiments.log import ExperimentLog
from streamapp.experiments.monitor import ExperimentMonitor
from streamapp.http import api, operations
from streamapp.http.health import Health
from streamapp.learning.exposure_export import ExposureExport
from streamapp.learning.learner import Learner
from streamapp.learning.registry import ModelRegistry
from streamapp.learning.serving import ServingModel
from streamapp.ops import lag, metrics, tracing
from streamapp.ops.compacted import CompactedTopic
from streamapp.ops.lag import LagReader
from streamapp.recommend.exposure import ExposureWindows
from streamapp.recommend.rules import Rule, keyed
from streamapp.rollout.controller import RolloutController
from streamapp.settings import Settings
from streamapp.state.continuity import Continuity
from streamapp.state.store import Store
from streamapp.state.types import StateGap, StateLost
from streamapp.worker.ahead import Ahead, Turn, looking_ahead
from streamapp.worker.arrivals import arrived
from streamapp.worker.batch_runner import BatchRunner, Process, Reject
from streamapp.worker.catch_up import merge_while_behind
from streamapp.worker.fetch_batching import batch_fetches
from streamapp.worker.heap import tune_collector
from streamapp.worker.interactions import InteractionProcessor, Prepared
from streamapp.worker.inventory import InventoryProcessor
from streamapp.worker.rule_effects import RuleEffects
from streamapp.worker.sink import NoOutputs

log = logging.getLogger(__name__)

# How long a read of the rules topic waits for a record (it returns at once with one).
RULES_POLL_MS = 500


class FaustSink:
    """Sends through the worker's own producer and keeps every delivery to confirm it."""

    def __init__(self, app: faust.App) -> None:
        self.app = app
        self.pending: list[asyncio.Future[Any]] = []

    async def send(
        self, topic: str, key: bytes | None, value: bytes, headers: Headers | None = None
    ) -> None:
        try:
            delivery = await self.app.producer.send(
                topic, key, value, None, None, list(headers or ()) or None
            )
        except ProducerSendError as exc:
            # Faust wraps what aiokafka refuses at once (a record over the request size); the
            # cause says whether it can pass.
            raise (exc.__cause__ or exc) from None
        self.pending.append(asyncio.ensure_future(delivery))

    async def flush(self) -> None:
        pending, self.pending = self.pending, []
        results = await asyncio.gather(*pending, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    def abandon(self) -> None:
        pending, self.pending = self.pending, []
        for delivery in pending:
            delivery.add_done_callback(_collect)


def _collect(delivery: asyncio.Future[Any]) -> None:
    if not delivery.cancelled():
        delivery.exception()


def batches(settings: Settings, app: faust.App, stream: StreamT) -> AsyncIterator[list[EventT]]:
    """Events with their Kafka metadata, merged while their partition is behind
    (:mod:`.catch_up`), each held by one more reference until :func:`held` acknowledges it."""

    def behind(event: EventT) -> bool:
        message = event.message
        try:
            end = app.consumer.highwater(message.tp)
        except (AssertionError, AttributeError):  # aiokafka's answer for a revoked partition
            return False
        return end is not None and end - message.offset - 1 >= settings.catch_up_lag

    queue = cast(ChannelT, stream.channel).queue
    taken = arrived(stream.events(), lambda: not queue.empty(), settings.batch_max, _hold)
    return merge_while_behind(taken, behind, settings.batch_max, settings.catch_up_within_s)


def _hold(event: EventT) -> None:
    event.message.incref()


@contextlib.asynccontextmanager
async def held(stream: StreamT, events: Sequence[EventT]) -> AsyncIterator[None]:
    """Keep a batch from being acknowledged unless the block finishes.

    A stream acks an event in a ``finally`` when it is asked for the next one or its iteration
    is closed, also when the agent is cancelled (shutdown, rebalance) in the middle of a batch
    that keeps failing, and Faust's consumer commits acknowledged offsets when it stops and when
    partitions are revoked: those events could be skipped for good. The one more reference per
    message that :func:`batches` took makes that ack a mere decrement: the message is
    acknowledged (and its offset can be committed) only after our own ack below, which an
    exception or a cancellation skips.
    """
    yield
    for event in events:
        await stream.ack(event)


async def carry_on(task: str, work: Awaitable[object]) -> bool:
    """Run one tick of a timer: a failure is logged and counted, and the timer runs again next
    time (an exception would stop the service, and with it the worker's consumption). False
    when it failed."""
    try:
        await work
    except Exception:
        metrics.BACKGROUND_FAILURES.labels(task).inc()
        log.exception("background task failed task=%s; it runs again at its next tick", task)
        return False
    return True


def records(events: Sequence[EventT]) -> list[Record]:
    """Faust events as plain records (what the processors take)."""
    out = []
    for event in events:
        m = event.message
        timestamp_ms = int(m.timestamp * 1000)
        # aiokafka hands Faust the record's headers as (name, bytes) pairs, never a mapping.
        headers = cast(Headers, m.headers or ())
        out.append(Record(m.topic, m.partition, m.offset, m.key, m.value, timestamp_ms, headers))
    return out


class _IdempotentProducer(kafka_driver.Producer):
    """Faust's producer, idempotent: a send retried after a lost acknowledgement is written
    once (Faust asks for idempotence inside transactions only; acks are ``all`` already)."""

    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), "enable_idempotence": True}


class _Transport(kafka_driver.Transport):
    Producer = _IdempotentProducer


class _App(faust.App):
    """A Faust app whose producer is idempotent."""

    def _new_transport(self) -> TransportT:
        return _Transport(self.conf.broker_consumer, self)


def _credentials(settings: Settings) -> faust.SASLCredentials | faust.SSLCredentials | None:
    """Faust's form of the connection options every other client takes
    (:func:`~streamapp.brokers.kafka_options`): SASL over plaintext or TLS, or TLS alone."""
    options = kafka_options(settings)
    if options["security_protocol"].startswith("SASL_"):
        return faust.SASLCredentials(
            username=options["sasl_plain_username"],
            password=options["sasl_plain_password"],
            ssl_context=options.get("ssl_context"),
            mechanism=options["sasl_mechanism"],
        )
    if options["security_protocol"] == "SSL":
        return faust.SSLCredentials(options["ssl_context"])
    return None


def _faust_app(
    settings: Settings,
    app_id: str,
    web_port: int,
    middlewares: Sequence[api.Middleware] = (),
) -> faust.App:
    """A Faust app with our conventions: raw bytes, at-least-once, nothing auto-created, and
    none of Faust's own web pages; every request counted and timed, errors as problem
    details, and ``middlewares`` (the worker's API keys) inside those."""
    # Faust creates its data folder without its parents: on a fresh checkout `.stack/faust`
    # does not exist, and the worker would die at start.
    datadir = settings.datadir / app_id
    datadir.mkdir(parents=True, exist_ok=True)
    return _App(
        app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        broker_credentials=_credentials(settings),
        store="memory://",
        datadir=str(datadir),
        key_serializer="raw",
        value_serializer="raw",
        processing_guarantee="at_least_once",
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
        topic_disable_leader=True,
        topic_allow_declare=False,
        producer_max_request_size=8 * 1024 * 1024,
        consumer_max_fetch_size=8 * 1024 * 1024,
        web_host=settings.web_host,
        web_port=web_port,
        web_bind=settings.web_host,
        web_tables_enabled=False,
        web_router_enabled=False,
        web_graph_enabled=False,
        web_stats_enabled=False,
        web_metrics_enabled=False,
        web_application_options={
            "middlewares": [api.measured, api.problems, *middlewares],
            "handler_args": {"max_line_size": api.MAX_REQUEST_LINE},
        },
    )


def raw_topic(app: faust.App, *names: str) -> faust.TopicT:
    return app.topic(*names, key_serializer="raw", value_serializer="raw")


def interactions_in_turn(
    settings: Settings, continuity: Continuity, interactions: InteractionProcessor
) -> tuple[Process, Turn[list[EventT]], Ahead[Record, Prepared]]:
    """The interactions agent's process: after the gaps are filled, each batch's lists are made
    while the next batch, if it has arrived, is applied (:mod:`.ahead`); the agent keeps the
    returned turn current and drops what is prepared ahead when it stops."""
    ahead: Ahead[Record, Prepared] = Ahead(interactions.prepare)
    turn: Turn[list[EventT]] = Turn()
    refresh_topic = settings.topic("refresh")

    def prepare_next() -> None:
        batch = turn.arrived()
        if batch is None or not continuity.settled():
            return
        upcoming = records(batch)
        if any(record.topic == refresh_topic for record in upcoming):
            return
        if fresh := continuity.unreplayed(upcoming):
            ahead.start(fresh)

    async def process(batch: list[Record]) -> None:
        await continuity.before()
        if fresh := continuity.unreplayed(batch):
            prepared = await ahead.take(fresh) or await interactions.prepare(fresh)
            if len(batch) == turn.size:  # the whole batch is applied, not a part of it
                prepare_next()
            await interactions.complete(prepared)

    return process, turn, ahead


def create_app(settings: Settings) -> faust.App:
    """Build the worker app: topics, agents, lag timer and web pages."""
    app = _faust_app(settings, settings.app_id, settings.web_port, [api.Guard(settings).check])
    batch_fetches(app, settings.fetch_min_bytes, settings.fetch_max_wait_ms)
    store = Store(settings)
    registry = ModelRegistry(store)
    sink = FaustSink(app)

    model = ServingModel(settings.retrieval_min_support)
    experiments = ExperimentLog(
        kafka_options(settings), settings.topic("experiments"), f"{settings.app_id}-experiments"
    )
    rules: CompactedTopic[Rule] = CompactedTopic(
        kafka_options(settings),
        settings.topic("rules"),
        f"{settings.app_id}-rules",
        keyed,
        "rule",
    )

    def every_rule() -> Iterable[Rule]:
        return rules.definitions.values()

    # A sink of its own: a flush confirms the deliveries of its sender alone.
    effects = RuleEffects(settings, store, FaustSink(app), every_rule)
    tracer = tracing.configure(settings, "streamapp-worker")
    interactions = InteractionProcessor(
        settings, store, sink, model, tracer, experiments.running, every_rule
    )
    inventory = InventoryProcessor(settings, store, sink)
    health = Health()

    def runner(agent: str, process: Process, reject: Reject, replay: bool = False) -> BatchRunner:
        # A replay gives up when the state it rebuilds is lost: the batch that runs it retries.
        gives_up_on = (StateLost, StateGap) if replay else ()
        return BatchRunner(agent, process, sink, reject, health, gives_up_on=gives_up_on)

    state_topics = {settings.topic(name) for name in ("clicks", "carts", "inventory")}

    async def commit_acknowledged() -> bool:
        return await app.consumer.commit()

    def assigned() -> list[TopicPartition]:
        return [
            TopicPartition(tp.topic, tp.partition)
            for tp in app.consumer.assignment()
            if tp.topic in state_topics
        ]

    # Records read again to rebuild or complete the state run through runners of their own.
    continuity = Continuity(
        settings,
        store,
        runner("inventory-replay", inventory.process, inventory.dead_letters.reject, True).run,
        runner(
            "interactions-replay", interactions.process, interactions.dead_letters.reject, True
        ).run,
        assigned,
        commit_acknowledged,
    )

    interactions_after_gaps, turn, ahead = interactions_in_turn(settings, continuity, interactions)

    async def inventory_after_gaps(records: list[Record]) -> None:
        await continuity.before()
        if fresh := continuity.unreplayed(records):
            await inventory.process(fresh)

    interaction_batches = runner(
        "interactions", interactions_after_gaps, interactions.dead_letters.reject
    )
    inventory_batches = runner("inventory", inventory_after_gaps, inventory.dead_letters.reject)

    input_topic = raw_topic(
        app, settings.topic("clicks"), settings.topic("carts"), settings.topic("refresh")
    )
    inventory_topic = raw_topic(app, settings.topic("inventory"))

    @app.agent(input_topic, concurrency=1)
    async def interaction_agent(stream: StreamT) -> None:
        try:
            async for batch, upcoming in looking_ahead(batches(settings, app, stream)):
                turn.size, turn.upcoming = len(batch), upcoming
                async with held(stream, batch):
                    await interaction_batches.run(records(batch))
        finally:
            ahead.drop()

    @app.agent(inventory_topic, concurrency=1)
    async def inventory_agent(stream: StreamT) -> None:
        async for batch in batches(settings, app, stream):
            async with held(stream, batch):
                await inventory_batches.run(records(batch))

    @app.service
    class Connections(Service):
        """Opens Redis and the lag reader with the worker and closes them on shutdown."""

        lag_reader: LagReader

        async def on_start(self) -> None:
            await store.start()
            # aiokafka clients bind to the running loop: create them here, not at import.
            self.lag_reader = LagReader(kafka_options(settings), f"{settings.app_id}-lag")
            await self.lag_reader.start()
            await continuity.start()
            await experiments.start()
            await rules.start()
            # The rules' and the sensitive categories' effects before the first list; a Redis
            # that does not answer yet (restarting, loading) leaves them to the rules loop.
            await carry_on("rule_effects", effects.step(now_ms()))

        async def on_stop(self) -> None:
            await rules.stop()
            await experiments.stop()
            await continuity.stop()
            await self.lag_reader.stop()
            await store.stop()
            tracing.shutdown()

        @Service.timer(settings.model_poll_s)
        async def follow_model(self) -> None:
            named = models_named(experiments.running())
            await carry_on("follow_model", model.refresh(registry, named))

        @Service.timer(1.0)
        async def follow_experiments(self) -> None:
            await carry_on("follow_experiments", experiments.poll())

        @Service.task
        async def follow_rules(self) -> None:
            """Rules take effect as soon as they are read (a long poll, not a timer: a block
            must reach current lists as fast as a stock-out does), and start and end on their
            own at their times."""
            while not self.should_stop:
                if not await carry_on("follow_rules", self._follow_rules()):
                    await asyncio.sleep(1.0)  # a failing read fails at once: not in a loop

        async def _follow_rules(self) -> None:
            await rules.poll(timeout_ms=RULES_POLL_MS)
            await effects.step(now_ms())

        @Service.timer(1.0)
        async def watch_state(self) -> None:
            await carry_on("watch_state", continuity.watch())

        @Service.timer(settings.lag_interval_s)
        async def export_lag(self) -> None:
            await carry_on("export_lag", self._export_lag())

        async def _export_lag(self) -> None:
            rows = await self.lag_reader.group_lag(settings.app_id)
            lag.export(settings.app_id, rows, now_ms())

    @app.on_partitions_assigned.connect
    async def recheck_partitions(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        continuity.reassigned()

    operations.register_operations(app, store, health)
    api.register(app, settings, store, model, experiments.running, every_rule)
    return app


def create_learner_app(settings: Settings) -> faust.App:
    """The learner: its own consumer group over clicks, carts and audit; snapshots on a timer."""
    app = _faust_app(settings, settings.learner_group, settings.learner_web_port)
    batch_fetches(app, settings.learner_fetch_min_bytes, settings.learner_fetch_max_wait_ms)
    store = Store(settings)
    learner = Learner(settings, store)
    exposure = ExposureWindows(int(settings.exposure_window_s * 1000), settings.exposure_users_max)
    monitor = ExperimentMonitor(settings, exposure)
    exported = ExposureExport(exposure)
    rollout = RolloutController(settings, store, learner.registry, monitor)

    inputs = raw_topic(
        app, settings.topic("clicks"), settings.topic("carts"), settings.topic("audit")
    )

    learning = BatchRunner("learner", learner.process, NoOutputs(), learner.skip, Health())

    @app.agent(inputs, concurrency=1)
    async def learn(stream: StreamT) -> None:
        async for batch in batches(settings, app, stream):
            async with held(stream, batch):
                await learning.run(records(batch))

    @app.service
    class Snapshots(Service):
        """Opens Redis with the learner, publishes a snapshot every interval, watches the
        running experiments and takes snapshots through their rollout, and exports each
        completed exposure window."""

        async def on_start(self) -> None:
            await store.start()
            await learner.start()
            await monitor.start()
            await rollout.start()

        async def on_stop(self) -> None:
            await rollout.stop()
            await monitor.stop()
            await store.stop()

        @Service.timer(settings.snapshot_interval_s)
        async def publish(self) -> None:
            await carry_on("publish_snapshot", learner.publish())

        @Service.timer(settings.rollout_interval_s)
        async def watch(self) -> None:
            await carry_on("watch_experiments", monitor.poll())
            exported.step()
            if settings.rollout == "canary":
                await carry_on("rollout", rollout.step())

    operations.register_operations(app, store, learning.health)
    return app


class _Worker(faust.Worker):
    """Faust's worker, with the garbage collector tuned once start-up is over
    (:mod:`streamapp.worker.heap`)."""

    async def on_startup_finished(self) -> None:
        await super().on_startup_finished()
        tune_collector()


def run(app: faust.App, loglevel: str) -> None:
    """Run a Faust app until SIGTERM/SIGINT (blocks).

    Without Faust's startup spinner: to spin on every log message it sets the root logger to
    DEBUG, so every aiokafka send and frame built a log record nobody printed (≈3 % of a busy
    worker's samples in py-spy).
    """
    worker = _Worker(app, loglevel=loglevel)
    worker.spinner = None
    worker.execute_from_commandline()
