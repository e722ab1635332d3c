"""Redis is a cache of Kafka: the state continues where each partition's next batch starts, and
a state Redis has lost is rebuilt from the logs before any list is made from it.

Three facts are kept in Redis beside the state (``store.py`` names the keys): per input
partition the last offset applied (the *watermark*, written by the state scripts in the same
call as the state), per input topic the id of the topic those offsets are from, and the state's
*epoch*, set once the state is whole. Every script that changes state is given the epoch the
worker works in and changes nothing if Redis holds another (``StateLost``, ``lua/guard.lua``):
Redis restarted without its data, was flushed, or the state was rebuilt or rescaled meanwhile.
A one-second timer (:meth:`Continuity.watch`) notices it too when no batch comes.

- **Lost state.** A worker that finds no epoch notes its rebuild in Redis, reads the compacted
  ``inventory`` topic from its beginning to its end (so the out-of-stock set and the product
  table are whole before any list is made), completes its own partitions (next point), and sets
  the epoch only if its note survived (a Redis lost again meanwhile starts the rebuild over).
  A worker that finds an epoch set by another completes its partitions and adopts it. Until
  then every other task of the process is refused by the scripts, so nothing is applied to a
  partial state, and cached landmarks are read again afterwards.
- **Completion.** After an assignment or in a new epoch, every assigned partition of
  ``clicks``, ``carts`` and ``inventory`` (the inventory first) whose watermark is behind the
  group's committed offset has the records in between applied — after committing what the
  worker has acknowledged, so the committed offset is everything it applied. A partition
  without a watermark is replayed from the records published in the last
  ``rebuild_horizon_s`` (or the log's start, whichever is later). A topic whose id is not the
  one the watermarks are from was deleted and recreated: its watermarks are dropped first.
- **Gaps.** A batch that starts past its partition's watermark + 1 is refused by the script
  (``StateGap``); the records in between are applied first and the batch is tried again. This
  catches a state that fell behind while the worker runs (a failover to a replica that lagged,
  the last second of an append-only file).

Replayed records go through the same processing as new ones, outputs included: a user's list is
made again, so the current lists, and with them the stock-out index, are whole again. What the
agent then receives of the same offsets is skipped (:meth:`Continuity.unreplayed`). Progress:
warnings in the log, ``streamapp_state_rebuilds_total``, ``streamapp_replayed_records_total``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from aiokafka import TopicPartition

from streamapp.brokers import kafka_options
from streamapp.contracts.events import Record
from streamapp.failures import Transient
from streamapp.ops import metrics
from streamapp.ops.log_reader import LogReader
from streamapp.settings import Settings
from streamapp.state.store import Store
from streamapp.state.types import StateLost

__all__ = ["Continuity", "ContinuityFailed"]

log = logging.getLogger(__name__)

Apply = Callable[[list[Record]], Awaitable[None]]


class ContinuityFailed(Transient):
    """Checking or completing the state failed (Kafka or Redis away, a bug): the batch waits."""


# The worker's partitions of the topics the state is made of (clicks, carts, inventory).
Assigned = Callable[[], list[TopicPartition]]
# Commit what the worker has acknowledged (False: it waited for a commit already under way).
Commit = Callable[[], Awaitable[bool]]


class Continuity:
    """Keeps one worker's state continuous with its input partitions (module docstring)."""

    reader: LogReader

    def __init__(
        self,
        settings: Settings,
        store: Store,
        apply_inventory: Apply,
        apply_interactions: Apply,
        assigned: Assigned,
        commit: Commit,
    ) -> None:
        self.settings = settings
        self.store = store
        self.apply_inventory = apply_inventory
        self.apply_interactions = apply_interactions
        self.assigned = assigned
        self.commit = commit
        # Assignments seen and the last one completed: complete when equal. A count, not a flag,
        # so that partitions assigned while a completion runs are completed in turn.
        self.assignments = 0
        self.completed = -1
        self._lock = asyncio.Lock()
        store.guarded = True
        # Per partition, the last offset a replay applied in the current state: the agent
        # skips what it receives again up to there (no second dead letter, no second list).
        self.replayed: dict[str, int] = {}

    async def start(self) -> None:
        # aiokafka clients bind to the running loop: created here, not in __init__.
        self.reader = LogReader(kafka_options(self.settings), f"{self.settings.app_id}-replay")
        await self.reader.start()

    async def stop(self) -> None:
        await self.reader.stop()

    def reassigned(self) -> None:
        """Partitions moved: check them again before the next batch."""
        self.assignments += 1

    async def ensure_state(self) -> None:
        """Return once the state is whole and this process works in its epoch."""
        if self.store.epoch is None:
            async with self._lock:
                if self.store.epoch is None:
                    await self._recover()

    def settled(self) -> bool:
        """Nothing to rebuild, complete or fill in: :meth:`before` would return at once."""
        return (
            self.store.epoch is not None
            and self.completed == self.assignments
            and not self.store.gaps
            and not self._lock.locked()
        )

    async def before(self) -> None:
        """Before a batch is applied: the state is whole, has every record of this worker's
        partitions that the group committed, and every record before the batch.

        Whatever fails here is a reason to wait, never one to reject the batch's events: it is
        raised as :class:`ContinuityFailed`, which the batch runner retries with backoff.
        """
        try:
            await self._before()
        except Transient:
            raise
        except Exception as exc:
            raise ContinuityFailed(f"the state could not be checked or completed: {exc}") from exc

    async def _before(self) -> None:
        await self.ensure_state()
        if self.completed == self.assignments and not self.store.gaps:
            return
        async with self._lock:
            if self.completed != self.assignments:
                assignment = self.assignments
                await self._complete_assigned()
                self.completed = assignment
            gaps, self.store.gaps = self.store.gaps, {}
            if gaps:
                ends = {
                    TopicPartition(topic, int(partition)): first
                    for (topic, partition), first in (
                        (tp.rsplit(":", 1), first) for tp, first in gaps.items()
                    )
                }
                await self._complete(ends, {tp.topic for tp in ends})

    async def _complete_assigned(self) -> None:
        """Complete every assigned partition up to the group's committed offset, after
        committing all this worker has acknowledged: a batch is acknowledged once applied and
        its outputs confirmed, so what a lost state lacks is everything up to there. (A topic
        deleted and recreated has no committed offset any more, but its partitions are checked
        for it all the same.)"""
        if not await self.commit():
            await self.commit()
        assigned = self.assigned()
        committed = await self.reader.committed(self.settings.app_id, assigned)
        ends = {tp: offset for tp, offset in committed.items() if tp in assigned}
        await self._complete(ends, {tp.topic for tp in assigned})

    def unreplayed(self, records: list[Record]) -> list[Record]:
        """``records`` without those a replay has applied already."""
        return [r for r in records if r.offset > self.replayed.get(r.tp, -1)]

    async def watch(self) -> None:
        """A timer's tick: notice a lost state, or partitions not yet completed, when no batch
        arrives to notice it (an idle worker rebuilds as soon as Redis is back)."""
        if self.store.epoch is not None and await self.store.stored_epoch() != self.store.epoch:
            self.store.adopt(None)
        await self.before()

    async def _recover(self) -> None:
        """Rebuild (or catch up with another worker's rebuild) before adopting the epoch: until
        then every other task's guarded call fails, so nothing is applied to a partial state."""
        self.store.adopt(None)
        self.replayed.clear()
        assignment = self.assignments
        started = time.monotonic()
        epoch = await self.store.stored_epoch()
        candidate = uuid.uuid4().hex
        with self.store.rebuilding(epoch, candidate):
            if epoch is None:
                await self.store.begin_rebuild(candidate)
                metrics.STATE_REBUILDS.inc()
                log.warning("no state in Redis: rebuilding it from Kafka, the inventory first")
                topic = self.settings.topic("inventory")
                partitions = await self.reader.partitions(topic)
                starts, ends = await self.reader.bounds(partitions)
                for tp in partitions:
                    await self._replay(tp, starts[tp], ends[tp], self.apply_inventory)
            await self._complete_assigned()
            if epoch is None:
                epoch = await self.store.establish_epoch(candidate)
                if epoch is None:
                    raise StateLost("Redis lost the state again while it was being rebuilt")
        self.store.adopt(epoch)
        self.completed = assignment
        log.info("working in state epoch %s after %.1f s", epoch, time.monotonic() - started)

    async def _complete(self, ends: dict[TopicPartition, int], topics: set[str]) -> None:
        """Check ``topics`` are the ones the watermarks are from, then apply what the state
        lacks of each partition before its end offset."""
        ids = await self.reader.topic_ids(sorted(topics))
        known = await self.store.log_ids()
        watermarks = await self.store.watermarks()
        for topic in sorted(topics):
            if topic not in ids or known.get(topic) == ids[topic]:
                continue
            if topic in known:
                stale = [tp for tp in watermarks if tp.rsplit(":", 1)[0] == topic]
                log.warning(
                    "topic %s was recreated (id %s, the state's watermarks are from %s): "
                    "its %d watermarks are dropped",
                    topic,
                    ids[topic],
                    known[topic],
                    len(stale),
                )
                await self.store.forget_watermarks(stale)
                metrics.LOGS_REPLACED.inc()
                for tp in stale:
                    del watermarks[tp]
            await self.store.record_log_id(topic, ids[topic])
        horizon = int((time.time() - self.settings.rebuild_horizon_s) * 1000)
        inventory = self.settings.topic("inventory")
        # The inventory first: the out-of-stock set is whole before a replayed list is made.
        for tp, end in sorted(ends.items(), key=lambda p: (p[0].topic != inventory, p)):
            watermark = watermarks.get(f"{tp.topic}:{tp.partition}")
            start = (
                watermark + 1 if watermark is not None else await self.reader.offset_at(tp, horizon)
            )
            if start is not None and start < end:
                log.warning(
                    "partition %s:%d: the state has offsets up to %s, the log was applied up "
                    "to %d: replaying up to %d records first",
                    *tp,
                    watermark,
                    end - 1,
                    end - start,
                )
                apply = self.apply_inventory if tp.topic == inventory else self.apply_interactions
                await self._replay(tp, start, end, apply)

    async def _replay(self, tp: TopicPartition, start: int, end: int, apply: Apply) -> None:
        done = 0
        async for chunk in self.reader.read(tp, start, end, self.settings.batch_max):
            # Offsets skipped to get here are no longer in the log (retention, compaction).
            await self.store.advance_watermark(chunk[0].tp, chunk[0].offset - 1)
            await apply(chunk)
            self.replayed[chunk[-1].tp] = chunk[-1].offset
            done += len(chunk)
            metrics.REPLAYED_RECORDS.labels(tp.topic).inc(len(chunk))
        if done:
            log.info("replayed %s:%d offsets %d..%d (%d records)", *tp, start, end - 1, done)
