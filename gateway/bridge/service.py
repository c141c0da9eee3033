"""One cloud bridge, running: connect with backoff, watch the link, publish metrics.

How this works: `_run` is the bridge's one task: connect (TCP + TLS + CONNACK, bounded), subscribe
the inbound filters, publish the retained `online` status, bring the forwarder up (which resends
and drains at once: the reconnect itself starts the drain), then wait until the link is lost; then
the forwarder goes down (the session queues) and the next attempt waits a backoff delay (full
jitter, capped). `_tick` runs every `TICK` seconds while the bridge lives: paho's keepalive, the
ack-timeout check (a stuck link is torn down, never reported as connected), the rate-limit refill,
the age purge, SAS token renewal and the metrics.

Metrics: `<base>/bridge/<name>/<key>` (local, retained, published when they change) and
`$SYS/broker/bridge/<name>/<key>`:
state, connected, queue/messages, queue/bytes, queue/oldest_age, inflight, messages/sent,
messages/acked, messages/resent, messages/received, messages/refused, messages/rejected,
messages/dropped (and /<reason>), connects, disconnects, stuck, last_error.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.bridge.backoff import Backoff
from gateway.bridge.config import BridgeConfig
from gateway.bridge.forwarder import BridgeCounters, Forwarder
from gateway.broker.message import Delivery
from gateway.logfields import fields
from gateway.mqtt.enums import QoS
from gateway.mqtt.packets import Publish
from gateway.mqtt.properties import Properties

if TYPE_CHECKING:
    from gateway.bridge.cloud import Ack, CloudClient
    from gateway.broker.server import Broker

log = logging.getLogger(__name__)

TICK = 0.25  # seconds between timer runs


class LinkState(str, Enum):
    STARTING = "starting"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    BACKOFF = "backoff"  # waiting before the next attempt
    STOPPED = "stopped"


class BridgeService:
    def __init__(
        self,
        cfg: BridgeConfig,
        broker: Broker,
        gateway_id: str,
        base_topic: str,
        *,
        rand: Callable[[], float] = random.random,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.broker = broker
        self.gateway_id = gateway_id
        self.metrics_prefix = f"{base_topic}/bridge/{cfg.name}"
        self.counters = BridgeCounters(broker.core.stats, cfg.name)
        self.backoff = Backoff(cfg.backoff_initial, cfg.backoff_max, rand=rand)
        self.state = LinkState.STARTING
        self.last_error = ""
        self.status_topic = cfg.effective_status_topic(gateway_id)
        self.forwarder: Forwarder | None = None
        self.cloud: CloudClient | None = None
        self.last_tick = broker.clock()
        self._wall = wall
        if cfg.azure is not None:  # imported here: hashlib and hmac load OpenSSL's libcrypto
            from gateway.bridge.azure import SasRenewal
        self._sas = (
            None
            if cfg.azure is None
            else SasRenewal(
                cfg.host, cfg.azure.device_id, "", cfg.azure.token_ttl, cfg.azure.renew_before
            )
        )
        self._lost: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []
        self._next_metrics = 0.0
        self._next_refill: float | None = None
        self._boot = f"{int(wall() * 1000):x}"
        self._published: dict[str, bytes] = {}  # metric key -> the payload last published
        self.heartbeat_check: Callable[[], object] | None = None  # in the gateway's checks

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        from gateway.bridge.cloud import CloudClient, CloudSettings

        cfg = self.cfg
        context = None
        if cfg.tls.enabled:  # gateway.bridge.tls needs ssl, which a gateway without TLS never loads
            from gateway.bridge.tls import client_context

            context = client_context(cfg)
        self.forwarder = Forwarder(cfg, self.broker, self.counters, self._message_id)
        if cfg.queue.overflow == "refuse":
            self.broker.core.hooks.publish_guards.append(self.forwarder.refuse_guard)
        will = None
        if self.status_topic:
            will = (self.status_topic, b"offline", 1, cfg.rules.retain)
        settings = CloudSettings(
            cfg.host,
            cfg.port,
            cfg.effective_client_id(self.gateway_id),
            cfg.protocol == "5.0",
            cfg.keepalive,
            cfg.clean_start,
            cfg.session_expiry,
            context,
            cfg.connect_timeout,
            will,
            cfg.tls.server_name or cfg.host,
            cfg.tls.enabled and cfg.tls.cert_file is not None,
        )
        self.cloud = CloudClient(settings, self, self._credentials)
        self._tasks = [
            asyncio.create_task(self._run(), name=f"bridge-{self.name}"),
            asyncio.create_task(self._timer(), name=f"bridge-{self.name}-timer"),
        ]
        log.info(
            "bridge %s: to %s:%d as %s (profile %s, MQTT %s, %d mapping(s))",
            self.name,
            cfg.host,
            cfg.port,
            settings.client_id,
            cfg.profile,
            cfg.protocol,
            len(cfg.topics),
            extra=fields(bridge=self.name),
        )

    async def stop(self) -> None:
        """Publish `offline`, DISCONNECT, stop; the session keeps queueing (and on disk)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        cloud, forwarder = self.cloud, self.forwarder
        if cloud is not None and cloud.connected and self.status_topic:
            cloud.publish(self.status_topic, b"offline", 1, self.cfg.rules.retain)
        if cloud is not None:
            await cloud.disconnect()
        if forwarder is not None:
            forwarder.down(self.broker.clock())
            guards = self.broker.core.hooks.publish_guards
            if forwarder.refuse_guard in guards:
                guards.remove(forwarder.refuse_guard)
        self._set_state(LinkState.STOPPED)
        log.info(
            "bridge %s: stopped with %d message(s) queued",
            self.name,
            self.queued(),
            extra=fields(bridge=self.name),
        )

    def queued(self) -> int:
        """The messages its session holds for the cloud: queued (in memory or on disk only) and
        in flight."""
        forwarder = self.forwarder
        if forwarder is None:
            return 0
        return forwarder.session.queued_count + len(forwarder.session.inflight)

    def retire(self, expiry: int) -> None:
        """After `stop`, for a bridge removed by a reload: its session stops queueing (what it
        holds stays, for a bridge of the same name, for `expiry` seconds), its retained metric
        topics are cleared."""
        if self.forwarder is not None:
            self.forwarder.release(self.broker.clock(), expiry)  # logs what it keeps, how long
        self._publish_values(dict.fromkeys(self._published, ""))

    def alive(self) -> bool:
        """For the watchdog: the tasks run and the timer ticked recently."""
        return all(not t.done() for t in self._tasks) and self.broker.clock() - self.last_tick < 10

    # -- connecting --------------------------------------------------------------------------

    def _credentials(self) -> tuple[str | None, str | None]:
        """Worker thread, at every connect: the password file is read afresh (rotation)."""
        cfg = self.cfg
        if cfg.azure is not None and self._sas is not None:
            self._sas.device_key_b64 = Path(cfg.azure.device_key_file).read_text().strip()
            token = self._sas.issue(self._wall())
            from gateway.bridge.azure import username as azure_username

            return azure_username(cfg.host, cfg.azure.device_id), token
        password = None
        if cfg.password_file is not None:
            password = Path(cfg.password_file).read_text().rstrip("\r\n")
        return cfg.username, password

    async def _run(self) -> None:
        from gateway.bridge.cloud import ConnectFailed

        assert self.cloud is not None and self.forwarder is not None
        while True:
            self._set_state(LinkState.CONNECTING)
            try:
                await self._connect_once()
            except ConnectFailed as exc:
                self.last_error = str(exc)
                log.error(
                    "bridge %s: %s:%d: %s",
                    self.name,
                    self.cfg.host,
                    self.cfg.port,
                    exc,
                    extra=fields(bridge=self.name),
                )
            except OSError as exc:  # e.g. an unreadable password file
                self.last_error = str(exc)
                log.error("bridge %s: %s", self.name, exc, extra=fields(bridge=self.name))
            except Exception as exc:  # a bug: make it loud, drop the link, keep the bridge alive
                self.last_error = f"internal error: {exc!r}"
                log.exception(
                    "bridge %s: connection attempt failed",
                    self.name,
                    extra=fields(bridge=self.name),
                )
                self.cloud.abort()
                self.forwarder.down(self.broker.clock())
            delay = self.backoff.next_delay()
            self._set_state(LinkState.BACKOFF)
            log.info(
                "bridge %s: next attempt in %.1f s (attempt %d)",
                self.name,
                delay,
                self.backoff.attempts,
                extra=fields(bridge=self.name),
            )
            await asyncio.sleep(delay)

    async def _connect_once(self) -> None:
        cloud, forwarder = self.cloud, self.forwarder
        assert cloud is not None and forwarder is not None
        self._lost = asyncio.Event()
        present = await cloud.connect()
        now = self.broker.clock()
        self.counters.connects += 1
        self.backoff.connected(now)
        if not present:  # paho dropped its copies: the session resends what is in flight
            forwarder.forget_cloud_state()
        cloud.subscribe([(f, int(q)) for f, q in forwarder.mapper.remote_subscriptions()])
        if self.status_topic:
            cloud.publish(self.status_topic, b"online", 1, self.cfg.rules.retain)
        log.info(
            "bridge %s: connected to %s:%d (session present %s); %d in flight, %d queued",
            self.name,
            self.cfg.host,
            self.cfg.port,
            present,
            len(forwarder.session.inflight),
            forwarder.session.queued_count,
            extra=fields(bridge=self.name),
        )
        self._set_state(LinkState.CONNECTED)
        forwarder.up(cloud, now)
        await self._lost.wait()

    # -- CloudEvents (paho callbacks on the loop) --------------------------------------------

    def cloud_disconnected(self, reason: str) -> None:
        now = self.broker.clock()
        self.counters.disconnects += 1
        self.last_error = f"connection lost: {reason}"
        log.warning(
            "bridge %s: connection to %s:%d lost (%s); queueing",
            self.name,
            self.cfg.host,
            self.cfg.port,
            reason,
            extra=fields(bridge=self.name),
        )
        self.backoff.disconnected(now)
        if self.forwarder is not None:
            self.forwarder.down(now)
        if self._lost is not None:
            self._lost.set()

    def cloud_acked(self, acks: list[Ack]) -> None:
        if self.forwarder is not None:
            self.forwarder.acked(acks, self.broker.clock())

    def cloud_message(
        self, topic: str, payload: bytes, qos: int, retain: bool, properties: Properties
    ) -> None:
        if self.forwarder is not None:
            self.forwarder.inbound(topic, payload, qos, retain, properties, self.broker.clock())

    # -- the timer ---------------------------------------------------------------------------

    async def _timer(self) -> None:
        while True:
            try:
                self._tick(self.broker.clock())
            except Exception:  # a bug: keep the bridge's timer alive and make it loud
                log.exception("bridge %s: timer failed", self.name, extra=fields(bridge=self.name))
            else:
                self.last_tick = self.broker.clock()
            await asyncio.sleep(TICK)

    def _tick(self, now: float) -> None:
        cloud, forwarder = self.cloud, self.forwarder
        assert cloud is not None and forwarder is not None
        cloud.misc()
        if self.state is LinkState.CONNECTED and forwarder.health.stuck(now):
            self.counters.stuck += 1
            log.error(
                "bridge %s: no acknowledgement from %s:%d for %g s: link torn down",
                self.name,
                self.cfg.host,
                self.cfg.port,
                self.cfg.ack_timeout,
                extra=fields(bridge=self.name),
            )
            self.last_error = f"stuck: no acknowledgement for {self.cfg.ack_timeout:g} s"
            cloud.abort()
        if (
            self._sas is not None
            and self.state is LinkState.CONNECTED
            and self._sas.due(self._wall())
        ):
            log.info(
                "bridge %s: SAS token expires soon: reconnecting with a new one",
                self.name,
                extra=fields(bridge=self.name),
            )
            cloud.abort()
        forwarder.refill(now)
        forwarder.purge_old(now)
        if now >= self._next_metrics:
            self._next_metrics = now + self.cfg.metrics_interval
            self.publish_metrics(now)

    # -- metrics -----------------------------------------------------------------------------

    def _set_state(self, state: LinkState) -> None:
        if state is not self.state:
            self.state = state
            self._publish_values(
                {"state": state.value, "connected": int(state is LinkState.CONNECTED)}
            )

    def metrics(self, now: float) -> dict[str, object]:
        forwarder = self.forwarder
        c = self.counters
        values: dict[str, object] = {
            "state": self.state.value,
            "connected": int(self.state is LinkState.CONNECTED),
        }
        if forwarder is not None:
            session = forwarder.session
            values.update(
                {
                    "queue/messages": session.queued_count,
                    "queue/bytes": session.queued_bytes,
                    "queue/oldest_age": round(forwarder.oldest_age(now), 1),
                    "inflight": len(session.inflight),
                }
            )
        values.update(
            {
                "messages/sent": c.sent,
                "messages/acked": c.acked,
                "messages/resent": c.resent,
                "messages/received": c.received,
                "messages/refused": c.refused,
                "messages/rejected": c.rejected,
                "messages/dropped": c.dropped_total,
                "connects": c.connects,
                "disconnects": c.disconnects,
                "stuck": c.stuck,
                "last_error": self.last_error,
            }
        )
        values.update({f"messages/dropped/{k}": v for k, v in c.dropped.items()})
        return values

    def summary(self) -> str:
        """For the service's STATUS= line: link state and backlog."""
        queued = 0 if self.forwarder is None else self.forwarder.session.queued_count
        return f"bridge {self.name} {self.state.value} ({queued} queued)"

    def publish_metrics(self, now: float) -> None:
        self._publish_values(self.metrics(now))

    def _publish_values(self, values: dict[str, object]) -> None:
        """Retained, and only the values that changed; published as the gateway's own state, so the
        store keeps them in memory only (an idle bridge republishing them wrote the SD card every
        interval, and every changed counter did)."""
        core = self.broker.core
        now = self.broker.clock()
        origin = self.forwarder.client_id if self.forwarder else f"$bridge/{self.name}"
        published = self._published
        for key, value in values.items():
            payload = str(value).encode()
            if published.get(key) == payload:
                continue
            published[key] = payload
            for topic in (f"{self.metrics_prefix}/{key}", f"$SYS/broker/bridge/{self.name}/{key}"):
                core.route_publish(
                    Publish(topic, payload, QoS.AT_MOST_ONCE, True), topic, origin, now, own=True
                )
        self.broker.flush()

    def _message_id(self, delivery: Delivery) -> str:
        """A stable id per message for the cloud to drop duplicates: the store's row id when the
        message is on disk (the same after a restart), else unique to this run."""
        message = delivery.message
        store_id = getattr(message, "store_id", 0)
        if store_id:
            return f"{self.gateway_id}-s{store_id}"
        return f"{self.gateway_id}-{self._boot}-{message.seq}"


