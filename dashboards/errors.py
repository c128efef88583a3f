"""Stable error codes: every refusal the API answers carries `code` beside its English `detail`, and the
console translates the code (strings/*.json, `error.<code>`). A refusal with its own reason keeps it; others
get the code of their HTTP status."""

from __future__ import annotations

STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    422: "invalid",
}


def error_code(status: int) -> str:
    return STATUS_CODES.get(status, "server_error" if status >= 500 else "bad_request")
