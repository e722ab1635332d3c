"""Live state in Redis: its types (:mod:`.types`), the key layout (:mod:`.keys`), the one
adapter that talks to Redis (:mod:`.store`, with its Lua scripts in ``lua/`` and their replies
parsed by :mod:`.replies`), the decay math (:mod:`.decay`), the row an event becomes
(:mod:`.rows`), and how a lost state is rebuilt from Kafka (:mod:`.continuity`)."""
