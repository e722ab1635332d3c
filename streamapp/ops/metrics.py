"""Prometheus metrics: ``streamapp_<noun>_<unit>``, low-cardinality labels, updated per batch."""

from __future__ import annotations

from collections import Counter as Tally

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

EVENTS = Counter(
    "streamapp_events_total",
    "Input events by topic and outcome (applied, duplicate, replayed, dead_letter).",
    ["topic", "outcome"],
)
DEAD_LETTERS = Counter(
    "streamapp_dead_letters_total", "Events sent to the dead-letter topic, by reason.", ["reason"]
)
BATCH_SIZE = Histogram(
    "streamapp_batch_size_events",
    "Events per processed batch.",
    ["agent"],
    buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000),
)
BATCH_SECONDS = Histogram(
    "streamapp_batch_processing_seconds",
    "Time to process one batch, decode to publish (for a batch applied ahead, from its decode "
    "while the batch before was still ranked).",
    ["agent"],
    buckets=LATENCY_BUCKETS,
)
BATCH_FAILURES = Counter(
    "streamapp_batch_failures_total",
    "Failed attempts to process a batch (it is retried, never acknowledged), by agent and reason.",
    ["agent", "reason"],
)
STALLED_SINCE = Gauge(
    "streamapp_stalled_since_timestamp_seconds",
    "When an agent's current batch first failed (0 while it flows): it retries until it succeeds.",
    ["agent"],
)
LOGS_REPLACED = Counter(
    "streamapp_logs_replaced_total",
    "Input topics found with another topic id than the state's watermarks (deleted and recreated).",
)
STATE_REBUILDS = Counter(
    "streamapp_state_rebuilds_total",
    "Times this process found the state in Redis empty and rebuilt it from Kafka.",
)
REPLAYED_RECORDS = Counter(
    "streamapp_replayed_records_total",
    "Records read again from Kafka to rebuild or complete the state, by topic.",
    ["topic"],
)
BACKGROUND_FAILURES = Counter(
    "streamapp_background_failures_total",
    "Failures of a timer or background task, which logs them and carries on.",
    ["task"],
)
FRESHNESS_SECONDS = Histogram(
    "streamapp_event_to_publish_seconds",
    "From an input record's Kafka timestamp to the publish of the list it caused.",
    buckets=LATENCY_BUCKETS,
)
HTTP_REQUESTS = Counter(
    "streamapp_http_requests_total",
    "Requests to the HTTP API and the operational pages, by route template and status code.",
    ["route", "code"],
)
HTTP_SECONDS = Histogram(
    "streamapp_http_request_seconds",
    "Time to answer a request, by route template.",
    ["route"],
    buckets=LATENCY_BUCKETS,
)
LISTS = Counter(
    "streamapp_lists_published_total", "Recommendation lists published, by top source.", ["source"]
)
EXPERIMENT_LISTS = Counter(
    "streamapp_experiment_lists_total",
    "Lists published to users of running experiments, by experiment and variant (a user in "
    "experiments of two layers counts in both): the split a sample-ratio check reads.",
    ["experiment", "variant"],
)
EXPERIMENT_USERS = Gauge(
    "streamapp_experiment_users",
    "Users exposed so far per running experiment and variant (the learner's streaming "
    "attribution).",
    ["experiment", "variant"],
)
EXPOSURE = Gauge(
    "streamapp_exposure",
    "Who the lists of the last completed exposure window showed, per tenant and user segment "
    "(the learner; STREAMAPP_EXPOSURE_WINDOW_S): figure coverage (share of the catalogue "
    "shown), gini (concentration of exposure), long_tail_share (outside the short head), "
    "new_item_share (items nobody had touched), lists.",
    ["tenant", "segment", "figure"],
)
EXPOSURE_DISTANCE = Gauge(
    "streamapp_exposure_group_distance",
    "Total variation distance between the exposure shares of categories or brands and their "
    "shares of the catalogue or of interactions, over the last completed exposure window.",
    ["tenant", "attribute", "reference"],
)
EXPERIMENT_VALUE = Gauge(
    "streamapp_experiment_metric_value",
    "Each metric of each variant of a running experiment, from the streaming attribution.",
    ["experiment", "variant", "metric"],
)
EXPERIMENT_P_VALUE = Gauge(
    "streamapp_experiment_p_value",
    "Always-valid p-value of each treated variant against the control, per metric (safe to "
    "watch continuously).",
    ["experiment", "variant", "metric"],
)
EXPERIMENT_SRM = Gauge(
    "streamapp_experiment_srm_p_value",
    "Sample-ratio-mismatch p-value per running experiment: below 0.001 the split is broken and "
    "no decision is taken.",
    ["experiment"],
)
ROLLOUT_STEPS = Counter(
    "streamapp_rollout_steps_total",
    "Steps of canary rollouts, by step (gate_passed, gate_refused, canary_started, promoted, "
    "rolled_back, expired, first_model).",
    ["step"],
)
INVALIDATIONS = Counter(
    "streamapp_invalidations_total", "Stock-outs processed (transitions to zero stock)."
)
REFRESHES = Counter(
    "streamapp_refreshes_routed_total", "Users routed for a corrected list after a stock-out."
)
CORRECTIONS = Counter(
    "streamapp_corrections_total",
    "Corrected lists after a stock-out, by how: from the stored ranking, or ranked again (it "
    "held too few items in stock, or there was none).",
    ["answered"],
)
CONSUMER_LAG = Gauge(
    "streamapp_consumer_lag_messages",
    "Broker end offset minus committed offset, per group/topic/partition.",
    ["group", "topic", "partition"],
)
CONSUMER_LAG_SECONDS = Gauge(
    "streamapp_consumer_lag_seconds",
    "Age of the oldest unconsumed record, per group/topic/partition (0 when caught up).",
    ["group", "topic", "partition"],
)
MODEL_LOADS = Counter(
    "streamapp_model_loads_total", "Snapshot loads by outcome (loaded, failed).", ["outcome"]
)
MODEL_VERSION = Gauge(
    "streamapp_model_version_info",
    "The snapshot version being served (1 for the current one).",
    ["version"],
)
LEARNER_EVENTS = Counter("streamapp_learner_events_total", "Interaction records the learner read.")
LEARNER_SKIPPED = Counter(
    "streamapp_learner_skipped_events_total",
    "Records the learner failed on for good and left out of training (logged with the reason).",
)
RANKER_FEATURES = Gauge(
    "streamapp_model_ranker_features",
    "Weights of the largest of the per-tenant learned rankers the worker serves (0: the "
    "hand-weighted order everywhere).",
)
RANKER_ADOPTED = Gauge(
    "streamapp_ranker_adopted",
    "Whether the learned ranker re-orders the tenant's lists (1) or the hand weights serve "
    "(0: not shown better on its recent lists), as the learner's latest snapshot says.",
    ["tenant"],
)
RANKER_LISTS = Counter(
    "streamapp_ranker_lists_total",
    "Audited lists the learned ranker trained on, by whether the user interacted with one.",
    ["label"],
)
DRIFT = Counter("streamapp_drift_detected_total", "Drifts detected in the learner's accuracy.")
SNAPSHOT_TIME = Gauge(
    "streamapp_snapshot_published_timestamp_seconds", "When the learner last published a snapshot."
)


class BatchCounts:
    """Counts gathered while a batch is processed, added to the counters once at its end."""

    def __init__(self) -> None:
        self.events: Tally[tuple[str, str]] = Tally()
        self.dead_letters: Tally[str] = Tally()
        self.lists: Tally[str] = Tally()
        self.experiments: Tally[tuple[str, str]] = Tally()

    def flush(self) -> None:
        for (topic, outcome), n in self.events.items():
            EVENTS.labels(topic, outcome).inc(n)
        for reason, n in self.dead_letters.items():
            DEAD_LETTERS.labels(reason).inc(n)
        for source, n in self.lists.items():
            LISTS.labels(source).inc(n)
        for (experiment, variant), n in self.experiments.items():
            EXPERIMENT_LISTS.labels(experiment, variant).inc(n)
