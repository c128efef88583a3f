"""BMKG CAP 1.2 alerts as incidents (issue 14), on both backends, through the real broker.

The CAP files in tests/dispatch/cap/ are written for these tests in the shape of InaTEWS's published alerts
(identifier, sender info_inatews@bmkg.go.id, `code profile:BMKG-Versi:1`, language `id`, category Geo).
"""

from __future__ import annotations

import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import h3
import paho.mqtt.client as mqtt
import pytest

from dispatch import cap
from dispatch.alert_sources import FeedSource, FolderSource, feed_links
from dispatch.alerts import AlertIntake, area_cells
from dispatch.jurisdiction import Jurisdiction
from dispatch.runner import MqttPublisher
from dispatch.service import Dispatcher
from dispatch.stations import StationDirectory
from patroli.localservers import Mosquitto
from patroli.storage import Store, alerts_repo, dispatch_repo

FILES = Path(__file__).resolve().parent / "cap"
NOW = datetime(2026, 12, 1, 1, 20, tzinfo=UTC)  # after the alert was sent, before it expires
ALERT, UPDATE, CANCEL = (
    (FILES / f"inatews_gempa_{n}.xml").read_bytes() for n in ("alert", "update", "cancel")
)
EPICENTRE = (-6.60, 106.70)


@pytest.fixture
def intake(
    store: Store, stations: StationDirectory, jurisdiction: Jurisdiction, mosquitto: Mosquitto, clock: Any
) -> Iterator[AlertIntake]:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    clock.t = NOW
    d = Dispatcher(store, stations, jurisdiction, MqttPublisher(client), clock=clock)
    d.load()
    yield AlertIntake(d)
    client.disconnect()
    client.loop_stop()


def open_incidents(intake: AlertIntake) -> dict[str, str]:
    """Polres → incident id of every open cap incident."""
    with intake.store.transaction() as tx:
        rows = tx.rows(
            "SELECT polres_code, incident_id FROM incidents WHERE channel = 'cap' AND closed_at IS NULL"
        )
    return {r[0]: r[1] for r in rows}


