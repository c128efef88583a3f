"""The SOS on the shipped broker configuration (TLS, dynamic security, password file, ACL): a radio raises its
own SOS and no other unit's, the phones gateway raises any unit's, and the dispatcher's account hears them."""

from __future__ import annotations

from broker_helpers import ShippedBroker
from test_client_ids import Client, _add, stack  # noqa: F401  (the shipped stack fixture)
from tracker_helpers import wait_until

from patroli import topics
from patroli.messages import SOS_RAISED


def test_a_radio_raises_its_own_sos_only_and_the_dispatcher_hears_it(
    stack: tuple[ShippedBroker, dict[str, str], dict[str, str]],  # noqa: F811
) -> None:
    broker, pw, env = stack
    radio = Client(broker, "PJ-11", _add("PJ-11", env), "PJ-11")
    _add("PJ-12", env)
    dispatch = Client(broker, "patroli-dispatch", pw["DISPATCH_MQTT_PASSWORD"], "patroli-dispatch-1")
    phones = Client(broker, "patroli-phones", pw["PHONES_MQTT_PASSWORD"], "patroli-phones")
    try:
        assert radio.accepted and dispatch.accepted and phones.accepted
        dispatch.client.subscribe(topics.SOS_SUBSCRIPTION, 1)
        wait_until(dispatch.subscribed.is_set)
        radio.client.publish(topics.sos("PJ-12"), SOS_RAISED, qos=1)  # not its own: dropped by its role
        radio.client.publish(
            topics.sos("PJ-11"), SOS_RAISED, qos=1
        )  # after it, in order, were it let through
        wait_until(lambda: topics.sos("PJ-11") in dispatch.heard)
        assert dispatch.heard == [topics.sos("PJ-11")]
        phones.client.publish(topics.sos("PJ-12"), SOS_RAISED, qos=1)  # a phone's alarm, for its unit
        wait_until(lambda: len(dispatch.heard) == 2)
        assert dispatch.heard == [topics.sos("PJ-11"), topics.sos("PJ-12")]
    finally:
        for c in (radio, dispatch, phones):
            c.close()
