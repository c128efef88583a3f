"""compose.yaml stays in step with the code: no docker engine here, so it is parsed and checked."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from typer.main import get_command

import patroli_cli
from dashboards.config import WebSettings
from patroli.settings import Settings

REPO = Path(__file__).resolve().parents[2]
OFFICIAL_IMAGES = (
    "timescale/timescaledb:",
    "eclipse-mosquitto:",
    "emqx/emqx:",
    "prom/prometheus:",
    "grafana/grafana:",
    "caddy:",
)
BROKER_HOSTS = {"mosquitto", "emqx1.patroli.local"}  # the default broker; the cluster profile's EMQX


def compose() -> dict:
    return yaml.safe_load((REPO / "compose.yaml").read_text())


def test_every_patroli_variable_in_compose_is_a_setting_the_code_reads() -> None:
    fields = {f"PATROLI_{name.upper()}" for name in (*Settings.model_fields, *WebSettings.model_fields)}
    seen = set()
    for name, service in compose()["services"].items():
        for var in service.get("environment", {}):
            if var.startswith("PATROLI_"):
                assert var in fields, f"service {name} sets {var}, which no setting reads"
                seen.add(var)
    # Either the URL or (compose) the secrets file that holds it.
    assert {"PATROLI_MQTT_URL_FILE", "PATROLI_DATABASE_URL_FILE"} <= seen or {
        "PATROLI_MQTT_URL",
        "PATROLI_DATABASE_URL",
    } <= seen
    assert {"tracker", "dispatch", "web", "migrate"} <= set(compose()["services"]), (
        "every service of the code runs"
    )


def test_settings_accept_the_values_compose_gives_them(monkeypatch, tmp_path) -> None:
    # The secrets files as `patroli services credentials --secrets-dir` writes them, where compose mounts them.
    from patroli.credentials import SERVICE_USERS
    from patroli.deploy_secrets import write_compose_secrets

    passwords = {
        "DB_PASSWORD": "secret",
        **{f"{u.removeprefix('patroli-').upper()}_MQTT_PASSWORD": "secret" for u in SERVICE_USERS},
    }
    write_compose_secrets(tmp_path / "secrets", passwords)
    mounted = {f"/run/secrets/{k}": str(REPO / v["file"]) for k, v in compose()["secrets"].items()}
    mounted = {
        k: v.replace(str(REPO / "deploy" / "secrets"), str(tmp_path / "secrets")) for k, v in mounted.items()
    }
    missing = sorted(k for k, path in mounted.items() if not Path(path).exists())
    assert not missing, (
        f"compose mounts secrets that `services credentials --secrets-dir` does not write: {missing}"
    )
    for name, service in compose()["services"].items():
        env = {k: re.sub(r"\$\{[^}]+\}", "secret", str(v)) for k, v in service.get("environment", {}).items()}
        for var, value in env.items():
            if var.startswith("PATROLI_"):
                monkeypatch.setenv(var, mounted.get(value, value) if var.endswith("URL_FILE") else value)
        s = Settings()
        if "PATROLI_MQTT_URL" in env or "PATROLI_MQTT_URL_FILE" in env:
            assert s.mqtt().host in BROKER_HOSTS, name
        if "PATROLI_DATABASE_URL" in env or "PATROLI_DATABASE_URL_FILE" in env:
            assert s.database_url.startswith("postgresql://"), name
        for var in env:
            monkeypatch.delenv(var, raising=False)


def test_images_are_official_and_services_run_real_commands() -> None:
    cli = get_command(patroli_cli.app)
    services = compose()["services"]
    for name, service in services.items():
        if "image" in service and "build" not in service:
            assert service["image"].startswith(OFFICIAL_IMAGES), f"{name}: {service['image']}"
        if "build" in service:
            words = service["command"]
            group = cli.commands[words[0]]  # type: ignore[attr-defined]
            if len(words) > 1:
                assert words[1] in group.commands, f"{name}: patroli {' '.join(words)}"  # type: ignore[attr-defined]


def test_mounted_broker_config_exists_and_limits_radios(tmp_path) -> None:
    mounts = compose()["services"]["mosquitto"]["volumes"]
    for mount in mounts:
        source = mount.split(":")[0]
        generated = source.endswith("passwd") or "/certs" in source or "/dynsec" in source  # per deployment
        if source.startswith("./") and not generated:
            assert (REPO / source).is_file(), source
    acl = (REPO / "deploy" / "mosquitto" / "acl").read_text()
    assert "pattern write fleet/%u/nmea" in acl and "pattern read fleet/%u/dispatch" in acl
    conf = (REPO / "deploy" / "mosquitto" / "mosquitto.conf").read_text()
    assert "allow_anonymous false" in conf and "max_inflight_messages" in conf


def test_dispatch_and_web_mount_the_documented_boundaries_folder() -> None:
    services = compose()["services"]
    for name in ("dispatch", "web"):
        service = services[name]
        mounts = {m.split(":")[1]: m.split(":")[0] for m in service["volumes"]}
        assert mounts["/srv/patroli/boundaries"] == "./deploy/boundaries", name
        env = service["environment"]
        for var in ("PATROLI_JURISDICTION_DISTRICTS_GEOJSON", "PATROLI_JURISDICTION_GEOJSON"):
            assert env[var].startswith("/srv/patroli/boundaries/"), (name, var)
            assert (REPO / "deploy" / "boundaries" / "README.md").read_text().count(Path(env[var]).name) >= 1
