"""The monitoring profile (issue 14): Grafana's provisioned dashboard asks only for metrics the code exports,
from the jobs Prometheus scrapes, and the incident figures read from the store are right."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import httpx
import yaml
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from web_helpers import ServerFactory, intake_body

import tracker.metrics  # noqa: F401 (registers the tracker's metrics, as a tracker process does)
from patroli.localservers import free_port
from patroli.storage import dispatch_repo

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = json.loads((REPO / "deploy/grafana/dashboards/patroli.json").read_text())
PROMETHEUS = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
METRIC = re.compile(r"\bpatroli_[a-z0-9_]+\b")


def exprs() -> list[str]:
    return [t["expr"] for p in DASHBOARD["panels"] for t in p["targets"]]


SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def series_names(families: object) -> set[str]:
    """The series a family exposes, observed or not (a labelled counter has no sample until it counts)."""
    return {f.name + suffix for f in families for suffix in SUFFIXES.get(f.type, ("",))}  # type: ignore[attr-defined]


def test_every_dashboard_metric_is_exported_where_prometheus_scrapes(start_server: ServerFactory) -> None:
    port = free_port()
    start_server(mqtt=False, web_metrics_port=port)
    web_job = next(j for j in PROMETHEUS["scrape_configs"] if j["job_name"] == "web")
    # The path Prometheus uses, without a token, on the web process's own metrics listener.
    scraped = httpx.get(f"http://127.0.0.1:{port}{web_job['metrics_path']}")
    assert scraped.status_code == 200
    web_names = series_names(text_string_to_metric_families(scraped.text))
    tracker_names = series_names(m for m in REGISTRY.collect() if m.name.startswith("patroli_tracker"))
    wanted = {name for e in exprs() for name in METRIC.findall(e)}
    assert wanted, "the dashboard asks for patroli metrics"
    for name in wanted:
        where = tracker_names if name.startswith("patroli_tracker_") else web_names
        assert name in where, f"{name}: no such metric exported"
    jobs = {j["job_name"]: j["static_configs"][0]["targets"] for j in PROMETHEUS["scrape_configs"]}
    assert jobs["tracker"] == [
        "tracker:9100",
        "tracker:9101",
    ]  # compose: PATROLI_METRICS_PORT 9100, 2 processes
    web_env = yaml.safe_load((REPO / "compose.yaml").read_text())["services"]["web"]["environment"]
    assert jobs["web"] == [f"web:{web_env['PATROLI_WEB_METRICS_PORT']}"]


def test_the_dashboard_has_each_figure_the_issue_names() -> None:
    titles = [p["title"].lower() for p in DASHBOARD["panels"]]
    for subject in (
        "ingest",
        "refusals by reason",
        "commit latency",
        "open incidents by tier",
        "within 10 s",
        "live clients",
    ):
        assert any(subject in t for t in titles), subject
    uid = yaml.safe_load((REPO / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())[
        "datasources"
    ][0]["uid"]
    assert {t["datasource"]["uid"] for p in DASHBOARD["panels"] for t in p["targets"]} == {uid}
    provider = yaml.safe_load((REPO / "deploy/grafana/provisioning/dashboards/patroli.yml").read_text())[
        "providers"
    ][0]
    grafana = yaml.safe_load((REPO / "compose.yaml").read_text())["services"]["grafana"]
    assert f"./deploy/grafana/dashboards:{provider['options']['path']}:ro" in grafana["volumes"]


def test_incident_metrics_count_open_incidents_by_level_and_acks_within_10_s(
    start_server: ServerFactory,
) -> None:
    port = free_port()
    server = start_server(mqtt=False, web_metrics_port=port)
    disp = server.client("dispatcher")
    ids = [
        disp.post("/api/v1/incidents", json=intake_body(caller=f"+62811{k:05d}")).json()["incident"][
            "incident_id"
        ]
        for k in range(3)
    ]
    with server.store.transaction() as tx:
        inc = dispatch_repo.get_incident(tx, ids[0])
        assert inc is not None
        dispatch_repo.update_incident(
            tx, ids[0], {}, {"acked_at": inc.received_at + timedelta(seconds=4), "level": inc.level + 1}
        )
        dispatch_repo.update_incident(tx, ids[1], {}, {"acked_at": inc.received_at + timedelta(seconds=25)})
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(httpx.get(f"http://127.0.0.1:{port}/metrics").text)
        for s in f.samples
        if s.name.startswith("patroli_incidents_")
    }
    first = str(inc.level)  # the ladder's first tier here (the Polres: no kecamatan polygons are loaded)
    assert samples[("patroli_incidents_open", (("level", first),))] == 2
    assert samples[("patroli_incidents_open", (("level", str(inc.level + 1)),))] == 1
    assert samples[("patroli_incidents_acked_recent", (("within_target", "true"),))] == 1
    assert samples[("patroli_incidents_acked_recent", (("within_target", "false"),))] == 1
