"""MQTT topic names: the bus contract between radios, tracker, dispatcher and dashboards."""

from __future__ import annotations

import re
import zlib

UNIT_ID_PATTERN = r"[A-Za-z0-9_-]{1,64}"
_UNIT_ID = re.compile(rf"^{UNIT_ID_PATTERN}$")
_NMEA_TOPIC = re.compile(rf"^fleet/({UNIT_ID_PATTERN})/nmea$")

NMEA_SUBSCRIPTION = "fleet/+/nmea"
POSITION_SUBSCRIPTION = "fleet/+/position"
SOS_SUBSCRIPTION = "fleet/+/sos"
INCIDENTS_NEW = "incidents/new"
# After the commit of a change: an incident's (`IncidentEvent`, heard by the dashboards and by the dispatch
# process, which offers an incident stored by another process) and a unit status's (`UnitEvent`).
INCIDENT_EVENTS = "patroli/events/incident"
UNIT_EVENTS = "patroli/events/unit"
# OwnTracks phones publish on owntracks/<user>/<device> and read commands on …/cmd (tracker.phones).
OWNTRACKS_SUBSCRIPTION = "owntracks/+/+"
_OWNTRACKS_TOPIC = re.compile(r"^owntracks/([^/+#]{1,64})/([^/+#]{1,64})$")


def is_valid_unit_id(unit_id: str) -> bool:
    return bool(_UNIT_ID.match(unit_id))


def unit_from_nmea_topic(topic: str) -> str | None:
    """The unit id of a `fleet/<unit_id>/nmea` topic, or None when the topic is not one."""
    m = _NMEA_TOPIC.match(topic)
    return m.group(1) if m else None


def owntracks_device(topic: str) -> tuple[str, str] | None:
    """(user, device) of an `owntracks/<user>/<device>` topic, or None when the topic is not one."""
    m = _OWNTRACKS_TOPIC.match(topic)
    return (m.group(1), m.group(2)) if m else None


def owntracks_cmd(user: str, device: str) -> str:
    return f"owntracks/{user}/{device}/cmd"


def nmea(unit_id: str) -> str:
    return f"fleet/{unit_id}/nmea"


def position(unit_id: str) -> str:
    return f"fleet/{unit_id}/position"


def status(unit_id: str) -> str:
    return f"fleet/{unit_id}/status"


def online(unit_id: str) -> str:
    return f"fleet/{unit_id}/online"


def dispatch(unit_id: str) -> str:
    return f"fleet/{unit_id}/dispatch"


def ack(unit_id: str) -> str:
    return f"fleet/{unit_id}/ack"


def sos(unit_id: str) -> str:
    """An officer's emergency: `true` (retained) while in danger, `false` when safe (radio panic button, phones)."""
    return f"fleet/{unit_id}/sos"


def partition(topic: str, partitions: int) -> int:
    """Which of `partitions` tracker processes owns a `fleet/<unit>/nmea` topic: a stable hash of the unit id
    (CRC-32, the same in every process and across restarts); anything that is not such a topic goes to 0."""
    unit_id = unit_from_nmea_topic(topic)
    return zlib.crc32(unit_id.encode()) % partitions if unit_id else 0


def shared(subscription: str, group: str | None) -> str:
    """An MQTT 5 shared subscription (`$share/<group>/…`) when a group is set, else the plain filter."""
    return f"$share/{group}/{subscription}" if group else subscription
