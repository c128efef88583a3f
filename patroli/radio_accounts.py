"""Where a radio's MQTT account lives, and how it is issued, rotated and revoked.

Mosquitto's password file cannot bind a client id to an account: any valid username may connect with any client
id, and a client id in use is taken over, so one radio's password could knock the dispatcher off the broker. The
shipped broker therefore keeps radios in Mosquitto's dynamic-security plugin, where each radio's account carries
a fixed client id (its unit id): the same credentials with any other client id get CONNACK "not authorized".
The plugin defers every username it does not know to the password file and ACL, where the services stay
(trusted code, whose client ids are `<account>-<instance>`). The plugin re-reads nothing on SIGHUP, so radios are
managed at run time through its `$CONTROL/dynamic-security/v1` topic, as the `patroli-admin` account
(`PATROLI_MQTT_ADMIN_URL`). Without that setting (a development broker), radios go to the password file, and the
broker is told to reload it (`PATROLI_MQTT_RELOAD_COMMAND`).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from patroli import credentials, topics
from patroli.mqtt import make_client
from patroli.settings import Settings

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
ADMIN_USER = "patroli-admin"


class RadioAccounts(Protocol):
    def issue(self, unit_id: str, password: str) -> str:
        """Create or re-key the account and enable it; returns what to tell the operator."""
        ...

    def revoke(self, unit_id: str) -> str:
        """Refuse the account from now on (and drop its connection); returns what to tell the operator."""
        ...

    def issue_owntracks(self, user: str, device: str, password: str) -> str:
        """An OwnTracks phone's account (username = its OwnTracks user): it may publish only
        owntracks/<user>/<device> and read only its …/cmd; returns what to tell the operator."""
        ...


@dataclass
class PasswordFileAccounts:
    password_file: Path
    reload_command: str | None

    def issue(self, unit_id: str, password: str) -> str:
        credentials.set_password(self.password_file, unit_id, password)
        return f"written to {self.password_file}; {credentials.reload_broker(self.reload_command)}"

    def revoke(self, unit_id: str) -> str:
        credentials.remove_user(self.password_file, unit_id)
        return credentials.reload_broker(self.reload_command)

    def issue_owntracks(self, user: str, device: str, password: str) -> str:
        return self.issue(user, password)  # the ACL's owntracks patterns give it its topics


class DynsecError(RuntimeError):
    pass


def radio_acls(unit_id: str) -> list[dict[str, Any]]:
    """What the shipped ACL's `pattern` lines give a radio, spelled out for its own role."""
    send = [
        topics.nmea(unit_id),
        topics.status(unit_id),
        topics.online(unit_id),
        topics.ack(unit_id),
        topics.sos(unit_id),
    ]
    acls: list[dict[str, Any]] = [{"acltype": "publishClientSend", "topic": t, "allow": True} for t in send]
    for acltype in ("subscribePattern", "publishClientReceive"):
        acls.append({"acltype": acltype, "topic": topics.dispatch(unit_id), "allow": True})
    return acls


def owntracks_acls(user: str, device: str) -> list[dict[str, Any]]:
    """What the shipped ACL's owntracks `pattern` lines give an OwnTracks user, for one device."""
    cmd = topics.owntracks_cmd(user, device)
    return [
        {"acltype": "publishClientSend", "topic": f"owntracks/{user}/{device}", "allow": True},
        {"acltype": "subscribePattern", "topic": cmd, "allow": True},
        {"acltype": "publishClientReceive", "topic": cmd, "allow": True},
    ]


def owntracks_client_id(user: str, device: str) -> str:
    """The client id an OwnTracks app must use on the shipped broker (set it in the app's connection settings)."""
    return f"{user}-{device}"


