"""Every word the console shows comes from its string tables, Bahasa Indonesia first: every key the sources
use, every enum value the server sends (statuses, categories, types, dispositions, tiers, roles …) and every
error code the API answers with has an entry in `id` (and in `en`, the switch)."""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path

import pytest

from dashboards.api_officer import OfficerRefusal
from dashboards.auth import Role
from dashboards.errors import STATUS_CODES
from patroli.incidents import Category, Channel, Disposition, IncidentState, IncidentType, UnitStatus
from patroli.messages import AnswerKind
from patroli.models import PositionSource, RefusalReason, UnitKind

WEB = Path(__file__).resolve().parents[2] / "dashboards" / "web"
SOURCES = sorted((WEB / "src").rglob("*.js"))
TABLES = {lang: json.loads((WEB / "src" / "strings" / f"{lang}.json").read_text()) for lang in ("id", "en")}


def literal_keys() -> set[str]:
    """Keys passed as a literal to t("…") anywhere in the sources."""
    keys: set[str] = set()
    for src in SOURCES:
        keys |= set(re.findall(r"\bt\(\s*\"([a-z0-9_.]+)\"", src.read_text()))
    return keys


def client_error_codes() -> set[str]:
    """Codes the page sets itself: setError("…")."""
    codes: set[str] = set()
    for src in SOURCES:
        codes |= set(re.findall(r"setError\(\s*\"([a-z_]+)\"", src.read_text()))
    return codes


def enum_keys() -> set[str]:
    tiers = set(re.findall(r"^\s+(\w+): \{ colour", (WEB / "src" / "tiers.js").read_text(), re.M))
    assert {"polsek", "polres", "polda", "mabes"} <= tiers, (
        "a tier of the 110 ladder is missing from tiers.js"
    )
    kinds: dict[str, typing.Iterable[str]] = {
        "channel": [c.value for c in Channel],
        "category": [c.value for c in Category],
        "type": [t.value for t in IncidentType],
        "disposition": [d.value for d in Disposition],
        "status": [s.value for s in UnitStatus] + ["unknown"],
        "state": [s.value for s in IncidentState],
        "tier": tiers,
        "role": [r.value for r in Role],
        "kind": [k.value for k in UnitKind],
        "answer": typing.get_args(AnswerKind),
        # the officer's page adds its refusals and a refused position's reasons
        "error": [
            *STATUS_CODES.values(),
            "server_error",
            "network",
            *client_error_codes(),
            *OfficerRefusal,
            *RefusalReason,
        ],
        "do": typing.get_args(AnswerKind),  # the officer's page's answer buttons
        "source": [s.value for s in PositionSource],
        "conn": ["offline", "connecting", "live", "reconnecting"],
        "workspace": ["intake", "dispatch", "station", "replay", "trail", "reports"],
        "priority": ["1", "2", "3", "4", "5"],
    }
    return {f"{kind}.{v}" for kind, values in kinds.items() for v in values}


def test_the_sources_use_keys_at_all() -> None:
    assert len(SOURCES) >= 5
    assert len(literal_keys()) > 50  # the scan finds the calls; an empty scan would pass everything


def test_every_key_built_at_run_time_is_a_family_listed_here() -> None:
    """t("conn." + state) and the like: each such family must be one whose values this test enumerates."""
    families = {k[:-1] for k in literal_keys() if k.endswith(".")}
    for src in SOURCES:  # te("status", value) and the like
        families |= set(re.findall(r"\bte\(\s*\"([a-z_]+)\"", src.read_text()))
    families.discard("action")  # audit actions: the table has those the dispatcher writes today
    listed = {k.split(".")[0] for k in enum_keys()}
    assert families - listed == set()


@pytest.mark.parametrize("lang", ["id", "en"])
def test_every_string_the_page_shows_is_in_the_table(lang: str) -> None:
    keys = {k for k in literal_keys() if not k.endswith(".")} | enum_keys()
    missing = sorted(keys - TABLES[lang].keys())
    assert missing == [], f"missing from strings/{lang}.json: {missing}"


def test_both_languages_have_the_same_keys_and_no_empty_entry() -> None:
    assert TABLES["id"].keys() == TABLES["en"].keys()
    assert [k for k, v in TABLES["id"].items() if not v.strip()] == []
