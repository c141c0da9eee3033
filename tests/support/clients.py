"""paho-mqtt test clients with bounded, event-driven waits (no sleeps for synchronisation)."""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

TIMEOUT = 5.0

V311 = mqtt.MQTTv311
V5 = mqtt.MQTTv5


@dataclass
class Received:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    dup: bool
    properties: Any


class TestClient:
    """A paho client driven by its network thread; every wait has a timeout and fails loudly."""

    __test__ = False

    def __init__(
        self,
        port: int,
        client_id: str = "",
        *,
        version: int = V311,
        clean: bool = True,
        keepalive: int = 60,
        session_expiry: int | None = None,
        will: tuple | None = None,
        username: str | None = None,
        password: str | None = None,
        connect_properties: Properties | None = None,
        host: str = "127.0.0.1",
        tls: dict | None = None,
        connect: bool = True,
        receive_maximum: int | None = None,
        manual_ack: bool = False,
        websocket: str | None = None,
    ) -> None:
        self.port = port
        self.host = host
        self.version = version
        kwargs: dict[str, Any] = {
            "client_id": client_id,
            "protocol": version,
            "callback_api_version": CallbackAPIVersion.VERSION2,
            "manual_ack": manual_ack,
        }
        if version != V5:
            kwargs["clean_session"] = clean
        if websocket is not None:  # MQTT over WebSockets at this path
            kwargs["transport"] = "websockets"
        self.client = mqtt.Client(**kwargs)
        if websocket is not None:
            self.client.ws_set_options(path=websocket)
        self.clean = clean
        self.keepalive = keepalive
        self.messages: queue.Queue[Received] = queue.Queue()
        self.connack: queue.Queue[tuple] = queue.Queue()
        self.subacks: queue.Queue[tuple] = queue.Queue()
        self.unsubacks: queue.Queue[tuple] = queue.Queue()
        self.disconnects: queue.Queue[Any] = queue.Queue()
        self.published: dict[int, threading.Event] = {}
        self._published_lock = threading.Lock()
        self._published_done: set[int] = set()
        self.ack_codes: dict[int, int] = {}  # message id -> PUBACK / PUBREC reason code (5.0)
        c = self.client
        c.on_connect = lambda cl, ud, flags, rc, props: self.connack.put((flags, rc, props))
        c.on_message = self._on_message
        c.on_subscribe = lambda cl, ud, mid, rcs, props: self.subacks.put((mid, rcs, props))
        c.on_unsubscribe = lambda cl, ud, mid, rcs, props: self.unsubacks.put((mid, rcs, props))
        c.on_disconnect = lambda cl, ud, flags, rc, props: self.disconnects.put(rc)
        c.on_publish = self._on_publish
        if username is not None:
            c.username_pw_set(username, password)
        if will is not None:
            topic, payload, qos, retain, *rest = will
            c.will_set(topic, payload, qos, retain, properties=rest[0] if rest else None)
        if tls is not None:
            c.tls_set(**tls)
        if receive_maximum is not None:
            c.max_inflight_messages_set(receive_maximum)
        self.session_expiry = session_expiry
        self.connect_properties = connect_properties
        if connect:
            self.connect()

    def connect(self, expect_rc: int = 0) -> tuple:
        props = self.connect_properties
        if self.version == V5:
            props = props or Properties(PacketTypes.CONNECT)
            if self.session_expiry is not None:
                props.SessionExpiryInterval = self.session_expiry
            self.client.connect(
                self.host, self.port, self.keepalive, clean_start=self.clean, properties=props
            )
        else:
            self.client.connect(self.host, self.port, self.keepalive)
        self.client.loop_start()
        flags, rc, props = self.connack.get(timeout=TIMEOUT)
        assert rc == expect_rc, f"CONNACK {rc!r}, expected {expect_rc}"
        self.flags = flags
        self.connack_properties = props
        return flags, rc, props

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self.messages.put(
            Received(
                msg.topic,
                bytes(msg.payload),
                msg.qos,
                bool(msg.retain),
                bool(msg.dup),
                getattr(msg, "properties", None),
            )
        )

    def _on_publish(self, client: Any, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        with self._published_lock:
            self.ack_codes[mid] = int(getattr(rc, "value", rc))
            self._published_done.add(mid)
            event = self.published.get(mid)
        if event is not None:
            event.set()

    def subscribe(self, topic: str | list, qos: int = 0, **kwargs: Any) -> list:
        if self.version == V5:
            options = mqtt.SubscribeOptions(
                qos=qos,
                noLocal=kwargs.pop("no_local", False),
                retainAsPublished=kwargs.pop("rap", False),
                retainHandling=kwargs.pop("retain_handling", 0),
            )
            result, mid = self.client.subscribe(topic, options=options, **kwargs)
        else:
            result, mid = self.client.subscribe(topic, qos)
        assert result == mqtt.MQTT_ERR_SUCCESS
        got_mid, codes, _ = self.subacks.get(timeout=TIMEOUT)
        assert got_mid == mid
        return [int(getattr(c, "value", c)) for c in codes]

    def unsubscribe(self, topic: str) -> list:
        _result, mid = self.client.unsubscribe(topic)
        got_mid, codes, _ = self.unsubacks.get(timeout=TIMEOUT)
        assert got_mid == mid
        return list(codes) if isinstance(codes, list) else [codes]

    def publish(
        self,
        topic: str,
        payload: bytes | str = b"",
        qos: int = 0,
        retain: bool = False,
        properties: Properties | None = None,
        wait: bool = True,
    ) -> mqtt.MQTTMessageInfo:
        info = self.client.publish(topic, payload, qos, retain, properties=properties)
        if wait:
            info.wait_for_publish(TIMEOUT)
            assert info.is_published(), f"no acknowledgement for {topic}"
        return info

    def expect(self, count: int = 1, timeout: float = TIMEOUT) -> list[Received]:
        return [self.messages.get(timeout=timeout) for _ in range(count)]

    def expect_one(self, timeout: float = TIMEOUT) -> Received:
        return self.messages.get(timeout=timeout)

    def expect_none(self, within: float = 0.3) -> None:
        """Nothing arrives. Only used after a later event has proved the broker processed
        everything before it (a PINGRESP/SUBACK round trip); `within` is a safety margin."""
        try:
            got = self.messages.get(timeout=within)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected message {got}")

    def sync(self) -> None:
        """A round trip through the broker: after it, the broker has processed what we sent
        before it and has written what it had to send us before its answer."""
        self.subscribe("$sync/none", 0)

    def disconnect(self, properties: Properties | None = None, reasoncode: Any = None) -> None:
        """Send DISCONNECT and wait until paho has written it and closed the socket: stopping the
        network thread earlier can leave the DISCONNECT unsent and the connection open."""
        self.client.disconnect(reasoncode=reasoncode, properties=properties)
        self.disconnects.get(timeout=TIMEOUT)
        self.client.loop_stop()

    def kill(self) -> None:
        """Drop the TCP connection without DISCONNECT (an abnormal disconnect)."""
        sock = self.client.socket()
        if isinstance(sock, socket.socket):
            sock.shutdown(socket.SHUT_RDWR)
        self.client.loop_stop()
        with contextlib.suppress(queue.Empty):
            self.disconnects.get(timeout=TIMEOUT)


def v5_props(packet_type: int = PacketTypes.PUBLISH, **values: Any) -> Properties:
    props = Properties(packet_type)
    for key, value in values.items():
        setattr(props, key, value)
    return props
