"""The tracker end to end on real Mosquitto and real TimescaleDB: what goes in, what is stored, what is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import h3
from nmea_builders import epoch, gga, rmc
from prometheus_client import REGISTRY
from tracker_helpers import Bus, make_bus, wait_until

from patroli.messages import PositionMessage
from patroli.models import RefusalReason, TrackQuery

JAKARTA = (-6.175392, 106.827153)  # Monas


def refused_total(reason: str) -> float:
    """patroli_tracker_refused_total{reason=…} as /metrics shows it."""
    return REGISTRY.get_sample_value("patroli_tracker_refused_total", {"reason": reason}) or 0.0


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def test_fix_is_stored_indexed_and_published_after_commit(start_tracker, bus: Bus) -> None:
    _tracker, store = start_tracker()
    t = now_utc() - timedelta(seconds=2)
    bus.publish("fleet/PJ-01/nmea", epoch(t, *JAKARTA, knots=20.0, course=90.0))

    wait_until(lambda: bus.positions())
    # Published only after commit: the row is there by the time the position is heard.
    (stored,) = store.track(TrackQuery("PJ-01", t - timedelta(seconds=1), t + timedelta(seconds=1)))
    assert stored.fix_time == t
    assert abs(stored.lat - JAKARTA[0]) < 1e-6 and abs(stored.lon - JAKARTA[1]) < 1e-6
    assert abs(stored.speed_mps - 20.0 * 0.514444) < 0.01 and stored.course_deg == 90.0
    assert stored.altitude_m == 12.5 and stored.satellites == 9 and stored.quality == 1 and stored.hdop == 0.9
    assert stored.h3_r9 == h3.str_to_int(h3.latlng_to_cell(*JAKARTA, 9))
    assert stored.h3_r7 == h3.str_to_int(h3.latlng_to_cell(*JAKARTA, 7))
    assert "RMC" in stored.raw and "GGA" in stored.raw  # the sentences are kept as evidence
    (pos,) = bus.positions()
    assert pos["u"] == "PJ-01" and abs(pos["lat"] - JAKARTA[0]) < 1e-6
    assert datetime.fromisoformat(pos["t"]) == t
    msg = PositionMessage.decode(bus.heard[0][1])  # the bus contract the map and the dispatcher read
    assert (msg.unit_id, msg.t, msg.valid) == ("PJ-01", t, True) and abs(msg.speed_mps - 20 * 0.514444) < 0.01
    assert store.last_position("PJ-01").fix_time == t
    assert store.get_unit("PJ-01") is not None  # auto-registered (registration not enforced)


def test_bad_input_is_refused_recorded_and_the_tracker_goes_on(start_tracker, bus: Bus) -> None:
    _tracker, store = start_tracker()
    speed_refusals_before = refused_total("implied_speed")  # the counter is process-wide: count from here
    t = now_utc() - timedelta(seconds=30)
    good = epoch(t, *JAKARTA)
    bad_checksum = rmc(t, *JAKARTA)[:-2].encode() + b"00\r\n"
    no_fix = f"{rmc(t + timedelta(seconds=1), *JAKARTA, status='V')}\r\n".encode()
    zero = epoch(t + timedelta(seconds=2), 0.0, 0.0)
    future = epoch(now_utc() + timedelta(minutes=10), *JAKARTA)
    jump = epoch(t + timedelta(seconds=3), -7.0, 110.0)  # ~170 km in 3 s
    for payload in (bad_checksum, no_fix, zero, future, b"\x00\xff garbage", good, jump):
        bus.publish("fleet/PJ-02/nmea", payload)
    bus.publish("fleet/PJ-02/nmea", b"$GPRMC," + b"9" * 70_000)  # larger than the payload limit
    after = epoch(t + timedelta(seconds=60), JAKARTA[0] + 0.001, JAKARTA[1])
    bus.publish("fleet/PJ-02/nmea", after)

    wait_until(lambda: store.count_positions("PJ-02") == 2)
    reasons = wait_until(
        lambda: (
            (r := {x.reason for x in store.recent_refusals(50)})
            >= {
                RefusalReason.BAD_CHECKSUM,
                RefusalReason.UNPARSEABLE,
                RefusalReason.NO_FIX,
                RefusalReason.ZERO_POSITION,
                RefusalReason.FUTURE_TIME,
                RefusalReason.IMPLIED_SPEED,
                RefusalReason.PAYLOAD_TOO_LARGE,
            }
            and r
        )
    )
    assert reasons == {
        RefusalReason.BAD_CHECKSUM,
        RefusalReason.UNPARSEABLE,
        RefusalReason.NO_FIX,
        RefusalReason.ZERO_POSITION,
        RefusalReason.FUTURE_TIME,
        RefusalReason.IMPLIED_SPEED,
        RefusalReason.PAYLOAD_TOO_LARGE,
    }
    refusal = next(r for r in store.recent_refusals(50) if r.reason is RefusalReason.BAD_CHECKSUM)
    assert refusal.unit_id == "PJ-02" and refusal.raw.startswith(b"$GPRMC") and refusal.detail
    assert refused_total("implied_speed") - speed_refusals_before == 1  # the one jump


def test_duplicates_once_late_fixes_kept_last_position_forward(start_tracker, bus: Bus) -> None:
    _tracker, store = start_tracker()
    t = now_utc() - timedelta(minutes=5)
    bus.publish("fleet/PJ-03/nmea", epoch(t + timedelta(seconds=10), *JAKARTA))
    bus.publish("fleet/PJ-03/nmea", epoch(t + timedelta(seconds=10), *JAKARTA))  # duplicate
    # A store-and-forward backlog: several older epochs in one message, arriving late.
    backlog = b"".join(epoch(t + timedelta(seconds=s), JAKARTA[0] + s * 1e-5, JAKARTA[1]) for s in (1, 2, 3))
    bus.publish("fleet/PJ-03/nmea", backlog)
    wait_until(lambda: store.count_positions("PJ-03") == 4)
    assert store.last_position("PJ-03").fix_time == t + timedelta(seconds=10)
    track = store.track(TrackQuery("PJ-03", t, t + timedelta(minutes=1)))
    assert [f.fix_time for f in track] == [t + timedelta(seconds=s) for s in (1, 2, 3, 10)]


def test_gga_alone_takes_its_date_from_the_units_last_rmc(start_tracker, bus: Bus) -> None:
    _tracker, store = start_tracker()
    t = now_utc() - timedelta(seconds=20)
    bus.publish("fleet/PJ-04/nmea", epoch(t, *JAKARTA))
    bus.publish("fleet/PJ-04/nmea", f"{gga(t + timedelta(seconds=5), *JAKARTA)}\r\n".encode())
    wait_until(lambda: store.count_positions("PJ-04") == 2)
    assert store.last_position("PJ-04").fix_time == t + timedelta(seconds=5)
    # A unit never seen with an RMC: a GGA alone has no date, and the server clock is not used.
    bus.publish("fleet/PJ-05/nmea", f"{gga(t, *JAKARTA)}\r\n".encode())
    wait_until(
        lambda: any(
            r.reason is RefusalReason.NO_DATE and r.unit_id == "PJ-05" for r in store.recent_refusals(20)
        )
    )
    assert store.count_positions("PJ-05") == 0


def test_registration_enforced_refuses_unknown_units(start_tracker, bus: Bus) -> None:
    from patroli.models import Unit

    _tracker, store = start_tracker(tracker_enforce_registration=True)
    store.add_unit(Unit("PJ-10"))  # registered after the tracker started: found on first message
    t = now_utc() - timedelta(seconds=5)
    bus.publish("fleet/a/b/nmea", epoch(t, *JAKARTA))  # not a unit topic: outside the subscription
    bus.publish("fleet/PJ-10/nmea", epoch(t, *JAKARTA))
    bus.publish("fleet/INTRUDER/nmea", epoch(t, *JAKARTA))
    wait_until(lambda: store.count_positions("PJ-10") == 1)
    wait_until(lambda: any(r.reason is RefusalReason.UNKNOWN_UNIT for r in store.recent_refusals(10)))
    assert store.count_positions("INTRUDER") == 0 and store.get_unit("INTRUDER") is None
    # The tracker never heard the topic with two levels (it came first, so it would have been handled by now).
    assert [(r.reason, r.unit_id) for r in store.recent_refusals(10)] == [
        (RefusalReason.UNKNOWN_UNIT, "INTRUDER")
    ]


def test_sqlite_backend_keeps_the_same_contract(start_tracker, bus: Bus, sqlite_url: str) -> None:
    _tracker, store = start_tracker(database_url=sqlite_url)
    t = now_utc() - timedelta(seconds=3)
    for s in range(5):
        bus.publish("fleet/PJ-20/nmea", epoch(t + timedelta(seconds=s), JAKARTA[0] + s * 1e-5, JAKARTA[1]))
    bus.publish("fleet/PJ-20/nmea", epoch(t, *JAKARTA))  # duplicate
    bus.publish("fleet/PJ-21/nmea", epoch(t, *JAKARTA))  # after the duplicate: once it is in, so is that
    wait_until(lambda: store.count_positions("PJ-21") == 1)
    assert store.count_positions("PJ-20") == 5
    wait_until(lambda: [p["u"] for p in bus.positions()].count("PJ-21") == 1)
    assert [p["u"] for p in bus.positions()].count("PJ-20") == 5  # the duplicate is not published again


def test_a_radio_cannot_publish_as_another_nor_forge_positions(tmp_path, pg_url: str) -> None:
    """Mosquitto with the shipped ACL and per-unit credentials written by patroli.credentials."""
    from pathlib import Path

    from patroli import credentials
    from patroli.localservers import start_mosquitto
    from patroli.settings import Settings
    from patroli.storage import open_store
    from tracker.service import Tracker

    acl = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "acl"
    passwd = tmp_path / "passwd"
    for user in ("PJ-30", "PJ-31", "patroli-tracker", "patroli-web"):
        credentials.set_password(passwd, user, f"pw-{user}")
    broker = start_mosquitto(
        tmp_path, extra_config=f"allow_anonymous false\npassword_file {passwd}\nacl_file {acl}\n"
    )
    try:
        settings = Settings(
            mqtt_url=broker.url_for("patroli-tracker", "pw-patroli-tracker"), database_url=pg_url
        )
        store = open_store(pg_url)
        store.migrate()
        tracker = Tracker(settings, store)
        tracker.start()
        assert tracker.wait_connected(10)
        watcher = make_bus(
            broker.port, subscribe="fleet/#", username="patroli-web", password="pw-patroli-web"
        )
        radio = make_bus(broker.port, username="PJ-30", password="pw-PJ-30")
        t = now_utc() - timedelta(seconds=5)
        radio.publish("fleet/PJ-31/nmea", epoch(t, *JAKARTA))  # as another unit: dropped by the broker
        radio.publish("fleet/PJ-30/position", b'{"unit_id":"PJ-30","lat":0,"lon":0}')  # forged position
        radio.publish("fleet/PJ-30/nmea", epoch(t, *JAKARTA))  # as itself: accepted
        wait_until(lambda: store.count_positions("PJ-30") == 1)
        wait_until(lambda: any(tp == "fleet/PJ-30/position" for tp, _ in watcher.heard))
        heard_positions = [p for tp, p in watcher.heard if tp == "fleet/PJ-30/position"]
        assert len(heard_positions) == 1 and b'"lat":0,' not in heard_positions[0]  # only the tracker's
        assert store.count_positions("PJ-31") == 0
        # A wrong password does not get in at all.
        import paho.mqtt.client as mqtt

        bad = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        bad.username_pw_set("PJ-30", "wrong")
        rc = []
        bad.on_connect = lambda _c, _u, _f, reason, _p: rc.append(reason)
        bad.connect("127.0.0.1", broker.port)
        bad.loop_start()
        wait_until(lambda: rc)
        bad.loop_stop()
        assert rc[0].is_failure
        for b in (watcher, radio):
            b.client.loop_stop()
            b.client.disconnect()
        tracker.stop()
        store.close()
    finally:
        broker.stop()
