"""streamapp: a real-time recommendation engine that lives on Kafka.

Shoppers' events (``clicks``, ``carts``) and the warehouse's (``inventory``) are consumed by
Faust agents (:mod:`streamapp.app`), folded into time-decayed state in Redis
(:mod:`streamapp.store`, :mod:`streamapp.decay`), turned into ranked, in-stock lists
(:mod:`streamapp.recommend`, :mod:`streamapp.ranking`) and published to ``recommendations``.
The learner (:mod:`streamapp.learner`) trains online matrix factorisation in its own consumer
group and publishes snapshots that workers serve (:mod:`streamapp.model`). The evaluator
(:mod:`streamapp.evaluate`) replays real logs through the same code. ``streamapp --help`` lists
the commands.
"""
