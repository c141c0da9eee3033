"""In-process clients: a session of the core attached to a queue instead of a socket.

How this works: `LocalLink` is both the `LocalClient` a component uses and the `Link` its session
sends through. Deliveries go into a bounded asyncio queue; one dispatcher task per client takes them
in order and calls the handler of every subscribed filter that matches the topic. Deliveries are
acknowledged as soon as they are queued (the queue is in the same process), so a local client never
holds a QoS 1/2 window open. Publishing goes through the core's normal routing, so subscribers cannot
tell a sensor's message from a LAN client's.

A LocalLink is the gateway itself, recognised by what it is: the `in_process` marker on this class
and on its session, which no network connection, listener name or client id can carry. The core
skips the ACL for it (the ACL file is about LAN clients; an empty anonymous block must not switch
off the relays), and a network CONNECT may not take its client id over.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from typing import TYPE_CHECKING

from gateway.broker.connection import Connection
from gateway.broker.local import LocalMessage, MessageHandler
from gateway.broker.message import Delivery
from gateway.logfields import log_fields
from gateway.mqtt.enums import QoS
from gateway.mqtt.packets import Packet, Publish, Subscribe, Subscription, Unsubscribe
from gateway.mqtt.properties import NO_PROPERTIES, Properties
from gateway.mqtt.topics import parse_shared, topic_matches, validate_topic_name
from gateway.ratelog import RateLimitedLog

if TYPE_CHECKING:
    from gateway.broker.server import Broker

log = logging.getLogger(__name__)
_drops = RateLimitedLog(log)  # a flood of drops: one line per cause per 10 s, the rest counted

LOCAL_QUEUE_LIMIT = 10_000


class LocalLink:
    acks_immediately = True
    in_process = True
    send_quota = 1 << 30
    version = 5
    connected = True
    closed = False
    username = None
    listener = "local"
    peer = "local"

    def __init__(self, broker: Broker, client_id: str, *, persistent: bool = False) -> None:
        self.broker = broker
        self.client_id = client_id
        self._handlers: dict[str, MessageHandler] = {}
        self._routes: dict[str, list[MessageHandler]] = {}  # topic -> handlers, cleared on change
        self._queue: asyncio.Queue[LocalMessage] = asyncio.Queue(LOCAL_QUEUE_LIMIT)
        self._task: asyncio.Task | None = None
        self._packet_id = 0
        core = broker.core
        now = broker.clock()
        session = core.sessions.get(client_id)
        if session is not None and session.link is not None and not session.in_process:
            old = session.link  # a network client took the name before we started: ours now
            assert isinstance(old, Connection)
            log.warning(
                "client %s disconnected: its client id is the gateway's own",
                client_id,
                extra=log_fields(client_id),
            )
            old.close()
            core.link_gone(old, session, now)
            session = core.sessions.get(client_id)
        if session is None or not persistent:
            from gateway.broker.session import Session

            if session is not None:
                core.end_session(session, now)
            session = Session(client_id, core.settings, core.stats, core.persistence)
            core.sessions[client_id] = session
        session.expiry_interval = 0xFFFFFFFF if persistent else 0
        session.in_process = True
        self.session = session
        session.attach(self, now)
        core.persistence.session_changed(session, now)

    # -- Link (what the session calls) -------------------------------------------------------

    def send_delivery(
        self, delivery: Delivery, packet_id: int | None, dup: bool, now: float
    ) -> bool:
        publish = delivery.to_publish(now, None)
        message = LocalMessage(
            publish.topic, publish.payload, QoS(delivery.qos), delivery.retain, publish.properties
        )
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self.broker.core.stats.drop("local_queue_full")
            _drops.log(
                logging.WARNING,
                "dropped_local_queue_full",
                "local client %s is not keeping up: message on %s dropped",
                self.client_id,
                publish.topic,
                extra=log_fields(self.client_id, topic=publish.topic),
            )
            return False
        self.broker.core.stats.publish_sent += 1
        return True

    def send_pubrel(self, packet_id: int) -> None:  # nothing is ever in flight
        pass

    def send(self, packet: Packet) -> None:  # SUBACK / UNSUBACK: results are read directly
        pass

    def close(self) -> None:
        pass

    # -- LocalClient (what components call) --------------------------------------------------

    async def publish(
        self,
        topic: str,
        payload: bytes | str,
        *,
        qos: int = 0,
        retain: bool = False,
        properties: Properties = NO_PROPERTIES,
    ) -> None:
        validate_topic_name(topic)
        data = payload.encode() if isinstance(payload, str) else bytes(payload)
        packet = Publish(topic, data, QoS(qos), retain, False, None, properties)
        broker = self.broker
        # the components that publish through a local client (sensors, relays, availability) publish
        # what the gateway regenerates at start-up: `own` keeps it off the SD card (the broker's
        # gateway.broker.message.Message.own)
        broker.core.route_publish(packet, topic, self.client_id, broker.clock(), own=True)
        broker.flush()

    async def subscribe(self, topic_filter: str, handler: MessageHandler, *, qos: int = 1) -> None:
        self._handlers[topic_filter] = handler
        self._routes.clear()
        if self._task is None:
            self._task = asyncio.create_task(self._dispatch(), name=f"local-{self.client_id}")
        self._packet_id = self._packet_id % 65535 + 1
        sub = Subscription(topic_filter, QoS(qos), retain_as_published=True)
        self.broker.core.subscribe(self, Subscribe(self._packet_id, (sub,)), self.broker.clock())
        self.broker.flush()

    async def unsubscribe(self, topic_filter: str) -> None:
        self._handlers.pop(topic_filter, None)
        self._routes.clear()
        self._packet_id = self._packet_id % 65535 + 1
        self.broker.core.unsubscribe(self, Unsubscribe(self._packet_id, (topic_filter,)))

    async def close_client(self) -> None:
        """Detach from the broker (a persistent session keeps queueing while detached)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        core = self.broker.core
        if self.session.link is self:
            self.session.detach(self.broker.clock())
            if self.session.expiry_interval == 0:
                core.end_session(self.session, self.broker.clock())
            else:
                core.stats.clients_disconnected += 1

    def _handlers_for(self, topic: str) -> list[MessageHandler]:
        handlers = self._routes.get(topic)
        if handlers is None:
            handlers = [
                h for f, h in self._handlers.items() if topic_matches(parse_shared(f)[1], topic)
            ]
            if len(self._routes) > 1024:
                self._routes.clear()
            self._routes[topic] = handlers
        return handlers

    async def _dispatch(self) -> None:
        while True:
            message = await self._queue.get()
            for handler in self._handlers_for(message.topic):
                try:
                    result = handler(message)
                    if inspect.isawaitable(result):
                        await result
                except Exception:  # a component's bug must not stop its deliveries
                    log.exception("handler of %s for %s failed", self.client_id, message.topic)
