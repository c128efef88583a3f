"""Smoke tests of the real servers the suite runs against."""

from __future__ import annotations

import socket
import threading

import paho.mqtt.client as mqtt
import psycopg
import pytest

from patroli import localservers
from patroli.localservers import Mosquitto


def test_message_round_trip_through_mosquitto(mosquitto: Mosquitto) -> None:
    got: list[bytes] = []
    subscribed, received = threading.Event(), threading.Event()

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sub.on_subscribe = lambda *a: subscribed.set()

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        got.append(msg.payload)
        received.set()

    sub.on_message = on_message
    sub.connect("127.0.0.1", mosquitto.port)
    sub.subscribe("smoke/#", qos=1)
    sub.loop_start()
    assert subscribed.wait(5)

    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", mosquitto.port)
    pub.loop_start()
    pub.publish("smoke/1", b"$GPRMC,hello", qos=1).wait_for_publish(5)
    assert received.wait(5)
    assert got == [b"$GPRMC,hello"]
    for c in (pub, sub):
        c.loop_stop()
        c.disconnect()


def test_rows_go_through_a_timescaledb_hypertable(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        conn.execute("CREATE TABLE m (t timestamptz NOT NULL, v int)")
        conn.execute("SELECT create_hypertable('m', 't', chunk_time_interval => INTERVAL '1 day')")
        conn.execute(
            "INSERT INTO m SELECT g, 1 FROM generate_series(TIMESTAMPTZ '2026-01-01', '2026-01-03 23:00', '1 hour') g"
        )
        chunks = conn.execute("SELECT count(*) FROM show_chunks('m')").fetchone()
        buckets = conn.execute(
            "SELECT count(*) FROM (SELECT time_bucket('1 day', t) FROM m GROUP BY 1) b"
        ).fetchone()
    assert chunks == (3,)  # three days, one-day chunks
    assert buckets == (3,)


@pytest.mark.parametrize("server", ["mosquitto", "postgres"])
def test_a_port_taken_after_it_was_found_free_means_another_port(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process can bind the 'free' port before the server does (CI runs many servers at once)."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = iter([taken, localservers.free_port()])
        monkeypatch.setattr(localservers, "free_port", lambda: next(ports))
        started = localservers.start_mosquitto() if server == "mosquitto" else localservers.start_postgres()
        try:
            assert started.port != taken
            if isinstance(started, localservers.Postgres):
                with psycopg.connect(started.admin_url) as conn:
                    assert conn.execute("select 1").fetchone() == (1,)
            else:
                with socket.create_connection(("127.0.0.1", started.port), timeout=5):
                    pass
        finally:
            started.stop()