class DynsecAccounts:
    """Radios in Mosquitto's dynamic-security plugin, each bound to its unit id as client id."""

    def __init__(self, settings: Settings, timeout_s: float = 10.0) -> None:
        if not settings.mqtt_admin_url:
            raise ValueError("PATROLI_MQTT_ADMIN_URL is not set")
        self.settings = settings.model_copy(update={"mqtt_url": settings.mqtt_admin_url})
        self.timeout_s = timeout_s

    def issue(self, unit_id: str, password: str) -> str:
        role = f"radio-{unit_id}"
        self.run(
            [{"command": "createRole", "rolename": role, "acls": radio_acls(unit_id)}],
            ok=frozenset({"already exists"}),
        )
        created = self.run(
            [
                {
                    "command": "createClient",
                    "username": unit_id,
                    "password": password,
                    "clientid": unit_id,
                    "roles": [{"rolename": role}],
                }
            ],
            ok=frozenset({"already exists"}),
        )
        if created:  # an existing account: a new password, enabled again (both end its current connection)
            self.run(
                [
                    {"command": "setClientPassword", "username": unit_id, "password": password},
                    {"command": "setClientId", "username": unit_id, "clientid": unit_id},
                    {"command": "enableClient", "username": unit_id},
                ]
            )
        return "broker account updated (dynamic security, client id bound to the unit id)"

    def revoke(self, unit_id: str) -> str:
        self.run([{"command": "disableClient", "username": unit_id}])
        return "broker account disabled (its connection is dropped)"

    def issue_owntracks(self, user: str, device: str, password: str) -> str:
        role, client_id = f"owntracks-{user}", owntracks_client_id(user, device)
        acls = owntracks_acls(user, device)
        if self.run(
            [{"command": "createRole", "rolename": role, "acls": acls}], ok=frozenset({"already exists"})
        ):
            # the user's role exists (another device of theirs): this device's topics are added to it
            self.run(
                [{"command": "addRoleACL", "rolename": role, **acl} for acl in acls],
                ok=frozenset({"already exists"}),
            )
        created = self.run(
            [
                {
                    "command": "createClient",
                    "username": user,
                    "password": password,
                    "clientid": client_id,
                    "roles": [{"rolename": role}],
                }
            ],
            ok=frozenset({"already exists"}),
        )
        if created:  # the user had an account: its newest device's password and client id
            self.run(
                [
                    {"command": "setClientPassword", "username": user, "password": password},
                    {"command": "setClientId", "username": user, "clientid": client_id},
                    {"command": "enableClient", "username": user},
                ]
            )
        return f"broker account updated (dynamic security, client id {client_id})"

    def run(self, commands: list[dict[str, Any]], ok: frozenset[str] = frozenset()) -> list[str]:
        """Send commands and wait for the answers; returns the tolerated errors (those matching `ok`)."""
        client, kwargs = make_client(self.settings, f"{ADMIN_USER}-{os.getpid()}")
        answered = threading.Event()
        subscribed = threading.Event()
        answers: list[dict[str, Any]] = []

        def on_message(_c: object, _u: object, msg: Any) -> None:
            answers.extend(json.loads(msg.payload).get("responses", []))
            answered.set()

        client.on_message = on_message
        client.on_subscribe = lambda *_a: subscribed.set()
        client.on_connect = lambda c, _u, _f, rc, _p: (
            None if rc.is_failure else c.subscribe(RESPONSE_TOPIC, 1)
        )
        client.connect(**kwargs)
        client.loop_start()
        try:
            if not subscribed.wait(self.timeout_s):
                raise DynsecError("no answer from the broker as patroli-admin (PATROLI_MQTT_ADMIN_URL)")
            client.publish(CONTROL_TOPIC, json.dumps({"commands": commands}), qos=1)
            if not answered.wait(self.timeout_s):
                raise DynsecError("the broker did not answer the dynamic-security commands")
        finally:
            client.loop_stop()
            client.disconnect()
        tolerated = []
        for answer in answers:
            error = answer.get("error")
            if error and any(o in error.lower() for o in ok):
                tolerated.append(error)
            elif error:
                raise DynsecError(f"{answer.get('command')}: {error}")
        return tolerated


def radio_accounts(settings: Settings, password_file: Path, reload_command: str | None) -> RadioAccounts:
    if settings.mqtt_admin_url:
        return DynsecAccounts(settings)
    return PasswordFileAccounts(password_file, reload_command or settings.mqtt_reload_command)


def initial_dynsec_config(admin_password: str) -> dict[str, Any]:
    """The plugin's starting file: only the admin account, which manages the radios at run time. Defaults deny
    everything to the plugin's own clients; each radio gets a role of exactly its topics."""
    digest, salt = credentials.pbkdf2_parts(admin_password)
    control = f"{CONTROL_TOPIC}/#"
    return {
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": False,
            "subscribe": False,
            "unsubscribe": True,
        },
        "clients": [
            {
                "username": ADMIN_USER,
                "textname": "Patroli 110 account administration",
                "password": digest,
                "salt": salt,
                "iterations": credentials.ITERATIONS,
                "roles": [{"rolename": "dynsec-admin"}],
            }
        ],
        "groups": [],
        "roles": [
            {
                "rolename": "dynsec-admin",
                "acls": [
                    {"acltype": "publishClientSend", "topic": CONTROL_TOPIC, "allow": True},
                    {"acltype": "publishClientReceive", "topic": control, "allow": True},
                    {"acltype": "subscribePattern", "topic": control, "allow": True},
                ],
            }
        ],
    }
