"""One typed settings object for the whole process.

Every value can be overridden by an environment variable with the ``STREAMAPP_`` prefix
(``STREAMAPP_KAFKA_BOOTSTRAP=127.0.0.1:9092``); nested mappings take JSON
(``STREAMAPP_WEIGHTS='{"click": 1, "purchase": 8}'``). Read once with :func:`get_settings`.

>>> Settings().kafka_bootstrap
'127.0.0.1:9092'
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from streamapp.contracts import SCHEMAS_DIR, TOPICS_DIR

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Everything a worker, the CLI, replays and benchmarks need to agree on."""

    model_config = SettingsConfigDict(env_prefix="STREAMAPP_", extra="ignore")

    # Where things are.
    kafka_bootstrap: str = "127.0.0.1:9092"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Longest wait for one Redis reply (a batch's scripts included) before the call fails and
    # the batch is retried.
    redis_timeout_s: float = 5.0
    app_id: str = "streamapp"
    topic_prefix: str = ""
    topics_dir: Path = TOPICS_DIR
    schemas_dir: Path = SCHEMAS_DIR
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    # Faust's data folder (created with its parents when a worker or the learner starts).
    datadir: Path = Path(".stack/faust")
    # Where `replay`, `evaluate` and `bench` find the named logs (taobao, rees46): by default
    # the shared datasets beside the checkout.
    datasets_dir: Path = ROOT.parent / "shared" / "datasets"

    # Input contract.
    tenants: tuple[str, ...] = ("default",)
    max_event_bytes: int = 64 * 1024
    max_event_age_s: float = 30 * 86400.0
    max_clock_skew_s: float = 300.0

    # How long a worker that died silently keeps its partitions before the group moves them.
    session_timeout_s: float = 30.0

    # Batching on the hot path: the broker holds each fetch up to fetch_max_wait_ms (while the
    # worker processes the batch before), then a batch takes what arrived within batch_within_s.
    batch_max: int = 1000
    batch_within_s: float = 0.003
    fetch_min_bytes: int = 64 * 1024
    fetch_max_wait_ms: int = 4

    # Decayed state.
    half_life_s: float = 86400.0
    weights: dict[str, float] = Field(
        default_factory=lambda: {
            "click": 1.0,
            "fav": 2.0,
            "cart_add": 3.0,
            "cart_remove": 0.0,
            "purchase": 5.0,
        }
    )
    session_items: int = 20
    # Co-visitation pairs an item with the newest N of the session (and reads their neighbours):
    # 3 rather than 5 is ≈40 % fewer increments and reads, with NDCG@10 0.1116 → 0.1125 on
    # Taobao and 0.2914 → 0.2918 on REES46 (`streamapp evaluate`).
    covisit_window: int = 3
    user_items_max: int = 200
    user_categories_max: int = 50
    covisit_max: int = 100
    # How many items keep co-visitation rows, and categories popularity rows (the idlest beyond
    # lose theirs): with covisit_max this bounds Redis memory whatever ids arrive.
    covisit_items_max: int = 200_000
    categories_max: int = 20_000
    popularity_max: int = 5000
    category_popularity_max: int = 500
    purchased_max: int = 100
    seen_event_ids: int = 256
    user_ttl_s: int = 30 * 86400
    # When Redis has lost the state, interactions are replayed from this far before the
    # consumer's position (in record time): seven half-lives, past which an event weighs less
    # than 1/128 of a new one. The topics' retention bounds it too.
    rebuild_horizon_s: float = 7 * 86400.0

    # Candidates, join and ranking.
    top_k: int = 10
    covisit_per_item: int = 20
    categories_per_user: int = 2
    category_candidates: int = 20
    # Cold start: per category, the newest in-stock items without interactions yet (kept up
    # to new_arrivals_max, new_arrival_candidates read per user category).
    new_arrival_candidates: int = 10
    new_arrivals_max: int = 200
    # A stock-out of an item in more current lists than this pages its users (ZSCAN) rather
    # than reading them in the inventory script, which would block Redis for as long.
    refresh_chunk: int = 1000
    popular_candidates: int = 20
    history_candidates: int = 20
    drop_unknown_stock: bool = False
    score_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "recent": 2.0,
            "history": 1.0,
            "covisit": 1.0,
            "mf": 0.1,
            "category": 0.5,
            "new": 0.3,
            "popular": 0.2,
        }
    )
    model_version: str = "decayed-counts-v1"
    exploration: float = 0.0
    audit_sample_rate: float = 0.01

    # Online matrix factorisation (the `mf` source).
    mf_factors: int = 32
    # The learner keeps vectors of this many recently seen users and items (≈0.4 KB each at 32
    # factors); the idlest beyond are dropped (a user's comes back from Redis).
    learner_users_max: int = 100_000
    learner_items_max: int = 200_000
    mf_loss: str = "pairwise"
    mf_candidates: int = 20
    mf_rebuild_every: int = 2000
    retrieval_min_support: int = 2
    model_poll_s: float = 2.0
    snapshot_interval_s: float = 30.0
    learner_auto_promote: bool = True
    learner_web_port: int = 6067
    learner_nice: int = 19
    # The learner's fetches wait for this much data or this long (it has no latency target).
    learner_fetch_min_bytes: int = 256 * 1024
    learner_fetch_max_wait_ms: int = 500
    # The learned ranker: an audited list's label window, and whether serving re-ranks with it.
    ranker_window_s: float = 600.0
    learned_ranker: bool = True
    experiment_variant: str = "control"

    # Operations.
    lag_interval_s: float = 5.0
    # Tracing (streamapp.ops.tracing): off | console | otlp; root events sampled at tracing_sample.
    tracing: Literal["off", "console", "otlp"] = "off"
    tracing_endpoint: str = "http://127.0.0.1:4318/v1/traces"
    tracing_sample: float = Field(default=0.01, ge=0.0, le=1.0)

    @property
    def decay_rate(self) -> float:
        """λ of forward decay, per millisecond (timestamps are epoch ms)."""
        return math.log(2.0) / (self.half_life_s * 1000.0)

    def topic(self, name: str) -> str:
        """Physical topic name: the configurable prefix lets tenants share a cluster."""
        return f"{self.topic_prefix}{name}"


def redact(url: str) -> str:
    """A connection URL fit for a log line or an error: its password replaced by ``***``.

    >>> redact("rediss://app:s3cret@redis.internal:6380/0")
    'rediss://app:***@redis.internal:6380/0'
    >>> redact("redis://127.0.0.1:6379/0")
    'redis://127.0.0.1:6379/0'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