def test_parser_reads_the_bmkg_shape_and_refuses_what_breaks_cap_1_2() -> None:
    alert = cap.parse(ALERT)
    assert (alert.sender, alert.status, alert.msg_type, alert.scope) == (
        "info_inatews@bmkg.go.id",
        "Actual",
        "Alert",
        "Public",
    )
    (info,) = alert.infos
    assert (info.language, info.categories, info.event) == ("id", ("Geo",), "Gempabumi")
    assert ("Magnitude", "5.6") in info.parameters
    assert alert.areas[0].circles == (cap.Circle(-6.60, 106.70, 30.0),)
    (ref,) = cap.parse(UPDATE).references
    assert (ref.identifier, ref.sent) == (alert.identifier, alert.sent)
    for name, reason in (("bad_no_scope", "schema"), ("bad_open_polygon", "bad_geometry")):
        with pytest.raises(cap.CapRefused) as refused:
            cap.parse((FILES / f"{name}.xml").read_bytes())
        assert refused.value.reason.value == reason
    with pytest.raises(cap.CapRefused) as entity:
        cap.parse(b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><alert>&x;</alert>')
    assert entity.value.reason is cap.CapRefusal.NOT_XML


def test_circle_cells_lie_within_the_radius_and_cover_it() -> None:
    (area,) = cap.parse(ALERT).areas
    cells = area_cells(area)
    distances = [
        h3.great_circle_distance(EPICENTRE, h3.cell_to_latlng(h3.int_to_str(c)), unit="km") for c in cells
    ]
    assert max(distances) <= 30.0
    expected = 3.14159 * 30**2 / h3.average_hexagon_area(7, unit="km^2")  # area / cell area
    assert 0.85 * expected < len(cells) < 1.15 * expected


def test_an_alert_opens_one_incident_per_polres_in_its_area(
    intake: AlertIntake, stations: StationDirectory
) -> None:
    out = intake.take(ALERT, NOW)
    assert (out.action, out.reason) == ("opened", None)
    epicentre_polres = stations.nearest_polres_km(*EPICENTRE)[0].code
    assert epicentre_polres in out.opened
    assert len(out.opened) >= 3  # a 30 km circle south of Jakarta spans several Polres
    assert "35.78" not in out.opened  # Surabaya, 700 km away
    assert open_incidents(intake) == out.opened
    for code, incident_id in out.opened.items():
        inc = intake.dispatcher.get(incident_id)
        assert (inc.channel, inc.category, inc.incident_type, inc.priority) == (
            "cap",
            "information",
            "disaster",
            2,
        )
        assert (inc.polres_code, inc.caller, inc.needs_unit) == (code, "info_inatews@bmkg.go.id", False)
        assert h3.great_circle_distance(EPICENTRE, (inc.lat, inc.lon), unit="km") <= 30.0
        assert inc.description.startswith("Gempabumi: Info Gempa Mag:5.6")
    assert intake.take(ALERT, NOW).reason == "duplicate"
    assert open_incidents(intake) == out.opened  # nothing opened twice


def test_an_update_moves_the_area_and_a_cancel_closes_the_rest(intake: AlertIntake) -> None:
    first = intake.take(ALERT, NOW)
    update = intake.take(UPDATE, NOW)
    assert update.action == "updated"
    kept, gone = set(first.opened.values()) & set(update.updated), set(update.closed)
    assert kept and gone and update.opened  # the update exercises all three paths
    assert kept | gone == set(first.opened.values())
    assert not kept & gone
    assert set(open_incidents(intake)) == set(update.opened) | {
        code for code, iid in first.opened.items() if iid in kept
    }
    closed = intake.dispatcher.get(next(iter(gone)))
    assert (closed.state, closed.disposition) == ("closed", "no_action")
    with intake.store.transaction() as tx:
        trail = [e.action for e in dispatch_repo.audit_entries(tx, incident_id=next(iter(kept)))]
    assert trail == ["received", "routed", "alert_updated"]

    cancel = intake.take(CANCEL, NOW)
    assert cancel.action == "cancelled"
    assert set(cancel.closed) == kept | set(update.opened.values())
    assert open_incidents(intake) == {}
    with intake.store.transaction() as tx:
        assert alerts_repo.active_threads(tx) == []


def test_exercises_and_unknown_cancels_are_recorded_not_acted_on(intake: AlertIntake) -> None:
    assert intake.take((FILES / "inatews_exercise.xml").read_bytes(), NOW).reason == "ignored_status"
    assert intake.take(CANCEL, NOW).reason == "unknown_reference"
    assert intake.take(ALERT, datetime(2027, 1, 1, tzinfo=UTC)).reason == "expired"
    assert open_incidents(intake) == {}
    assert intake.take(b"<rss/>", NOW).reason == "not_cap_1_2"


def test_a_watched_folder_takes_each_file_once(intake: AlertIntake, tmp_path: Path) -> None:
    for name in ("inatews_gempa_alert.xml", "bad_no_scope.xml"):
        shutil.copy(FILES / name, tmp_path / name)
    source = FolderSource(tmp_path, intake)
    outcomes = source.poll()
    assert [(o.action, o.reason) for o in outcomes] == [(None, "schema"), ("opened", None)]  # name order
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == ["inatews_gempa_alert.xml"]
    assert sorted(p.name for p in (tmp_path / "refused").iterdir()) == ["bad_no_scope.xml"]
    assert source.poll() == []


class _Feed(http.server.BaseHTTPRequestHandler):
    documents: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:  # http.server's name for it
        body = self.documents.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *_args: object) -> None:
        pass


def test_an_atom_feed_of_alerts_is_polled_over_http(intake: AlertIntake) -> None:
    atom = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>InaTEWS</title>'
        b'<entry><id>2</id><link href="/cap/update.xml"/></entry>'
        b'<entry><id>1</id><link href="/cap/alert.xml"/></entry></feed>'
    )
    _Feed.documents = {"/feed.xml": atom, "/cap/alert.xml": ALERT, "/cap/update.xml": UPDATE}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Feed)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/feed.xml"
        assert feed_links(atom, url) == [
            url.replace("feed.xml", "cap/alert.xml"),
            url.replace("feed.xml", "cap/update.xml"),
        ]
        source = FeedSource(url, intake)
        assert [o.action for o in source.poll()] == ["opened", "updated"]  # oldest first, as sent
        assert source.poll() == []
    finally:
        server.shutdown()
        thread.join(10)
    with intake.store.transaction() as tx:
        (active,) = alerts_repo.active_threads(tx)
    assert active.identifier == "Indonesia-InaTEWS-earthquakes-20261201081544"
    (feature,) = json.loads(active.area_geojson)["features"]
    assert feature["geometry"]["type"] == "Polygon"
