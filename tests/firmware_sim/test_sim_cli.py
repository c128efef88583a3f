"""`patroli sim` as the lead registers it: a typer command against PATROLI_MQTT_URL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import typer
from paho.mqtt.publish import single
from sim_helpers import Collector
from typer.testing import CliRunner

from firmware_sim.cli import read_password_file, sim
from patroli.localservers import Mosquitto
from patroli.settings import get_settings


@pytest.fixture
def app(mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> Iterator[typer.Typer]:
    monkeypatch.setenv("PATROLI_MQTT_URL", mosquitto.url)
    get_settings.cache_clear()
    a = typer.Typer()
    a.command("sim")(sim)
    a.command("noop")(lambda: None)  # two commands: `sim` stays a sub-command as in `patroli sim`
    yield a
    get_settings.cache_clear()


def test_sim_runs_radios_for_a_while_and_sums_up(
    app: typer.Typer, collect: Callable[..., Collector], tmp_path: Path
) -> None:
    seen = collect("fleet/+/online")
    creds = tmp_path / "units.txt"
    creds.write_text("# unit:password\nSUM-A:secret-a\nSUM-B:secret-b\n")
    result = CliRunner().invoke(
        app,
        [
            "sim",
            "--units",
            "2",
            "--interval",
            "0.2",
            "--duration",
            "1",
            "--city",
            "bandung",
            "--password-file",
            str(creds),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "sent" in result.output and "acked" in result.output and "errors" in result.output
    assert seen.wait_for(lambda m: {"fleet/SUM-A/online", "fleet/SUM-B/online"} <= {x.topic for x in m})
    # Only this run's radios (ids no other test uses: the SOS test's CLI-P and CLI-Q leave their retained
    # `online` on the session's broker, which a random order delivered here first).
    assert {m.topic for m in seen.messages if m.topic.startswith("fleet/SUM-")} == {
        "fleet/SUM-A/online",
        "fleet/SUM-B/online",
    }


def test_sim_load_reports_its_rate(app: typer.Typer) -> None:
    result = CliRunner().invoke(
        app, ["sim", "--load", "--units", "10", "--interval", "0.1", "--duration", "0.5"]
    )
    assert result.exit_code == 0, result.output
    assert "send rate" in result.output and "50" in result.output  # 10 units / 0.1 s for 0.5 s


def test_unknown_city_and_bad_password_file(app: typer.Typer, tmp_path: Path) -> None:
    assert CliRunner().invoke(app, ["sim", "--city", "atlantis", "--duration", "1"]).exit_code != 0
    bad = tmp_path / "bad.txt"
    bad.write_text("no-colon-here\n")
    with pytest.raises(typer.BadParameter):
        read_password_file(bad)


def test_demo_fleet_starts_and_stops(mosquitto: Mosquitto, collect: Callable[..., Collector]) -> None:
    from firmware_sim.demo import start_demo_fleet
    from patroli.settings import Settings

    seen = collect("fleet/+/nmea")
    fleet = start_demo_fleet(Settings(mqtt_url=mosquitto.url), 5, interval_s=0.2)
    try:
        assert fleet.stats().connected == 5
        assert seen.wait_for(lambda m: len({x.topic for x in m}) == 5)
    finally:
        stats = fleet.stop()
    assert stats.errors == 0


def test_sim_panic_after_raises_the_first_units_sos(
    app: typer.Typer, collect: Callable[..., Collector], tmp_path: Path, mosquitto: Mosquitto
) -> None:
    seen = collect("fleet/+/sos")
    creds = tmp_path / "units.txt"
    creds.write_text("CLI-P:secret-p\nCLI-Q:secret-q\n")
    args = ["sim", "--units", "2", "--interval", "0.2", "--duration", "1.5", "--password-file", str(creds)]
    result = CliRunner().invoke(app, [*args, "--panic-after", "0.5"])
    assert result.exit_code == 0, result.output
    assert seen.wait_for(lambda m: any(x.topic == "fleet/CLI-P/sos" for x in m))
    assert [(m.topic, m.payload) for m in seen.messages if m.topic.startswith("fleet/CLI-")] == [
        ("fleet/CLI-P/sos", b"true")
    ]
    single("fleet/CLI-P/sos", b"", qos=1, retain=True, port=mosquitto.port)  # no SOS left for later tests
