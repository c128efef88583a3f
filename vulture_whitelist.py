"""What vulture cannot see being used (`make deadcode`), by who uses it. Nothing else belongs here: code that
nobody calls is removed, not listed.

Format: vulture's own (a bare name or `_.attribute` marks it used); never imported or run.
"""

# paho-mqtt calls the callbacks it finds on the client, with (client, userdata, ...) positionally, and reads
# the MQTT 5 properties set on a Properties object.
_.on_subscribe
_.on_disconnect
_.on_publish
_.on_socket_open
_.on_socket_close
_.on_socket_register_write
_.on_socket_unregister_write
userdata
_.SessionExpiryInterval
_.ReceiveMaximum
_.UserProperty
_._last_bytes_received  # paho's keepalive reads it (FeedClient sets it for the packets paho did not read)

# pydantic reads model_config, and serialises every field of a response model (dashboards/schemas.py), some
# of them filled by name from a dataclass with the same fields (ResponseTimesView.of: ResponseFigures).
model_config
next_cursor
next_after
t_us
stale
station_name
level_name
seconds_to_escalation
next_station
accept_p90_s
arrive_p90_s
entries_checked
disabled
token_type
tile_url
tile_attribution
heartbeat_s
batch_ms
center
tolerance_deg
live_clients
mqtt_connected
acknowledged
ack_within_target
median_ack_s
median_arrive_s
targets
last_lat
last_lon
last_fix_at
seconds_since_fix
check_in_due

# pydantic validates a StrEnum field by value: members only ever named in incoming JSON.
PHONE
SMS
EMAIL
FAX
SOCIAL
NO_ACTION
REFERRED
DUPLICATE

# uvicorn reads Server.should_exit; rich reads Text.plain when it renders; pytest reads pytestmark.
_.should_exit
_.plain
pytestmark

# Read by name through dataclasses.fields() or getattr(): the calibration figures (compared field by field
# with the drive traces) and the fault plan's counts (one field per FaultKind value).
moving_mean_mps
speed_p95_mps
decel_max_mps2
stops
stops_per_km
stopped_share
garbage
truncated
clock_skew
duplicates
bursts

# http.server calls a request handler's do_<METHOD> and log_message (the CAP feed the alerts tests serve).
_.do_GET
_.log_message
# aiosmtpd calls its handler's handle_DATA for each message (dispatch/channels/email.py).
_.handle_DATA


# Fields of API response models, serialised by FastAPI (dashboards/api_assignment.py, api_console.py).
outlines
travel_s
tile_type
min_zoom
types_by_category
# CAP 1.2's required <info> elements, kept as parsed (dispatch/cap.py) though no rule reads these two yet.
urgency
certainty
# The retention report's counts, printed and audited as a whole (dataclasses.asdict in patroli/retention.py).
chunks_kept_held
held_restored
# The caller lookup's device location, a response field set after the history is read (dashboards/api_console.py).
device_location
# FastAPI calls the officer's page's routes (dashboards/api_officer.py: `page_router`, which the decorator
# pattern `@router.*` does not cover).
page_redirect
service_worker

# The auditor's and commander's responses (dashboards/api_replay.py, dashboards/api_reports.py): pydantic writes
# every field; the console reads them (ui/Trail.js, ui/Reports.js).
verified
verified_head_seq
verified_head_hash
next_before
ack_within_share
arrive_within_share
from_s
to_s
target_s
within_target
within_share
behind_the_flag
flag_from
covered_share
not_visited
incidents_not_visited
# The officer's page state's pending check-in, a response field (dashboards/api_officer.py).
check_in
