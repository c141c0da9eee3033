"""An in-memory stand-in for the broker's in-process clients, for unit tests of components that
publish and subscribe (sensors, relays). It honours the parts of MQTT those components rely on:
filter matching with `+`/`#`, retained messages (stored, replaced, cleared by an empty payload, sent
on subscribe with retain=True), and in-order delivery. Integration tests use the real broker instead.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

from gateway.broker.local import LocalMessage, MessageHandler
from gateway.mqtt.enums import QoS
from gateway.mqtt.properties import NO_PROPERTIES, Properties


def _matches(topic_filter: str, topic: str) -> bool:
    f, t = topic_filter.split("/"), topic.split("/")
    if topic.startswith("$") and f[0] in ("+", "#"):
        return False
    for i, level in enumerate(f):
        if level == "#":
            return True
        if i >= len(t) or (level != "+" and level != t[i]):
            return False
    return len(f) == len(t)


@dataclass
class MemoryBus:
    retained: dict[str, LocalMessage] = field(default_factory=dict)
    log: list[LocalMessage] = field(default_factory=list)  # every published message, in order
    _subs: list[tuple[str, str, MessageHandler]] = field(default_factory=list)

    def client(self, client_id: str) -> MemoryClient:
        return MemoryClient(self, client_id)

    async def route(self, message: LocalMessage) -> None:
        self.log.append(message)
        if message.retain:
            if message.payload:
                self.retained[message.topic] = message
            else:
                self.retained.pop(message.topic, None)
        for _, topic_filter, handler in list(self._subs):
            if _matches(topic_filter, message.topic):
                await _call(handler, message)

    def published(self, topic: str) -> list[bytes]:
        return [m.payload for m in self.log if m.topic == topic]


@dataclass
class MemoryClient:
    bus: MemoryBus
    client_id: str

    async def publish(
        self,
        topic: str,
        payload: bytes | str,
        *,
        qos: int = 0,
        retain: bool = False,
        properties: Properties = NO_PROPERTIES,
    ) -> None:
        data = payload.encode() if isinstance(payload, str) else bytes(payload)
        await self.bus.route(LocalMessage(topic, data, QoS(qos), retain, properties))

    async def subscribe(self, topic_filter: str, handler: MessageHandler, *, qos: int = 1) -> None:
        self.bus._subs.append((self.client_id, topic_filter, handler))
        for message in list(self.bus.retained.values()):
            if _matches(topic_filter, message.topic):
                await _call(handler, message)

    async def unsubscribe(self, topic_filter: str) -> None:
        self.bus._subs = [
            s for s in self.bus._subs if not (s[0] == self.client_id and s[1] == topic_filter)
        ]


async def _call(handler: MessageHandler, message: LocalMessage) -> None:
    result = handler(message)
    if inspect.isawaitable(result):
        await result
