"""Who did something, as recorded in the audit log and wherever an actor is kept (an acknowledgement's
`acked_by`): always typed, so a person can never pass for a radio or a service, nor the other way round.

`user:<username>` a person logged in to the dashboards; `unit:<unit id>` a radio; `svc:<account>` one of the
project's services or its command line (`svc:patroli-dispatch`, `svc:patroli-web`, `svc:patroli-cli`);
`gw:<account>` a channel gateway; `anon:-` an unauthenticated caller (a refused login). The actor is part of
each entry's hash. Service names (`patroli-…`) are reserved: no user or unit may take one.
"""

from __future__ import annotations

import enum


class ActorKind(enum.StrEnum):
    USER = "user"
    UNIT = "unit"
    SERVICE = "svc"
    GATEWAY = "gw"
    ANONYMOUS = "anon"


def actor(kind: ActorKind, name: str) -> str:
    if not name or ":" in name:
        raise ValueError(f"an actor's name is non-empty and has no ':' ({name!r})")
    return f"{kind.value}:{name}"


def user(username: str) -> str:
    return actor(ActorKind.USER, username)


def unit(unit_id: str) -> str:
    return actor(ActorKind.UNIT, unit_id)


def service(account: str) -> str:
    return actor(ActorKind.SERVICE, account)


def gateway(account: str) -> str:
    return actor(ActorKind.GATEWAY, account)


ANONYMOUS = actor(ActorKind.ANONYMOUS, "-")
CLI = service("patroli-cli")
DEMO = service("patroli-demo")
DISPATCH = service("patroli-dispatch")
WEB = service("patroli-web")


def parse(value: str) -> tuple[ActorKind, str]:
    """The kind and name of a typed actor; ValueError for anything else."""
    kind, sep, name = value.partition(":")
    if not sep or not name:
        raise ValueError(f"not a typed actor: {value!r}")
    return ActorKind(kind), name
