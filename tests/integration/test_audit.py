"""Promise 5: every list explains itself, and sampled decisions reach the audit topic."""

from __future__ import annotations

import jsonschema
import pytest

from streamapp.schemas import load
from tests.support import Tail, now_ms, send

pytestmark = pytest.mark.integration


async def test_audit_records_explain_published_lists_with_propensities(deployment, producer):
    deployment.worker(
        STREAMAPP_AUDIT_SAMPLE_RATE="1.0", STREAMAPP_EXPLORATION="0.5", STREAMAPP_TOP_K="3"
    ).start()
    clicks = deployment.topic("clicks")
    t = now_ms() - 60_000
    n = 0
    for round_ in range(4):
        for user in ("a", "b", "c", "d", "e"):
            for item in range(round_, round_ + 4):
                n += 1
                await send(
                    producer,
                    clicks,
                    user,
                    {"event_id": f"e{n}", "user_id": user, "item_id": f"i{item}", "ts": t + n},
                )
    last = f"e{n}"
    async with Tail(deployment.topic("recommendations")) as recs:
        await recs.until(lambda rs: any(r["trigger"]["event_id"] == last for r in rs))
    async with Tail(deployment.topic("audit")) as audits:
        await audits.until(lambda rs: len(rs) >= len(recs.records))
    published = {
        (r["user_id"], r["generated_at"], r["trigger"]["event_id"]): r for r in recs.records
    }
    explored = 0
    for record in audits.records:
        jsonschema.validate(record, load("audit"))
        list_ = published[
            (record["user_id"], record["generated_at"], record["trigger"]["event_id"])
        ]
        assert [i["item_id"] for i in record["items"]] == [i["item_id"] for i in list_["items"]]
        assert record["model_version"] == list_["model_version"]
        for item in record["items"]:
            assert item["signals"], "every shown item says which signals proposed it"
            assert item["source"] in item["signals"] or item["source"] == "catalog"
        *first, final = record["items"]
        assert all(i["propensity"] == 1.0 for i in first)
        if final["propensity"] < 0.5:  # drawn from the tail, not the ranking's own pick
            explored += 1
    assert explored > 0
