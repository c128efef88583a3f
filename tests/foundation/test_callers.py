"""Caller identities: one person across the ways a number is written, and across channels."""

import pytest

from patroli.callers import normalize_caller
from patroli.incidents import IncidentIntake


@pytest.mark.parametrize(
    "raw",
    ["0812-3456-7890", "+62 812 3456 7890", "6281234567890", "(0812) 3456 7890", " 081234567890 "],
)
def test_indonesian_mobile_numbers_written_any_way_are_one_caller(raw: str) -> None:
    assert normalize_caller("phone", raw) == "+6281234567890"
    assert normalize_caller("sms", raw) == "+6281234567890"


def test_a_jakarta_landline_keeps_its_area_code() -> None:
    assert normalize_caller("phone", "021-345-6789") == "+62213456789"
    assert normalize_caller("phone", "(021) 3456789") == "+62213456789"


def test_a_number_that_is_not_one_is_kept_as_written_never_refused() -> None:
    assert normalize_caller("phone", "anonim") == "anonim"
    assert normalize_caller("phone", "110") == "110"


def test_addresses_and_handles_ignore_case() -> None:
    assert normalize_caller("email", " Warga@Mail.ID ") == "warga@mail.id"
    assert normalize_caller("social", "@Warga_Jakarta") == "warga_jakarta"


def test_intake_stores_the_normalised_caller() -> None:
    intake = IncidentIntake.model_validate(
        {"channel": "phone", "category": "information", "caller": "0812-3456-7890", "polres_code": "31.71"}
    )
    assert intake.caller == "+6281234567890"
