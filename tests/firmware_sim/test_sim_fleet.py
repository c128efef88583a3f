"""Simulated radios against a real Mosquitto: sessions, last will, store and forward, dispatch, faults."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pynmea2
import pytest
from sim_helpers import Collector, Received
from tracker_helpers import wait_until

from firmware_sim.device import DeviceConfig, DispatchBehaviour
from firmware_sim.faults import FaultKind, FaultPlan
from firmware_sim.fleet import Fleet
from firmware_sim.nmea_encode import checksum
from firmware_sim.receiver import ReceiverConfig
from patroli.credentials import set_password
from patroli.localservers import Mosquitto, start_mosquitto
from patroli.messages import DispatchOffer, UnitAnswer, UnitStatusReport
from patroli.topics import ack, dispatch, nmea, online, status

QUIET = ReceiverConfig(outage_per_h=0, canyon_per_h=0)  # every epoch valid: counts stay simple


def rmc_times(payload: bytes) -> list[datetime]:
    """Fix times of the RMC sentences of a message (one per epoch; backlog messages hold several)."""
    out = []
    for line in payload.decode("ascii").replace("\r\n", "\n").split("\n"):
        if line[3:6] == "RMC":
            msg = pynmea2.parse(line, check=True)
            out.append(msg.datetime.replace(tzinfo=UTC))
    return out


def test_radio_session_online_status_and_graceful_goodbye(
    mosquitto: Mosquitto, collect: Callable[..., Collector]
) -> None:
    seen = collect("fleet/+/online", "fleet/+/status", "fleet/+/nmea")
    fleet = Fleet("127.0.0.1", mosquitto.port, [DeviceConfig("SES-1", interval_s=0.2, receiver=QUIET)])
    assert fleet.start(10)
    assert seen.wait_for(lambda m: len([x for x in m if x.topic == nmea("SES-1")]) >= 3)
    stats = fleet.stop()
    assert seen.wait_for(
        lambda m: (
            [x.payload for x in m if x.topic == online("SES-1")][-1:] == [b"offline"]
            and sum(x.topic == status("SES-1") for x in m) >= 2
        )
    )
    assert [m.payload for m in seen.on(online("SES-1"))] == [b"online", b"offline"]
    statuses = [UnitStatusReport.decode(m.payload).status for m in seen.on(status("SES-1"))]
    assert statuses == ["available", "off_duty"]
    assert stats.errors == 0 and stats.sent == stats.acked and stats.buffered == 0
    # retained: a dashboard that subscribes later learns the state at once
    late = collect("fleet/SES-1/online")
    assert late.wait_for(lambda m: bool(m))
    assert late.messages[0].payload == b"offline" and late.messages[0].retain


def rmc_count(messages: list[Received], topic: str) -> int:
    return sum(len(rmc_times(m.payload)) for m in messages if m.topic == topic)


def in_order_and_complete(messages: list[Received], interval: float, skipped: int = 0) -> list[datetime]:
    """The fix times, checked: in order, and none missing beyond the `skipped` an overloaded loop skipped."""
    times = [t for m in messages for t in rmc_times(m.payload)]
    deduped = [
        t for i, t in enumerate(times) if i == 0 or t != times[i - 1]
    ]  # QoS 1: a resend may repeat one
    assert deduped == sorted(set(deduped)), "fixes arrived out of order"
    span = (deduped[-1] - deduped[0]).total_seconds()
    assert len(deduped) + skipped == round(span / interval) + 1, "fixes were lost"
    return deduped


def test_out_of_coverage_buffers_then_sends_in_order_with_the_will(
    mosquitto: Mosquitto, collect: Callable[..., Collector]
) -> None:
    seen = collect("fleet/COV-1/#")
    fleet = Fleet("127.0.0.1", mosquitto.port, [DeviceConfig("COV-1", interval_s=0.1, receiver=QUIET)])
    try:
        assert fleet.start(10)
        assert seen.wait_for(lambda m: len([x for x in m if x.topic == nmea("COV-1")]) >= 3)
        fleet.drop_link("COV-1")
        assert seen.wait_for(lambda m: any(x.payload == b"offline" for x in m), 5)  # the broker's last will
        assert wait_until(lambda: fleet.stats().buffered >= 5)  # 0.5 s of fixes held for the link
        fleet.restore_link("COV-1")
        assert fleet.wait_connected(10)
        assert seen.wait_for(
            lambda m: [x.payload for x in m if x.topic == online("COV-1")][-1:] == [b"online"]
        )
        assert wait_until(lambda: fleet.stats().buffered == 0)  # the backlog went out
    finally:
        stats = fleet.stop()
    assert seen.wait_for(lambda m: rmc_count(m, nmea("COV-1")) >= stats.epochs)
    msgs = seen.on(nmea("COV-1"))
    times = in_order_and_complete(msgs, 0.1, stats.late_epochs)
    assert len(times) == stats.epochs
    assert max(len(rmc_times(m.payload)) for m in msgs) > 1  # the backlog went out packed
    assert stats.dropped == 0 and stats.buffered == 0


def test_broker_restart_delivers_the_backlog_in_order(tmp_path: Path) -> None:
    # Its own broker, persistent, so that the test subscriber's session (and what queues for it) survives.
    conf = f"persistence true\npersistence_location {tmp_path}/\n"
    broker = start_mosquitto(tmp_path, extra_config=conf)
    port = broker.port
    seen = Collector(port, "fleet/+/nmea", client_id="backlog-watcher", clean=False)
    fleet = Fleet("127.0.0.1", port, [DeviceConfig("RST-1", interval_s=0.1, receiver=QUIET)])
    try:
        assert fleet.start(10)
        assert seen.wait_for(lambda m: len(m) >= 3)
        broker.stop()
        assert wait_until(lambda: fleet.stats().buffered >= 8)  # fixes without a broker
        broker = start_mosquitto(tmp_path, extra_config=conf, port=port)
        assert fleet.wait_connected(15)
        assert wait_until(lambda: fleet.stats().buffered == 0)
        stats = fleet.stop()
        # The watcher reconnects on its own schedule; its session kept what came meanwhile.
        assert seen.wait_for(lambda m: rmc_count(m, nmea("RST-1")) >= stats.epochs, 15)
        times = in_order_and_complete(seen.on(nmea("RST-1")), 0.1, stats.late_epochs)
        assert len(times) == stats.epochs and stats.dropped == 0
    finally:
        seen.close()
        broker.stop()


def test_full_buffer_drops_the_oldest_and_counts_them(
    mosquitto: Mosquitto, collect: Callable[..., Collector]
) -> None:
    seen = collect(nmea("BUF-1"))
    cfg = DeviceConfig("BUF-1", interval_s=0.05, receiver=QUIET, buffer_epochs=10, pack_max=4)
    fleet = Fleet("127.0.0.1", mosquitto.port, [cfg])
    try:
        assert fleet.start(10)
        assert seen.wait_for(lambda m: len(m) >= 3)
        fleet.drop_link("BUF-1")
        assert wait_until(lambda: fleet.stats().dropped >= 10)  # more fixes than its buffer of 10 holds
        fleet.restore_link("BUF-1")
        assert fleet.wait_connected(10)
        assert wait_until(lambda: fleet.stats().buffered == 0)  # what was kept went out
    finally:
        stats = fleet.stop()
    assert seen.wait_for(lambda m: rmc_count(m, nmea("BUF-1")) >= stats.epochs - stats.dropped)
    times = [t for m in seen.on(nmea("BUF-1")) for t in rmc_times(m.payload)]
    assert len(times) == stats.epochs - stats.dropped  # exactly the dropped ones are missing
    assert times == sorted(times)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert max(gaps) >= 10 * 0.05  # the oldest of the outage went, the newest ten came
    assert all(len(rmc_times(m.payload)) <= 4 for m in seen.on(nmea("BUF-1")))


def test_each_radio_logs_in_as_itself(tmp_path: Path) -> None:
    pw, acl = tmp_path / "passwd", tmp_path / "acl"
    for user, password in (("AUTH-1", "right-1"), ("AUTH-2", "right-2"), ("watcher", "w")):
        set_password(pw, user, password)
    acl.write_text("pattern readwrite fleet/%u/#\nuser watcher\ntopic read fleet/#\n")
    broker = start_mosquitto(tmp_path, extra_config=f"password_file {pw}\nacl_file {acl}\n")
    seen = Collector(broker.port, "fleet/+/nmea", username="watcher", password="w")
    fleet = Fleet(
        "127.0.0.1",
        broker.port,
        [
            DeviceConfig("AUTH-1", password="right-1", interval_s=0.2, receiver=QUIET),
            DeviceConfig("AUTH-2", password="wrong", interval_s=0.2, receiver=QUIET),
        ],
    )
    try:
        fleet.start(wait_connected_s=None)
        assert fleet.wait_connected(10, count=1)
        assert seen.wait_for(lambda m: len(m) >= 3)
        assert wait_until(lambda: fleet.stats().errors > 0)  # refused, and retrying with back-off
        assert fleet.stats().connected == 1
        assert {m.topic for m in seen.messages} == {nmea("AUTH-1")}
        assert fleet.stats().buffered > 0  # AUTH-2 keeps its fixes for when it gets in
    finally:
        fleet.stop()
        seen.close()
        broker.stop()


def test_dispatch_offers_get_the_configured_answers(
    mosquitto: Mosquitto, collect: Callable[..., Collector]
) -> None:
    seen = collect("fleet/+/ack", "fleet/+/status", nmea("DSP-IGN"))
    quick = {"answer_delay_s": 0.3}
    configs = [
        DeviceConfig("DSP-ACC", interval_s=0.2, dispatch=DispatchBehaviour(**quick)),
        DeviceConfig("DSP-DEC", interval_s=0.2, dispatch=DispatchBehaviour(decline_share=1.0, **quick)),
        DeviceConfig("DSP-IGN", interval_s=0.2, dispatch=DispatchBehaviour(ignore_share=1.0, **quick)),
    ]
    fleet = Fleet("127.0.0.1", mosquitto.port, configs)
    pub = Collector(mosquitto.port, "nothing/here")
    try:
        assert fleet.start(10)
        for c in configs:
            o = DispatchOffer(
                incident_id=f"INC-{c.unit_id}",
                lat=-6.2,
                lon=106.85,
                category="crime",
                incident_type="theft",
                priority=2,
                address=None,
                deadline_s=10,
                offered_at=datetime.now(UTC),
            )
            pub.client.publish(dispatch(c.unit_id), o.encode(), qos=1).wait_for_publish(5)
        assert seen.wait_for(lambda m: len([x for x in m if x.topic == ack("DSP-ACC")]) >= 2)
        assert seen.wait_for(lambda m: any(x.topic == ack("DSP-DEC") for x in m))
        # The silent one had every chance to answer: an answer would have come 0.3 s after its offer, ahead of
        # (on its own connection) its fixes taken a second later.
        later = datetime.now(UTC) + timedelta(seconds=1)
        assert seen.wait_for(
            lambda m: any(t > later for x in m if x.topic == nmea("DSP-IGN") for t in rmc_times(x.payload))
        )
        acc = [UnitAnswer.decode(m.payload) for m in seen.on(ack("DSP-ACC"))]
        assert [a.answer for a in acc] == ["accept", "en_route"] and acc[0].incident_id == "INC-DSP-ACC"
        assert [UnitAnswer.decode(m.payload).answer for m in seen.on(ack("DSP-DEC"))] == ["decline"]
        assert seen.on(ack("DSP-IGN")) == []
        # On the job its status is the dispatch flow's: it reports none of its own (a `busy` would be refused).
        assert [UnitStatusReport.decode(m.payload).status for m in seen.on(status("DSP-ACC"))] == [
            "available"
        ]
        assert fleet.call(lambda: fleet.device("DSP-ACC").mover.responding)
    finally:
        pub.close()
        fleet.stop()


PLAN = FaultPlan(
    bad_checksum=3,
    garbage=2,
    truncated=4,
    clock_skew=2,
    duplicates=3,
    bursts=2,
    burst_size=3,
    clock_skew_s=3600,
)


def classify(messages: list[Received], interval: float) -> dict[FaultKind, int]:
    counts = dict.fromkeys(FaultKind, 0)
    fix_times = []
    for i, m in enumerate(messages):
        if i and m.payload == messages[i - 1].payload:
            counts[FaultKind.DUPLICATES] += 1
            continue
        for raw in m.payload.split(b"\r\n"):
            if not raw.startswith(b"$"):
                counts[FaultKind.GARBAGE] += 1
            elif b"*" not in raw:
                counts[FaultKind.TRUNCATED] += 1
            else:
                line = raw.decode("ascii")
                body, cs = line[1:].rsplit("*", 1)
                if checksum(body) != cs:
                    counts[FaultKind.BAD_CHECKSUM] += 1
                    with pytest.raises(pynmea2.ChecksumError):
                        pynmea2.parse(line, check=True)  # an independent decoder agrees
                elif line[3:6] == "RMC":
                    fix_times.append(pynmea2.parse(line, check=True).datetime.replace(tzinfo=UTC))
    median = sorted(fix_times)[len(fix_times) // 2]
    counts[FaultKind.CLOCK_SKEW] = sum(abs((t - median).total_seconds()) > 1800 for t in fix_times)
    off_grid = sum(round(t.timestamp() * 100) % round(interval * 100) != 0 for t in fix_times)
    counts[FaultKind.BURSTS] = off_grid // PLAN.burst_size
    assert off_grid % PLAN.burst_size == 0
    return counts


def test_faults_arrive_exactly_as_asked(mosquitto: Mosquitto, collect: Callable[..., Collector]) -> None:
    seen = collect(nmea("FLT-1"))
    fleet = Fleet("127.0.0.1", mosquitto.port, [DeviceConfig("FLT-1", interval_s=0.2, receiver=QUIET)])
    try:
        assert fleet.start(10)
        fleet.inject("FLT-1", PLAN)
        assert wait_until(lambda: not fleet.call(lambda: fleet.device("FLT-1").faults.pending), timeout=15)
        n = len(seen.on(nmea("FLT-1")))
        assert seen.wait_for(lambda m: len(m) >= n + 3)  # clean epochs after the last fault
    finally:
        fleet.stop()
    seen.wait_quiet(0.3)
    want = {k: getattr(PLAN, k.value) for k in FaultKind}
    assert fleet.device("FLT-1").faults.counts() == want
    assert classify(seen.on(nmea("FLT-1")), 0.2) == want
    # the skew is the one asked for
    skew = [r for r in fleet.device("FLT-1").faults.log if r.kind is FaultKind.CLOCK_SKEW]
    assert len(skew) == 2 and all(r.detail == "+3600 s" for r in skew)


def test_no_faults_unless_asked(mosquitto: Mosquitto, collect: Callable[..., Collector]) -> None:
    seen = collect(nmea("FLT-0"))
    fleet = Fleet("127.0.0.1", mosquitto.port, [DeviceConfig("FLT-0", interval_s=0.1, receiver=QUIET)])
    assert fleet.start(10)
    assert seen.wait_for(lambda m: len(m) >= 10)  # a second of epochs
    stats = fleet.stop()
    assert seen.wait_for(lambda m: rmc_count(m, nmea("FLT-0")) >= stats.epochs)
    assert classify(seen.on(nmea("FLT-0")), 0.1) == dict.fromkeys(FaultKind, 0)


@pytest.mark.parametrize("bad", [pytest.param(b"garbage", id="bad-json")])
def test_bad_offers_do_not_kill_the_radio(
    mosquitto: Mosquitto, collect: Callable[..., Collector], bad: bytes
) -> None:
    seen = collect(nmea("BAD-1"))
    fleet = Fleet("127.0.0.1", mosquitto.port, [DeviceConfig("BAD-1", interval_s=0.1, receiver=QUIET)])
    pub = Collector(mosquitto.port, "nothing/here")
    try:
        assert fleet.start(10)
        pub.client.publish(dispatch("BAD-1"), bad, qos=1).wait_for_publish(5)
        n = len(seen.on(nmea("BAD-1")))
        assert seen.wait_for(lambda m: len(m) >= n + 3)
    finally:
        pub.close()
        fleet.stop()


def test_many_radios_each_with_its_own_session(
    mosquitto: Mosquitto, collect: Callable[..., Collector]
) -> None:
    from firmware_sim.fleet import fleet_configs

    seen = collect("fleet/+/online")
    configs = fleet_configs(200, city="bandung", interval_s=0.5, seed=7)
    assert {c.kind for c in configs} == {"car", "motorbike", "handheld"}
    fleet = Fleet("127.0.0.1", mosquitto.port, configs, connect_rate_per_s=2000)
    try:
        assert fleet.start(20)
        assert wait_until(lambda: fleet.stats().epochs >= 200 * 3)  # a few epochs from each
    finally:
        stats = fleet.stop()
    assert stats.errors == 0 and stats.late_epochs == 0 and stats.sent == stats.acked
    assert stats.epochs >= 200 * 3
    # Not retained: heard live from this fleet, not left on the session's broker by an earlier test.
    everyone = {online(c.unit_id) for c in configs}
    assert seen.wait_for(
        lambda m: {x.topic for x in m if x.payload == b"online" and not x.retain} == everyone
    )
