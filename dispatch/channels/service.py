"""`patroli channels`: the 110 channel gateways in one process.

HTTP :PATROLI_CHANNELS_PORT  /sms /els /social     (dispatch.channels.webhooks)
SMTP :PATROLI_SMTP_PORT      e-mail, fax-to-email   (dispatch.channels.email)
IMAP PATROLI_IMAP_URL        polled, when set       (dispatch.channels.email.ImapPoller)
  → ChannelDesk → its own Dispatcher's intake (the store arbitrates between dispatchers, as for the web
    process's REST intake); unit positions come from fleet/+/position so offers go to the nearest unit
tick every 2 s: held caller locations attached to contacts that arrived by any channel (REST included)
"""

from __future__ import annotations

import logging
import threading
import time
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
import uvicorn

from dispatch.channels.desk import ChannelDesk, DeskLimits
from dispatch.channels.email import ImapPoller, MailIntake, SmtpServer
from dispatch.channels.webhooks import ChannelWebhooks
from dispatch.runner import MqttPublisher
from dispatch.service import build_dispatcher
from patroli import topics
from patroli.messages import PositionMessage
from patroli.mqtt import SessionOptions, make_client
from patroli.settings import Settings
from patroli.storage import Store

log = logging.getLogger("patroli.channels")
TICK_S = 2.0


def imap_connector(url: str) -> object:
    """imaps://user:password@host:993/INBOX → a callable returning a logged-in imap_tools MailBox."""
    from imap_tools import MailBox, MailBoxUnencrypted

    parts = urlsplit(url)
    folder = parts.path.lstrip("/") or "INBOX"
    user, password = unquote(parts.username or ""), unquote(parts.password or "")

    def connect() -> object:
        box = MailBox if parts.scheme == "imaps" else MailBoxUnencrypted
        port = parts.port or (993 if parts.scheme == "imaps" else 143)
        return box(parts.hostname or "127.0.0.1", port).login(user, password, folder)

    return connect


class ChannelService:
    def __init__(self, settings: Settings, store: Store, *, client_id: str = "patroli-channels") -> None:
        self.settings = settings
        self.store = store
        self.client, self._connect_args = make_client(settings, client_id, SessionOptions())
        self.dispatcher = build_dispatcher(
            settings, store, MqttPublisher(self.client), actor="channels", matching=False
        )  # stored here, offered by the dispatch process when it hears the incident event
        self.desk = ChannelDesk(
            store,
            self.dispatcher,
            DeskLimits(
                per_gateway=settings.channels_rate_gateway,
                per_caller=settings.channels_rate_caller,
                hold_s=settings.channels_hold_s,
            ),
        )
        self.webhooks = ChannelWebhooks(self.desk, max_body_bytes=settings.channels_max_body_bytes)
        fax = frozenset(a.strip().lower() for a in settings.fax_senders.split(",") if a.strip())
        self.mail = MailIntake(self.desk, settings.smtp_gateway, fax)
        self.smtp = SmtpServer(
            self.mail, settings.smtp_host, settings.smtp_port, max_bytes=settings.smtp_max_bytes
        )
        self.imap = (
            ImapPoller(self.mail, imap_connector(settings.imap_url), settings.imap_poll_s)  # type: ignore[arg-type]
            if settings.imap_url
            else None
        )
        self.server = uvicorn.Server(
            uvicorn.Config(
                self.webhooks.app,
                host=settings.channels_host,
                port=settings.channels_port,
                log_level="warning",
                access_log=False,
                lifespan="off",
            )
        )
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.client.on_connect = lambda c, *_a: c.subscribe(topics.POSITION_SUBSCRIPTION, qos=0)
        self.client.on_message = self._on_position

    def _on_position(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        try:
            self.dispatcher.on_position(PositionMessage.decode(msg.payload))
        except ValueError:
            log.warning("unreadable position message ignored", extra={"topic": msg.topic})

    def start(self, timeout: float = 15.0) -> None:
        self.dispatcher.load()
        self.client.connect_async(**self._connect_args)
        self.client.loop_start()
        self.smtp.start()
        self._threads = [
            threading.Thread(target=self.server.run, name="channels-http", daemon=True),
            threading.Thread(target=self._tick, name="channels-tick", daemon=True),
        ]
        for t in self._threads:
            t.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._threads[0].is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the channels' HTTP server did not start (port taken?)")
            time.sleep(0.02)

    def _tick(self) -> None:
        next_poll = 0.0
        while not self._stopping.wait(TICK_S):
            try:
                self.desk.attach_held()
                if self.imap is not None and time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + self.imap.interval_s
                    self.imap.poll_once()
            except Exception:  # a store outage or a mailbox error: try again next tick
                log.exception("channels tick failed")

    def stop(self) -> None:
        self._stopping.set()
        self.server.should_exit = True
        for t in self._threads:
            t.join(timeout=15)
        self.smtp.stop()
        self.client.disconnect()
        self.client.loop_stop()
