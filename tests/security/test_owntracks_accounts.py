"""OwnTracks phones on the shipped broker (TLS, dynamic security): `units add --device owntracks:<user>/<device>`
gives the app an account bound to its client id, that may publish only its own topic."""

from __future__ import annotations

import re

from broker_helpers import ShippedBroker, patroli
from test_client_ids import Client, stack  # noqa: F401  (the shipped stack fixture)
from tracker_helpers import wait_until


def test_an_owntracks_account_publishes_only_its_own_topic_and_cannot_take_a_services_id(
    stack: tuple[ShippedBroker, dict[str, str], dict[str, str]],  # noqa: F811
) -> None:
    broker, pw, env = stack
    out = patroli("units", "add", "PJ-31", "--kind", "handheld", "--device", "owntracks:budi/hp", env=env)
    assert out.returncode == 0, out.stderr
    found = re.search(r"user budi password (\S+) \(MQTT client id (\S+);", out.stdout)
    assert found is not None, out.stdout
    password, client_id = found.groups()
    assert client_id == "budi-hp" and "dynamic security" in out.stdout
    phones = Client(broker, "patroli-phones", pw["PHONES_MQTT_PASSWORD"], "patroli-phones-0")
    try:
        assert phones.accepted
        hijack = Client(broker, "budi", password, "patroli-phones-0")
        assert not hijack.accepted  # CONNACK: not authorized, and the service stays connected
        hijack.close()
        assert not phones.down.is_set()
        phones.client.subscribe("owntracks/+/+", 1)
        wait_until(phones.subscribed.is_set)
        app = Client(broker, "budi", password, "budi-hp")
        assert app.accepted
        app.client.publish("owntracks/sari/hp", b"{}", qos=1)  # another user's topic: dropped by its role
        app.client.publish("owntracks/budi/hp", b"{}", qos=1)
        wait_until(lambda: "owntracks/budi/hp" in phones.heard)
        assert phones.heard == ["owntracks/budi/hp"]
        app.close()
    finally:
        phones.close()
    # an OwnTracks user may not be a unit id (radios and phones share the broker's usernames)
    clash = patroli("units", "add", "PJ-32", "--device", "owntracks:PJ-31/hp", env=env)
    said = " ".join(re.sub("[│╭╮╰╯─]", " ", clash.stderr).split())  # typer's error box, unwrapped
    assert clash.returncode != 0 and "must not be a unit id" in said
    assert "registered PJ-32" not in clash.stdout  # refused before the unit was created
