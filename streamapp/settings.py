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

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from streamapp.contracts import SCHEMAS_DIR, TOPICS_DIR
from streamapp.errors import UsageError

ROOT = Path(__file__).resolve().parent.parent


# What a tenant's learned ranker learns to put first (``Settings.objective``).
Objective = Literal["engagement", "add_to_cart", "purchase"]


class TenantOverrides(BaseModel):
    """One tenant's entry in ``STREAMAPP_TENANT_SETTINGS_FILE``: what it sets apart from the
    deployment (whatever it leaves out is the deployment's)."""

    model_config = ConfigDict(extra="forbid")

    score_weights: dict[str, float] = Field(default_factory=dict)
    exploration: float | None = Field(default=None, ge=0.0, le=1.0)
    learned_ranker: bool | None = None
    objective: Objective | None = None
    sensitive_categories: tuple[str, ...] | None = None


class TenantSettings(BaseModel):
    """What ranking one tenant's lists reads: the deployment's settings with the tenant's own
    over them (:meth:`Settings.of_tenant`)."""

    model_config = ConfigDict(frozen=True)

    score_weights: dict[str, float]
    exploration: float
    learned_ranker: bool
    objective: Objective
    sensitive_categories: tuple[str, ...]


class Settings(BaseSettings):
    """Everything a worker, the CLI, replays and benchmarks need to agree on.

    Each setting's docstring is its reference: ``streamapp settings --markdown`` renders them
    into docs/configuration.md, and a test fails when the two disagree.
    """

    model_config = SettingsConfigDict(
        env_prefix="STREAMAPP_", extra="ignore", use_attribute_docstrings=True
    )

    # Where things are.
    kafka_bootstrap: str = "127.0.0.1:9092"
    """Kafka bootstrap servers, comma-separated ``host:port``."""
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    """How every Kafka client of the process connects (the worker's, the learner's and every
    command's): ``SASL_SSL`` for a managed or shared cluster."""
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    """The SASL mechanism of a ``SASL_*`` protocol."""
    kafka_sasl_username: str = ""
    """The principal's user name for SASL."""
    kafka_sasl_password: SecretStr = SecretStr("")
    """Its password (``streamapp settings`` prints it as ``**********``; no log line or error
    holds it)."""
    kafka_sasl_password_file: str = ""
    """A file holding the SASL password (a mounted secret), read when the password above is
    empty."""
    kafka_ssl_cafile: str = ""
    """CA certificate (PEM) the brokers' certificates are checked against with ``SSL`` or
    ``SASL_SSL`` (the system's CAs when empty)."""
    kafka_ssl_certfile: str = ""
    """Client certificate (PEM) for brokers that authenticate clients by certificate."""
    kafka_ssl_keyfile: str = ""
    """Its private key (PEM)."""
    redis_url: str = "redis://127.0.0.1:6379/0"
    """Redis URL (``redis://``, or ``rediss://`` for TLS; ``user:password@`` for an ACL
    user); with ``redis_cluster``, any node of the cluster at database 0, a cluster's only
    one. Printed and logged with its password hidden."""
    redis_password_file: str = ""
    """A file holding the Redis password (a mounted secret), for a URL without one: the URL
    can then sit in configuration that is not secret."""
    redis_ca_file: str = ""
    """CA certificate (PEM) a ``rediss://`` server's certificate is checked against (the
    system's CAs when empty)."""
    redis_cert_file: str = ""
    """Client certificate (PEM) for a ``rediss://`` server that asks for one."""
    redis_key_file: str = ""
    """Its private key (PEM)."""
    redis_cluster: bool = False
    """The Redis at ``redis_url`` is a Redis Cluster: the client follows its slot map. A
    deployment's keys share one hash slot (``app_id``), so every script runs whole on one
    node."""
    redis_timeout_s: float = 5.0
    """Longest wait for one Redis reply (a batch's scripts included) before the call fails and
    the batch is retried."""
    app_id: str = Field(default="streamapp", pattern=r"^[^{}]+$")
    """Kafka consumer group and Faust application id; the learner, evaluator and tools derive
    theirs from it. Every Redis key of the deployment starts with it as a hash tag
    (``{streamapp}:``), so deployments sharing a Redis or a Redis Cluster are apart."""
    topic_prefix: str = ""
    """Prepended to every topic name, so several deployments can share one cluster."""
    topics_dir: Path = TOPICS_DIR
    """Folder of the topic declarations ``streamapp topics apply`` applies."""
    topic_replication_factor: int | None = Field(default=None, ge=1)
    """Every topic's replication factor, over its declaration's (1, for one local broker):
    3 in production, so a broker can be lost without losing a record."""
    topic_min_insync_replicas: int | None = Field(default=None, ge=1)
    """Every topic's ``min.insync.replicas``, over its declaration's (the broker's default
    when neither sets it): 2 in production, so a write acknowledged by every in-sync
    replica (``acks=all``) is on two brokers."""
    schemas_dir: Path = SCHEMAS_DIR
    """Folder of the JSON Schemas every input and output message is validated against."""
    web_host: str = "127.0.0.1"
    """Address the worker's HTTP API and ``/metrics`` listen on."""
    web_port: int = 6066
    """Port of the worker's HTTP API and ``/metrics``."""
    api_keys_file: str = ""
    """A YAML list of API keys (``name``, ``sha256`` of the key, ``tenants`` it reads;
    ``streamapp api-key new`` makes an entry): every ``/v1`` request carries one as
    ``Authorization: Bearer <key>``. Read again when it changes; without it the API answers
    nobody (401)."""
    api_rate_per_s: float = Field(default=50.0, gt=0.0)
    """Requests a second one API key may make (a token bucket); over it, 429 with
    ``Retry-After``. Requests with a wrong key are limited alike per client address."""
    api_burst: int = Field(default=100, ge=1)
    """Requests one API key may make at once before its rate applies."""
    datadir: Path = Path(".stack/faust")
    """Faust's data folder (created with its parents when a worker or the learner starts)."""
    datasets_dir: Path = ROOT.parent / "shared" / "datasets"
    """Where ``replay``, ``evaluate`` and ``bench`` find the named logs (taobao, rees46)."""

    # Input contract.
    tenants: tuple[str, ...] = ("default",)
    """Tenants the worker accepts; an event of any other is dead-lettered."""
    tenant_settings_file: str = ""
    """A YAML file of per-tenant settings, one mapping per tenant (``shop2: {score_weights:
    {popular: 1}, exploration: 0.05, learned_ranker: false, objective: purchase,
    sensitive_categories: [alcohol]}``):
    each tenant's lists are ranked with its own, the deployment's filling in what it leaves out.
    A tenant the worker does not accept, or a setting not listed here, is refused at start."""
    sensitive_categories: tuple[str, ...] = ()
    """Categories never recommended unless an approved ``allow`` rule covers them (an item
    the inventory topic flags ``sensitive`` is held out likewise); a rule on one of them
    needs a second person's approval (docs/merchandising.md)."""
    max_event_bytes: int = 64 * 1024
    """Largest event accepted; a bigger one is dead-lettered unread."""
    max_event_age_s: float = 30 * 86400.0
    """An event older than this (by its ``ts``) is dead-lettered as stale."""
    max_clock_skew_s: float = 300.0
    """An event this far in the future is dead-lettered: its producer's clock is wrong."""
    session_timeout_s: float = 30.0
    """How long a worker that died silently keeps its partitions before the group moves
    them."""

    # Batching on the hot path.
    batch_max: int = 1000
    """Most events one batch takes (one set of Redis round trips for all of them)."""
    fetch_min_bytes: int = 64 * 1024
    """The broker answers a fetch once this much data is there…"""
    fetch_max_wait_ms: int = 10
    """…or once it has held the fetch this long (while the worker processes the batch
    before)."""
    catch_up_lag: int = 10
    """A partition with at least this many records in the log past a batch is behind: the
    next batches are merged with it (larger batches, fewer lists per event)."""
    catch_up_within_s: float = 0.05
    """How long batches are merged while behind, at most."""

    # Decayed state.
    half_life_s: float = 86400.0
    """Half-life of every decayed score: an interaction this old weighs half a new one."""
    weights: dict[str, float] = Field(
        default_factory=lambda: {
            "click": 1.0,
            "fav": 2.0,
            "cart_add": 3.0,
            "cart_remove": 0.0,
            "purchase": 5.0,
            "return": 0.0,
        }
    )
    """Weight of each interaction type in every score it feeds (JSON object)."""
    session_items: int = 10
    """Items a user's recently viewed list (the ``recent`` signal) keeps."""
    covisit_window: int = 3
    """Co-visitation pairs an item with the user's newest this many recently viewed items, and
    reads their neighbours."""
    user_items_max: int = 30
    """Items a user's decayed history keeps (the weakest beyond are dropped). Ranking reads
    only the top ``history_candidates``; the rest is where an item can climb back from.
    Every item costs ≈ 12 bytes per active user."""
    user_categories_max: int = 10
    """Categories a user's decayed affinity keeps (ranking reads the top
    ``categories_per_user``)."""
    covisit_max: int = 100
    """Neighbours one item's co-visitation row keeps."""
    covisit_items_max: int = 200_000
    """Items that keep co-visitation rows (the idlest beyond lose theirs): with
    ``covisit_max`` this bounds Redis memory whatever ids arrive."""
    categories_max: int = 20_000
    """Categories that keep popularity rows (the idlest beyond lose theirs)."""
    popularity_max: int = 5000
    """Items a tenant's popularity ranking keeps."""
    category_popularity_max: int = 500
    """Items one category's popularity ranking keeps."""
    purchased_max: int = 100
    """Purchases remembered per user, so bought items are not recommended again."""
    seen_event_ids: int = 32
    """Event ids remembered per user, so an event a producer sent twice is not counted twice.
    A redelivered record is caught by the applied-offset watermark however old; this window
    only has to span a producer's retries. Each id costs 6 bytes (a digest)."""
    user_ttl_s: int = 30 * 86400
    """A user idle this long loses their state, list and vector."""
    rebuild_horizon_s: float = 7 * 86400.0
    """When Redis has lost the state, interactions are replayed from this far before the
    consumer's position (in record time); the topics' retention bounds it too. Seven
    half-lives, past which an event weighs less than 1/128 of a new one."""

    # Candidates, join and ranking.
    top_k: int = 10
    """Items in a published list."""
    covisit_per_item: int = 20
    """Co-visited neighbours read per recently viewed item."""
    categories_per_user: int = 2
    """A user's strongest categories read for category candidates."""
    category_candidates: int = 20
    """Popular items read per such category."""
    new_arrival_candidates: int = 10
    """Cold start: the newest in-stock items without interactions yet read per user
    category."""
    new_arrivals_max: int = 200
    """Cold start: new arrivals kept per category."""
    refresh_chunk: int = 1000
    """A stock-out of an item in more current lists than this pages its users (ZSCAN) rather
    than reading them in the inventory script, which would block Redis for as long."""
    popular_candidates: int = 20
    """Tenant-wide popular items read per user as candidates."""
    history_candidates: int = 20
    """Items of a user's decayed history read as candidates."""
    drop_unknown_stock: bool = False
    """Whether an item the inventory topic has never described is left out (otherwise it
    counts as in stock)."""
    score_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "recent": 6.0,
            "history": 1.0,
            "covisit": 1.0,
            "sequence": 3.0,
            "cosine": 0.0,
            "mf": 0.1,
            "category": 0.5,
            "new": 0.3,
            "popular": 0.2,
        }
    )
    """Weight of each candidate source's normalised signal in the hand-weighted score (JSON
    object; what `streamapp evaluate --tune` on the tuning parts of the shared logs agreed
    on, docs/evaluation.md); the learned ranker re-orders its top candidates where adopted."""
    model_version: str = "decayed-counts-v1"
    """Version stamped on lists while no learned model is promoted."""
    exploration: float = 0.0
    """Share of lists whose last slot shows an item drawn from the rest of the candidates,
    with its propensity logged (off-policy evaluation needs it above 0)."""
    audit_sample_rate: float = 0.01
    """Share of published lists written to the ``audit`` topic with their signals and
    propensities (labels for the learned ranker)."""

    # Online matrix factorisation (the ``mf`` source).
    mf_factors: int = 32
    """Dimensions of the user and item vectors."""
    learner_users_max: int = 100_000
    """Users whose vectors the learner keeps in memory (≈0.4 KB each at 32 factors; the idlest
    beyond are dropped, and come back from Redis)."""
    learner_items_max: int = 200_000
    """Items whose vectors the learner keeps in memory."""
    mf_loss: str = "pairwise"
    """Loss the learner optimises: ``pairwise`` (BPR on sampled negatives) or ``pointwise``
    (logistic)."""
    mf_candidates: int = 20
    """Nearest items retrieved from the Annoy index per user vector."""
    mf_rebuild_every: int = 2000
    """Events between index rebuilds in ``streamapp evaluate``."""
    retrieval_min_support: int = 2
    """Interactions an item needs before it enters the retrieval index (a vector trained on
    fewer is noise)."""
    model_poll_s: float = 2.0
    """How often a worker checks the registry for a newly promoted model."""
    snapshot_interval_s: float = 30.0
    """How often the learner saves a model snapshot, when new events arrived since the
    last."""
    model_lineage_s: float = 30 * 86400.0
    """How long a snapshot's metadata (its training offsets, events seen, quality at publish
    time) stays findable after its vectors are dropped (≈ 2 KB each), so the model behind any
    list of that age can be traced (``streamapp model show VERSION``)."""
    rollout: Literal["canary", "immediate", "manual"] = "canary"
    """What becomes of a snapshot the learner saves: a candidate that must pass the offline
    gate and a canary (``canary``), promoted at once (``immediate``), or nothing until an
    operator runs ``streamapp model promote`` (``manual``)."""
    rollout_interval_s: float = 5.0
    """How often the learner takes a look at the running experiments and the rollout."""
    rollout_gate_events: int = 2000
    """Latest interactions the offline gate replays through the candidate and the promoted
    model."""
    rollout_gate_tolerance: float = Field(default=0.2, ge=0.0)
    """The candidate is refused when its NDCG@10 on those is below the promoted model's by
    more than this share (1 lets every candidate through to the canary)."""
    rollout_canary_share: float = Field(default=0.1, gt=0.0, lt=1.0)
    """Share of users served the candidate during its canary."""
    rollout_metric: str = "click_through"
    """The canary's primary metric (an experiment metric)."""
    rollout_margin: float = Field(default=0.1, gt=0.0)
    """Non-inferiority margin: the candidate is promoted once its primary metric is shown to be
    at most this share below the promoted model's."""
    rollout_alpha: float = Field(default=0.01, gt=0.0, lt=0.5)
    """The canary's error rate: of rolling back a candidate as good as the promoted model (its
    harm tests share it), and of promoting one worse than the margin."""
    rollout_min_users: int = 100
    """Canary users the candidate needs before it can be promoted."""
    rollout_max_s: float = 1800.0
    """A canary without a verdict by then ends with the candidate not promoted (``expired``)."""
    attribution_window_s: float = 1800.0
    """How long after a list a user's clicks and carts count for it (experiments)."""
    exposure_window_s: float = Field(default=600.0, gt=0.0)
    """The learner's live exposure figures (``streamapp_exposure_*``) are those of the last
    completed window of this many seconds of published lists."""
    exposure_users_max: int = Field(default=200_000, gt=0)
    """Users the live exposure figures remember as having interacted (newest kept): one
    forgotten and back is counted a new user."""
    learner_web_port: int = 6067
    """Port of the learner's ``/metrics``."""
    learner_nice: int = 19
    """The learner's niceness, so it yields the CPU to the worker on a shared machine."""
    learner_fetch_min_bytes: int = 256 * 1024
    """The learner's fetches wait for this much data… (it has no latency target)"""
    learner_fetch_max_wait_ms: int = 500
    """…or this long."""
    ranker_window_s: float = 600.0
    """An audited list's label window: an item the user touches within it is a positive."""
    objective: Objective = "engagement"
    """What the learned ranker learns to put first, so what counts as a positive in a list's
    label window: ``engagement`` (a click, a favourite, a cart add or a purchase),
    ``add_to_cart`` (a cart add or a purchase) or ``purchase``."""
    learned_ranker: bool = True
    """Whether serving re-ranks with the promoted model's learned ranker (for the tenants it
    is adopted for: it beats the hand weights on their recent lists)."""
    ranker_learning_rate: float = 0.02
    """The learned ranker's SGD step (``streamapp evaluate --tune`` chooses it)."""
    ranker_l2: float = 1e-4
    """The learned ranker's L2 regularisation (``streamapp evaluate --tune`` chooses it)."""
    ranker_adoption_lists: int = 2000
    """The recent labelled lists per tenant the ranker is judged on against the hand weights."""
    ranker_adoption_min_lists: int = 200
    """Fewer informative lists than this and a tenant keeps the hand weights."""
    experiment_variant: str = "control"
    """Variant stamped on lists and API answers of users in no running experiment."""

    # Operations.
    lag_interval_s: float = 5.0
    """How often consumer lag is measured and exported."""
    tracing: Literal["off", "console", "otlp"] = "off"
    """Where spans go: nowhere (an input ``traceparent`` is still passed on), stdout, or
    OTLP/HTTP."""
    tracing_endpoint: str = "http://127.0.0.1:4318/v1/traces"
    """The OTLP/HTTP traces endpoint."""
    tracing_sample: float = Field(default=0.01, ge=0.0, le=1.0)
    """Share of events without a producer's ``traceparent`` that are traced."""

    _tenant_overrides: dict[str, TenantOverrides] = PrivateAttr(default_factory=dict)
    _of_tenant: dict[str, TenantSettings] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _read_tenant_settings(self) -> Settings:
        if not self.tenant_settings_file:
            return self
        path = Path(self.tenant_settings_file)
        named = f"STREAMAPP_TENANT_SETTINGS_FILE {path}"
        try:
            document = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f"{named}: cannot be read: {exc}") from None
        if not isinstance(document, dict):
            raise ValueError(f"{named}: tenant settings are a mapping of tenant to settings")
        unknown = sorted(str(t) for t in document if t not in self.tenants)
        if unknown:
            raise ValueError(f"{named}: tenants {unknown} are not in STREAMAPP_TENANTS")
        for tenant, own in document.items():
            try:
                self._tenant_overrides[str(tenant)] = TenantOverrides.model_validate(own or {})
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(map(str, e['loc'])) or 'its entry'}: {e['msg']}"
                    for e in exc.errors()
                )
                raise ValueError(f"{named}: tenant {tenant}: {problems}") from None
        return self

    def of_tenant(self, tenant: str) -> TenantSettings:
        """The settings one tenant's lists are ranked with.

        >>> Settings().of_tenant("default").exploration
        0.0
        """
        found = self._of_tenant.get(tenant)
        if found is not None:
            return found
        own = self._tenant_overrides.get(tenant) or TenantOverrides()
        found = self._of_tenant[tenant] = TenantSettings(
            score_weights={**self.score_weights, **own.score_weights},
            exploration=self.exploration if own.exploration is None else own.exploration,
            learned_ranker=(
                self.learned_ranker if own.learned_ranker is None else own.learned_ranker
            ),
            objective=self.objective if own.objective is None else own.objective,
            sensitive_categories=(
                self.sensitive_categories
                if own.sensitive_categories is None
                else own.sensitive_categories
            ),
        )
        return found

    @property
    def decay_rate(self) -> float:
        """λ of forward decay, per millisecond (timestamps are epoch ms)."""
        return math.log(2.0) / (self.half_life_s * 1000.0)

    @property
    def learner_group(self) -> str:
        """The learner's consumer group and Faust application id (the workers' is
        ``app_id``)."""
        return f"{self.app_id}-learner"

    def topic(self, name: str) -> str:
        """Physical topic name: the configurable prefix lets tenants share a cluster."""
        return f"{self.topic_prefix}{name}"


def read_secret(path: str, variable: str) -> str:
    """A secret kept in a file (a mounted Secret), without its trailing newline; an
    unreadable file is a usage error naming the ``variable`` that points at it."""
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise UsageError(f"{variable} {path}: cannot be read ({exc.strerror})") from None


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
