"""The worker's producer (Faust's) waits for every in-sync replica and is idempotent, so a
send retried after a lost acknowledgement is written once."""

from __future__ import annotations

from streamapp.settings import Settings
from streamapp.worker.app import _faust_app


def test_the_worker_producer_is_idempotent_and_waits_for_every_in_sync_replica(tmp_path):
    app = _faust_app(Settings(datadir=tmp_path), "probe", 6066)  # nothing listens
    producer = app.producer  # made, not started: no broker needed
    assert producer._settings_extra()["enable_idempotence"] is True
    assert producer.acks == -1  # "all"
