"""A closed-loop shopper simulator: synthetic shoppers with hidden tastes who read their lists,
click, cart, buy and return on the live stack (:mod:`.world` is the model of them, pure;
:mod:`.driver` runs them against Kafka). The truth is known, so an experiment's measured lift
can be held against the real one.
"""

from __future__ import annotations
