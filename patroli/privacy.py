"""Personal data out of the logs (Indonesia's personal data law, UU PDP 27/2022): a caller's number and a
complaint's text never appear in a log line. Where a line must say which caller it is about (so that an
operator can follow one caller across lines), it carries a keyed pseudonym: HMAC-SHA256 of the normalised
caller under a key from `PATROLI_PSEUDONYM_KEY_FILE`, cut to 16 hex digits. The same caller gives the same
pseudonym in every process that holds the key; without the key a pseudonym cannot be turned back into a number
by trying every number (Indonesian mobile numbers are few enough for that against a plain hash). Without the
setting each process draws a random key: pseudonyms then match within one process's run only.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import lru_cache
from typing import Any

from pydantic import ValidationError


@lru_cache(maxsize=1)
def _key() -> bytes:
    from patroli.settings import get_settings

    path = get_settings().pseudonym_key_file
    return path.read_bytes().strip() if path else secrets.token_bytes(32)


def pseudonym(value: str) -> str:
    """`c_` and 16 hex digits, stable for one caller under one key."""
    from patroli.callers import normalize_number

    text = value.strip()
    digest = hmac.new(_key(), (normalize_number(text) or text.lower()).encode(), hashlib.sha256).hexdigest()
    return f"c_{digest[:16]}"


def safe_reason(exc: Exception) -> str:
    """What was wrong, without the input that was wrong: pydantic's message quotes the offending values."""
    if isinstance(exc, ValidationError):
        parts = [
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
            for e in exc.errors(include_input=False)[:5]
        ]
        return "; ".join(parts)
    return str(exc)[:300]


def payload_summary(payload: bytes) -> dict[str, Any]:
    """For a refused incident message: its size and the caller's pseudonym, never its content."""
    import json

    summary: dict[str, Any] = {"payload_bytes": len(payload)}
    try:
        caller = json.loads(payload).get("caller")
    except (ValueError, AttributeError):
        return summary
    if isinstance(caller, str) and caller:
        summary["caller"] = pseudonym(caller)
    return summary
