"""streamapp: a real-time recommendation engine that lives on Kafka.

Shoppers' events (``clicks``, ``carts``) and the warehouse's (``inventory``) are consumed by the
worker (:mod:`streamapp.worker`), folded into time-decayed state in Redis
(:mod:`streamapp.state`), turned into ranked, in-stock lists (:mod:`streamapp.recommend`) and
published to ``recommendations`` in the shapes of :mod:`streamapp.contracts`. The learner
(:mod:`streamapp.learning`) trains online models in its own consumer group and publishes
snapshots that workers serve. The evaluator (:mod:`streamapp.evaluation`) replays real logs
(:mod:`streamapp.datasets`) through the same code. ``streamapp --help`` lists the commands
(:mod:`streamapp.cli`); docs/architecture.md draws the whole.
"""
