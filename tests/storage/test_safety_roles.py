"""Least privilege for officers' safety on a real TimescaleDB: the dispatch user runs an SOS and a check-in end
to end; the web user reads them and frees an emergency's responders when a person closes it, and writes no
SOS signal or check-in of its own."""

from __future__ import annotations

from datetime import UTC, datetime

from test_db_roles import _refused, users  # noqa: F401  (the roles' fixture)

from dispatch.jurisdiction import Jurisdiction
from dispatch.service import Dispatcher
from dispatch.stations import StationDirectory
from patroli.incidents import Disposition, IncidentIntake
from patroli.messages import PositionMessage, UnitAnswer
from patroli.models import Unit
from patroli.storage import open_store

MONAS = (-6.175392, 106.827153)


class _Quiet:
    def publish(self, topic: str, payload: bytes, qos: int, retain: bool = False) -> None:
        """The bus is not under test here."""


def test_the_dispatch_user_runs_sos_and_check_in_and_the_web_user_only_reads_and_closes(
    pg_url: str,
    users: dict[str, str],  # noqa: F811
) -> None:
    owner = open_store(pg_url)
    for unit_id in ("SOS-1", "R0", "CAR-1"):
        owner.add_unit(Unit(unit_id, polres_code="31.71"))
    owner.close()
    stations = StationDirectory.load()
    jurisdiction = Jurisdiction(stations)
    now = datetime.now(UTC)
    for role in ("dispatch", "web"):
        store = open_store(users[role])
        d = Dispatcher(store, stations, jurisdiction, _Quiet())
        d.load()
        for i, unit_id in enumerate(("SOS-1", "R0", "CAR-1")):
            d.on_position(PositionMessage(unit_id=unit_id, t=now, lat=MONAS[0] + i * 0.005, lon=MONAS[1]))
        if role == "dispatch":
            d.safety.on_sos("SOS-1", True)
            (incident_id,) = safety_ids(store)
            d.config = type(d.config)(check_in_s=0.001, check_in_answer_s=60)
            d.on_answer("R0", UnitAnswer(incident_id=incident_id, answer="accept", at=now))
            d.on_answer("R0", UnitAnswer(incident_id=incident_id, answer="on_scene", at=now))
            d.tick()  # asks R0 to check in
        else:
            (incident_id,) = safety_ids(store)
            d.close(incident_id, Disposition.RESOLVED, actor="user:dispatcher", note="sudah aman")
            assert _refused(users["web"], "INSERT INTO unit_sos (unit_id, raised) VALUES ('X', 1)")
            assert _refused(users["web"], "UPDATE safety_checks SET answered_at = now()")
            intake = IncidentIntake.model_validate(
                {
                    "channel": "phone",
                    "category": "report",
                    "caller": "+628111",
                    "location": {"lat": MONAS[0], "lon": MONAS[1]},
                }
            )
            inc = d.intake(intake).incident  # the web's intake reads the units in SOS
            assert inc.unit_id == "R0"  # SOS-1 is nearer, and in danger
        store.close()
    owner = open_store(pg_url)
    with owner.transaction() as tx:
        asked = tx.rows("SELECT count(*) FROM safety_checks WHERE asked_at IS NOT NULL")[0][0]
        statuses = dict(tx.rows("SELECT unit_id, status FROM units WHERE unit_id IN ('R0', 'SOS-1')"))
    owner.close()
    assert asked == 1 and statuses["R0"] == "offered"  # freed by the close, offered the new contact


def safety_ids(store) -> list[str]:  # type: ignore[no-untyped-def]
    with store.transaction() as tx:
        return [
            r[0]
            for r in tx.rows("SELECT incident_id FROM incidents WHERE incident_type = 'officer_emergency'")
        ]
