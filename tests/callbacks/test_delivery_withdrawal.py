"""A withdrawal posted to the preference-center callback cancels the subject's
queued deliveries for the withdrawn purpose before they are sent."""

from __future__ import annotations

from cdp_plugin.delivery.config import plan_for
from cdp_plugin.delivery.queue import hand_over
from tests.callbacks.conftest import USER, MakeClient, update
from tests.conftest import MakePipeline, audit_records, message_keys
from tests.events import ALL_GRANTED, track

UNREACHABLE = {"kind": "segment", "url": "http://127.0.0.1:9", "write_key": "wk_down"}


def test_a_withdrawal_through_the_callback_cancels_queued_deliveries(
        make_client: MakeClient, make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline(delivery={"esp": UNREACHABLE, "warehouse": UNREACHABLE})
    client = make_client(pipeline=pipeline)
    plan = plan_for(pipeline, pipeline.runtime.config)
    with pipeline.unit_of_work():
        hand_over(pipeline, plan, pipeline.process_batch(
            [track("m-1", USER, consent=ALL_GRANTED),
             track("m-2", "user-dave@example.com", consent=ALL_GRANTED)]))
    plan.close()
    store = pipeline.runtime.store
    assert len(store.delivery_list(status="pending")) == 4  # two events, two destinations

    assert client.post(update(purposes={"marketing": "denied"})).status == 200

    left = {(d.destination, d.message_key, d.status) for d in store.delivery_list()}
    carol, dave = message_keys(pipeline, "m-1", "m-2")
    assert left == {("esp", carol, "cancelled"), ("warehouse", carol, "pending"),
                    ("esp", dave, "pending"), ("warehouse", dave, "pending")}
    [cancelled] = audit_records(pipeline, "delivery.cancelled")
    assert (cancelled["destination"], cancelled["messages"], cancelled["purposes"]) == (
        "esp", [carol], ["marketing"])
