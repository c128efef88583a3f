"""One caller, one identity: numbers, addresses and handles normalised so history joins across channels.

A caller who rings 110 as "0812-3456-7890", texts from "+62 812 3456 7890" and is written down by a
call-taker as "6281234567890" is one person; their earlier contacts and false-report count must find each
other. Numbers go through `phonenumbers` (Google's libphonenumber) with Indonesia as the default region and
are stored in E.164 (`+6281234567890`). E-mail addresses and social handles are compared without case. What
cannot be read as a number (a withheld caller, a short code) is kept as written, trimmed: a contact is never
refused because its caller is odd.
"""

from __future__ import annotations

import phonenumbers

DEFAULT_REGION = "ID"

# Channels whose caller is a telephone number (fax arrives as fax-to-email but is identified by its number
# where the gateway gives one).
NUMBER_CHANNELS = frozenset({"phone", "sms", "fax"})


def normalize_number(raw: str, region: str = DEFAULT_REGION) -> str | None:
    """E.164 for anything `phonenumbers` accepts as a possible number, else None."""
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalize_caller(channel: str, raw: str) -> str:
    """The caller's identity as stored and joined on: E.164 for numbers, lower case for the rest."""
    text = raw.strip()
    if channel in NUMBER_CHANNELS:
        return normalize_number(text) or text
    if channel == "email":
        return text.lower()
    # Social handles: platforms treat them without case; a leading '@' is the same handle.
    return text.lower().removeprefix("@") if channel == "social" else text
