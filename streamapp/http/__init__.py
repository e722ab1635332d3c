"""The HTTP surface of every process: the ``/v1`` API (:mod:`.api`, described by
:mod:`.openapi`), health, readiness and metrics (:mod:`.operations`, :mod:`.health`)."""
