"""Simulated tracks: continuous, at the kind's speeds, on the city's streets; dispatch drives to the scene.

Run without a broker: `SimDevice` is I/O-free, so an hour of patrol takes a fraction of a second.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from firmware_sim.city import CITIES
from firmware_sim.device import DeviceConfig, DispatchBehaviour, SimDevice
from firmware_sim.movement import PROFILES
from firmware_sim.receiver import HDOP_MAX, ReceiverConfig
from patroli.geodesy import distance_m
from patroli.messages import DispatchOffer, UnitAnswer, UnitStatusReport
from patroli.models import UnitKind
from patroli.topics import ack, dispatch, online, status

T0 = datetime(2024, 5, 1, 3, 0, tzinfo=UTC)
# A late decision at a junction (a discrete braking curve that ends above the turn speed, a stop reached at
# walking pace) can brake harder than the comfortable rate for one step; bounded by about twice that rate,
# which for cars is the traces' own maximum (3.2 m/s²).
HARD_BRAKE_FACTOR = 2.2


def run(cfg: DeviceConfig, seconds: int, step: float = 1.0) -> SimDevice:
    dev = SimDevice(cfg, start=T0)
    dev.track = []  # type: ignore[attr-defined]
    for k in range(1, int(seconds / step) + 1):
        dev.epoch(T0 + timedelta(seconds=k * step))
        dev.track.extend(dev.last)  # type: ignore[attr-defined]
    return dev


@pytest.mark.parametrize("kind", list(UnitKind))
@pytest.mark.parametrize("city", ["jakarta", "bandung"])
def test_track_is_continuous_at_the_kinds_speeds(kind: UnitKind, city: str) -> None:
    profile = PROFILES[kind]
    rc = ReceiverConfig()
    dev = run(DeviceConfig(f"TRK-{kind.value}", kind=kind, city=city), 3600)
    track = dev.track  # type: ignore[attr-defined]
    box = CITIES[city].patrol
    moving = []
    for (e0, t0, _), (e1, t1, _) in itertools.pairwise(track):
        dt = (e1.fix_time - e0.fix_time).total_seconds()
        # the truth: no teleporting, never above the kind's top speed, believable (de)celeration
        assert distance_m(t0.lat, t0.lon, t1.lat, t1.lon) <= profile.max_speed_mps * dt + 0.01
        assert 0 <= t1.speed_mps <= profile.max_speed_mps + 1e-9
        assert t1.speed_mps - t0.speed_mps <= profile.accel_mps2 * dt + 1e-9
        assert t0.speed_mps - t1.speed_mps <= profile.decel_mps2 * dt * HARD_BRAKE_FACTOR
        assert box.contains(t1.lat, t1.lon)
        # what the receiver reports: within the configured noise and canyon jumps of the truth
        if e1.valid:
            assert distance_m(e1.lat, e1.lon, t1.lat, t1.lon) <= rc.max_error_m
            assert e1.speed_mps <= profile.max_speed_mps + 5 * rc.speed_noise_mps
            assert 0.6 <= e1.hdop <= 2 * HDOP_MAX and 4 <= e1.satellites <= 32
        if t1.speed_mps >= 1.0:
            moving.append(t1.speed_mps)
    distance_km = dev.mover.odometer_m / 1000
    mean = sum(moving) / len(moving)
    if kind is UnitKind.HANDHELD:
        assert 1.0 <= mean <= 1.6 and 2 <= distance_km <= 6  # walking pace, with pauses
    else:
        assert 7.0 <= mean <= 16.0 and 20 <= distance_km <= 60  # city traffic: 25–55 km/h when moving
    assert dev.receiver.jumps > 0  # the default receiver does show urban-canyon jumps in an hour


def test_without_canyon_the_error_stays_within_the_noise() -> None:
    rc = ReceiverConfig(canyon_per_h=0, outage_per_h=0, noise_m=1.5)
    dev = run(DeviceConfig("QUIET-1", receiver=rc), 1800)
    errors = [distance_m(e.lat, e.lon, t.lat, t.lon) for e, t, _ in dev.track]  # type: ignore[attr-defined]
    assert max(errors) <= 5 * 1.5 * HDOP_MAX * 2**0.5
    assert 0.5 <= sorted(errors)[len(errors) // 2] <= 6.0  # "a few metres"
    assert all(e.valid for e, _, _ in dev.track)  # type: ignore[attr-defined]


def test_short_intervals_and_long_ones_give_the_same_kind_of_track() -> None:
    for interval in (0.2, 10.0):
        dev = run(DeviceConfig("IVL-1", interval_s=interval), 1200, step=interval)
        track = dev.track  # type: ignore[attr-defined]
        for (_, a, _), (_, b, _) in itertools.pairwise(track):
            assert (
                distance_m(a.lat, a.lon, b.lat, b.lon)
                <= PROFILES[UnitKind.CAR].max_speed_mps * interval + 0.01
            )
        assert len({e.fix_time for e, _, _ in track}) == len(track)  # fix times unique per unit


def offer(dev: SimDevice, incident_id: str, distance_m: float = 1500.0) -> DispatchOffer:
    # a scene east of where the unit is now
    st = dev.mover.state()
    lat, lon = dev.grid.frame.to_latlon(
        *(a + b for a, b in zip(dev.mover.xy, (distance_m, 300.0), strict=True))
    )
    assert abs(st.lat - lat) < 0.05
    return DispatchOffer(
        incident_id=incident_id,
        lat=lat,
        lon=lon,
        category="crime",
        incident_type="robbery",
        priority=1,
        address="Jl. Test",
        deadline_s=30,
        offered_at=T0,
    )


def drive_through_a_job(dev: SimDevice, o: DispatchOffer, start_s: int, seconds: int) -> list[UnitAnswer]:
    sent: list[UnitAnswer] = []
    dev.on_message(dispatch(dev.unit_id), o.encode(), T0 + timedelta(seconds=start_s))
    for k in range(start_s + 1, start_s + seconds):
        now = T0 + timedelta(seconds=k)
        outs = dev.poll(now) + dev.epoch(now)
        sent += [UnitAnswer.decode(x.payload) for x in outs if x.topic.endswith("/ack")]
        if sent and sent[-1].answer == "on_scene" and sent[-1].at == now:
            st = dev.mover.state()
            assert distance_m(st.lat, st.lon, o.lat, o.lon) < 1.0 and st.speed_mps == 0  # there, standing
    return sent


def test_accepted_offer_drives_to_the_scene_and_back_to_patrol() -> None:
    cfg = DeviceConfig("DSP-1", dispatch=DispatchBehaviour(answer_delay_s=3, on_scene_s=20))
    dev = run(cfg, 120)
    o = offer(dev, "INC-1")
    answers = drive_through_a_job(dev, o, 120, 600)
    assert [a.answer for a in answers] == ["accept", "en_route", "on_scene", "clear"]
    assert all(a.incident_id == "INC-1" for a in answers)
    accept, _, on_scene, clear = answers
    assert accept.at == T0 + timedelta(seconds=123)  # the configured delay
    took = (on_scene.at - accept.at).total_seconds()
    assert 60 <= took <= 400  # ~2 km of streets at 20–80 km/h with sirens (no waiting at lights)
    assert (clear.at - on_scene.at).total_seconds() == pytest.approx(20, abs=1.01)
    assert dev.status == "available" and not dev.mover.responding


@pytest.mark.parametrize(("decline", "ignore", "want"), [(1.0, 0.0, ["decline"]), (0.0, 1.0, [])])
def test_configured_share_declines_or_never_answers(decline: float, ignore: float, want: list[str]) -> None:
    cfg = DeviceConfig(
        "DSP-2", dispatch=DispatchBehaviour(answer_delay_s=1, decline_share=decline, ignore_share=ignore)
    )
    dev = run(cfg, 10)
    answers = drive_through_a_job(dev, offer(dev, "INC-2"), 10, 60)
    assert [a.answer for a in answers] == want and dev.status == "available"


def test_shares_hold_over_many_offers() -> None:
    cfg = DeviceConfig(
        "DSP-3", dispatch=DispatchBehaviour(answer_delay_s=0.5, decline_share=0.3, ignore_share=0.2)
    )
    dev = SimDevice(cfg, start=T0)
    counts = {"accept": 0, "decline": 0, "none": 0}
    for i in range(400):
        now = T0 + timedelta(seconds=i)
        dev._phase = "patrol"  # each offer meets a unit on patrol
        dev.incident = None
        dev.on_message(dispatch(dev.unit_id), offer(dev, f"INC-{i}").encode(), now)
        outs = dev.poll(now + timedelta(seconds=1))
        kinds = [UnitAnswer.decode(x.payload).answer for x in outs if x.topic.endswith("/ack")]
        counts[kinds[0] if kinds else "none"] += 1
    assert 0.4 < counts["accept"] / 400 < 0.6 and 0.22 < counts["decline"] / 400 < 0.38
    assert 0.13 < counts["none"] / 400 < 0.27


def test_a_busy_unit_declines_other_offers_and_ignores_repeats() -> None:
    dev = run(DeviceConfig("DSP-4", dispatch=DispatchBehaviour(answer_delay_s=1)), 10)
    first, other = offer(dev, "INC-A"), offer(dev, "INC-B")
    now = T0 + timedelta(seconds=10)
    dev.on_message(dispatch(dev.unit_id), first.encode(), now)
    dev.on_message(dispatch(dev.unit_id), first.encode(), now)  # a repeat
    dev.on_message(dispatch(dev.unit_id), other.encode(), now)
    outs = dev.poll(now + timedelta(seconds=2))
    answers = [
        (a.incident_id, a.answer) for a in (UnitAnswer.decode(x.payload) for x in outs if "/ack" in x.topic)
    ]
    assert answers == [("INC-A", "accept"), ("INC-A", "en_route"), ("INC-B", "decline")]
    assert dev.on_message(dispatch(dev.unit_id), b"{not json", now) == []  # a bad offer is logged, not fatal


def test_on_a_job_the_radio_leaves_its_status_to_the_dispatch_flow() -> None:
    dev = run(DeviceConfig("DSP-5", dispatch=DispatchBehaviour(answer_delay_s=1, on_scene_s=1)), 10)
    job = offer(dev, "INC-C", distance_m=50.0)
    now = T0 + timedelta(seconds=10)
    dev.on_message(dispatch(dev.unit_id), job.encode(), now)
    accepted = dev.poll(now + timedelta(seconds=2))
    assert [x.topic for x in accepted] == [ack(dev.unit_id)] * 2  # accept, en_route; no `busy` status
    assert [x.topic for x in dev.on_connect(now + timedelta(seconds=3))] == [online(dev.unit_id)]  # mid-job
    t = now + timedelta(seconds=2)
    outs: list = []
    for _ in range(600):  # drive there, stay, clear
        t += timedelta(seconds=1)
        dev.epoch(t)
        outs += dev.poll(t)
        if any(x.topic == status(dev.unit_id) for x in outs):
            break
    answers = [UnitAnswer.decode(x.payload).answer for x in outs if x.topic == ack(dev.unit_id)]
    assert answers[-1] == "clear"
    assert [UnitStatusReport.decode(x.payload).status for x in outs if x.topic == status(dev.unit_id)] == [
        "available"
    ]