async def start_bridges(gateway: Any) -> list[BridgeService]:
    """Start every configured bridge; each gets a watchdog heartbeat (its timer must tick)."""
    section = gateway.config.gateway
    return [
        await start_bridge(gateway, cfg, gateway_id=section.id, base_topic=section.base_topic)
        for cfg in gateway.config.bridges
    ]


async def start_bridge(
    gateway: Any,
    cfg: BridgeConfig,
    *,
    gateway_id: str,
    base_topic: str,
    counters: BridgeCounters | None = None,
) -> BridgeService:
    """Start one bridge with its watchdog heartbeat; `counters` (a reload's: the old service's)
    carry its metrics on."""
    bridge = BridgeService(cfg, gateway.broker, gateway_id, base_topic)
    if counters is not None:
        bridge.counters = counters
    await bridge.start()
    beat = gateway.watchdog.register(f"bridge-{cfg.name}")

    def check() -> None:
        if bridge.alive():
            beat.beat()

    bridge.heartbeat_check = check
    gateway.heartbeat_checks.append(check)
    return bridge


async def stop_bridge(gateway: Any, bridge: BridgeService, *, removed: bool) -> int:
    """A reload's stop of one bridge: out of the services and the watchdog. `removed`: its
    session stops queueing (what it holds is kept) and its metric topics are cleared. Returns
    the messages it holds."""
    await bridge.stop()
    if bridge in gateway.services:
        gateway.services.remove(bridge)
    if bridge.heartbeat_check in gateway.heartbeat_checks:
        gateway.heartbeat_checks.remove(bridge.heartbeat_check)
    gateway.watchdog.unregister(f"bridge-{bridge.name}")
    if removed:
        from gateway.bridge.orphans import expiry_of

        bridge.retire(expiry_of(gateway))
    return bridge.queued()
