"""Reload of the whole config file on SIGHUP (`systemctl reload edge-gateway`).

How this works. The signal handler only asks (`Reloader.request`); one task does the work, so at
most one reload is in flight. Requests that arrive while one runs are coalesced into one more run
after it, which reads the file as it is on disk then: after a burst of SIGHUPs the gateway runs
the file as it was when the last reload started, which is the file as it is after the burst
("the latest wins"). Each run:

1. RELOADING=1 (with MONOTONIC_USEC=), then validates the file exactly as `edge-gateway run` does:
   in a child process (pydantic and every `check-config` check; gateway.config.load_in_child),
   awaited, so the event loop keeps serving clients meanwhile.
2. An invalid file changes nothing: one log line per problem (`FILE: key: problem`), STATUS= says
   "reload failed: ..." until a later reload succeeds, and the retained result topic says why.
3. A valid file is applied per component, in this order: broker (listeners, limits, auth files),
   relays, sensors, rules and schedules, bridges, diagnostics, Home Assistant discovery last (it
   announces what the others now run). Each part returns one `ComponentResult` per thing it owns
   (gateway.reload); a part that raises is reported `failed` with the reason and the rest go on.
   Settings that take effect only at start ([gateway] base_topic, state_dir, id, demo,
   clock_check; [web] but its allow_anonymous) are reported `needs restart` against the config
   the gateway started with, until a restart or until the file has them back as they were.
4. The new config becomes `gateway.config` (with the values it started with for the keys that
   need a restart, so that no part applies a new base topic or id); one log line per component;
   a retained JSON summary on `<base>/gateway/reload`; `$SYS/broker/reload/...` counters;
   READY=1 with the status line.

The broker, relays and bridges parts live in their own packages (`gateway.broker.reload`,
`gateway.relays.reload`, `gateway.bridge.reload`); while one of those is not installed, a change
in its section is reported `needs restart` (and the broker's password, SCRAM and ACL files are
still re-read, as SIGHUP always did).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.mqtt.enums import QoS
from gateway.reload import ComponentResult, Outcome

log = logging.getLogger(__name__)

Part = Callable[[Any, Any, Any], Awaitable[list[ComponentResult]]]

#: (module, function, the config sections it owns) in the order they are applied
PARTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("gateway.broker.reload", "reload_broker", ("broker", "auth")),
    ("gateway.relays.reload", "reload_relays", ("relays",)),
    ("gateway.sensors.reload", "reload_sensors", ("sensors",)),
    ("gateway.automation.reload", "reload_automation", ("rules", "schedules", "location")),
    ("gateway.bridge.reload", "reload_bridges", ("bridges",)),
    ("gateway.reloader", "reload_diagnostics", ()),
    ("gateway.reloader", "reload_discovery", ("homeassistant",)),
)
#: [gateway] keys that change live; every other key of it takes effect at the next start
LIVE_GATEWAY_KEYS = ("log_level",)
#: [web] keys the broker's part applies live (to new MQTT over WebSockets connections); every
#: other [web] key takes effect at the next start (the web listener is not reopened by a reload)
LIVE_WEB_KEYS = ("allow_anonymous",)


@dataclass
class ReloadReport:
    ok: bool
    file: str
    at: float  # wall-clock time the reload finished
    problems: list[str] = field(default_factory=list)  # why the file was refused
    warnings: list[str] = field(default_factory=list)
    components: list[ComponentResult] = field(default_factory=list)

    def payload(self) -> bytes:
        body = {
            "ok": self.ok,
            "file": self.file,
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.at)),
            "problems": self.problems,
            "warnings": self.warnings,
            "components": [c.as_dict() for c in self.components],
        }
        return json.dumps(body, separators=(",", ":")).encode()


class Reloader:
    """At most one reload in flight; requests during one are coalesced into one more run."""

    def __init__(self, gateway: Any, path: str) -> None:
        self.gateway = gateway
        self.path = path
        self.started_config = gateway.config  # what settings that need a restart compare with
        self.requested = 0
        self.runs = 0
        self.failed = 0
        self.last: ReloadReport | None = None
        self._again = False
        self._task: asyncio.Task | None = None
        self._waiters: list[tuple[int, asyncio.Future]] = []
        self._client: Any = None  # the in-process client the result is published with

    @property
    def coalesced(self) -> int:
        """Requests that were answered by a run another request started."""
        pending = 1 if self.busy and self._again else 0
        return self.requested - self.runs - pending

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    def request(self) -> None:
        """The SIGHUP handler: start a reload, or ask for one more after the one running."""
        self.requested += 1
        if self.busy:
            self._again = True
            return
        self._task = asyncio.create_task(self._run(), name="reload")

    async def reload(self) -> ReloadReport:
        """Request a reload and wait for the run that reads the file after this request."""
        future = asyncio.get_running_loop().create_future()
        self.request()
        self._waiters.append((self.requested, future))
        return await future

    async def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            self._again = False
            covers = self.requested  # every request so far is answered by this run
            self.runs += 1
            try:
                report = await self._reload_once()
            except Exception as exc:  # a bug: the gateway keeps running, loudly
                log.exception("reload: internal error")
                report = ReloadReport(False, self.path, time.time(), [f"internal error: {exc}"])
                self.gateway.notifier.ready(self.gateway.status_line())  # not left "reloading"
            self.last = report
            for entry in [w for w in self._waiters if w[0] <= covers]:
                self._waiters.remove(entry)
                if not entry[1].done():
                    entry[1].set_result(report)
            if not self._again:
                return

    async def _reload_once(self) -> ReloadReport:
        from gateway.config import ConfigError, load_in_child_async

        gateway = self.gateway
        gateway.notifier.reloading()
        gateway.notifier.status(f"reloading {self.path}")
        log.info("reload: validating %s", self.path)
        try:
            new, warnings = await load_in_child_async(self.path)
        except ConfigError as exc:
            return await self._refused(exc.problems)
        for warning in warnings:
            log.warning("%s: warning: %s", self.path, warning)
        results = await apply(gateway, gateway.config, new, self.started_config)
        gateway.config = effective(new, self.started_config)
        report = ReloadReport(True, self.path, time.time(), [], warnings, results)
        gateway.reload_note = None
        for r in results:
            line = "reload: %s %s: %s" + (" (%s)" if r.detail else "%s")
            level = logging.WARNING if r.outcome is Outcome.FAILED else logging.INFO
            log.log(level, line, r.kind, r.name, r.outcome, r.detail)
        changed = [r for r in results if r.outcome is not Outcome.UNCHANGED]
        log.info("reload: %s applied, %d of %d changed", self.path, len(changed), len(results))
        await self._publish(report)
        gateway.notifier.ready(gateway.status_line())
        return report

    async def _refused(self, problems: list[str]) -> ReloadReport:
        gateway = self.gateway
        self.failed += 1
        for problem in problems:
            log.error("%s: %s (reload refused; the running config stays)", self.path, problem)
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        gateway.reload_note = f"reload failed: {self.path}: {problems[0]}{more}"
        report = ReloadReport(False, self.path, time.time(), list(problems))
        await self._publish(report)
        gateway.notifier.ready(gateway.status_line())
        return report

    async def _publish(self, report: ReloadReport) -> None:
        """The retained summary, and the counters as retained `$SYS/broker/reload/...` topics."""
        gateway = self.gateway
        topic = f"{self.started_config.gateway.base_topic}/gateway/reload"
        try:
            if self._client is None:
                self._client = gateway.broker.local_client("gateway-reload")
            await self._client.publish(topic, report.payload(), qos=QoS.AT_LEAST_ONCE, retain=True)
            publish_sys(
                gateway.broker,
                {
                    "reload/requested": self.requested,
                    "reload/runs": self.runs,
                    "reload/failed": self.failed,
                    "reload/coalesced": self.coalesced,
                    "reload/pending": int(self._again),  # another run follows this one
                    "reload/last_ok": int(report.ok),
                },
            )
        except Exception:  # the reload itself is done; the journal has it
            log.exception("reload: publishing the result failed")


def publish_sys(broker: Any, values: dict[str, object]) -> None:
    """Retained `$SYS/broker/<name>` values, routed as the broker's own $SYS topics are."""
    from gateway.mqtt.packets import Publish

    now = broker.clock()
    for name, value in values.items():
        packet = Publish(f"$SYS/broker/{name}", str(value).encode(), QoS.AT_MOST_ONCE, True)
        broker.core.route_publish(packet, packet.topic, "$SYS", now)
    broker.flush()


def effective(new: Any, started: Any) -> Any:
    """The config the gateway runs after a reload of `new`: the file's, but for the keys that
    need a restart, which keep the values it started with (so that every part applies the new
    file under the base topic, state directory and id the running components use)."""
    gateway = started.gateway.model_copy(
        update={key: getattr(new.gateway, key) for key in LIVE_GATEWAY_KEYS}
    )
    web = started.web.model_copy(update={key: getattr(new.web, key) for key in LIVE_WEB_KEYS})
    return new.model_copy(update={"gateway": gateway, "web": web})


async def apply(gateway: Any, old: Any, new: Any, started: Any) -> list[ComponentResult]:
    """Every part in order; one that raises is `failed` and the others go on. The parts get the
    effective config (see `effective`); the keys it keeps as they were say `needs restart`."""
    results = gateway_section(gateway, new, started)
    web = _changed_keys(new.web, started.web, LIVE_WEB_KEYS)
    if web:
        results.append(
            ComponentResult(
                "web", ", ".join(web), Outcome.NEEDS_RESTART, "takes effect at next start"
            )
        )
    new = effective(new, started)
    for module, function, sections in PARTS:
        part = _part(module, function)
        try:
            if part is None:
                results += await _without_part(gateway, old, new, sections)
            else:
                results += await part(gateway, old, new)
        except Exception as exc:  # one component's failure leaves the others
            log.exception("reload: %s failed", function)
            kind = sections[0] if sections else function.removeprefix("reload_")
            results.append(ComponentResult(kind, kind, Outcome.FAILED, str(exc) or repr(exc)))
    return results


def _part(module: str, function: str) -> Part | None:
    """The component's reload function, or None while its module is not installed."""
    try:
        return getattr(importlib.import_module(module), function)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return None


async def _without_part(gateway: Any, old: Any, new: Any, sections: tuple[str, ...]) -> list:
    """A section whose component cannot reload itself yet: changes need a restart; the broker's
    password, SCRAM and ACL files are re-read as SIGHUP always did."""
    results = []
    if "auth" in sections:
        gateway.auth.reload()
        unreadable = gateway.broker.core.unreadable_subscriptions()
        results.append(
            ComponentResult(
                "auth",
                "files",
                Outcome.RECONFIGURED,
                f"files re-read; {unreadable} subscription(s) can deliver nothing now",
            )
        )
    for section in sections:
        if getattr(new, section) != getattr(old, section):
            results.append(
                ComponentResult(section, section, Outcome.NEEDS_RESTART, "not reloadable live")
            )
    return results


def gateway_section(gateway: Any, new: Any, started: Any) -> list[ComponentResult]:
    """[gateway]: log_level changes live; the other keys take effect at the next start."""
    results = []
    if new.gateway.log_level != gateway.config.gateway.log_level:
        logging.getLogger().setLevel(new.gateway.log_level.upper())
        results.append(
            ComponentResult("gateway", "log_level", Outcome.RECONFIGURED, new.gateway.log_level)
        )
    waiting = _changed_keys(new.gateway, started.gateway, LIVE_GATEWAY_KEYS)
    if waiting:
        results.append(
            ComponentResult(
                "gateway", ", ".join(waiting), Outcome.NEEDS_RESTART, "takes effect at next start"
            )
        )
    return results


def _changed_keys(new: Any, started: Any, live: tuple[str, ...]) -> list[str]:
    return [
        key
        for key in type(new).model_fields
        if key not in live and getattr(new, key) != getattr(started, key)
    ]


async def reload_diagnostics(gateway: Any, old: Any, new: Any) -> list[ComponentResult]:
    """The diagnostics read the running components (the same list a reload updates) and publish
    under the running base topic: nothing of theirs is in the file to change."""
    return [ComponentResult("diagnostics", "diagnostics", Outcome.UNCHANGED)]


async def reload_discovery(gateway: Any, old: Any, new: Any) -> list[ComponentResult]:
    """Home Assistant discovery: configs republished for what changed, cleared (empty retained
    message) for entities that are gone; all cleared when discovery is switched off."""
    from gateway.components import discovery_entities, insert_in_order
    from gateway.diagnostics import DiagnosticsPublisher
    from gateway.discovery import Discovery

    running = next((s for s in gateway.services if isinstance(s, Discovery)), None)
    diagnostics = next(s for s in gateway.services if isinstance(s, DiagnosticsPublisher))
    base = gateway.config.gateway.base_topic  # the running one
    if not new.homeassistant.discovery:
        if running is None:
            return []
        count = await running.clear()
        await running.stop()
        gateway.services.remove(running)
        await gateway.broker.close_local_client(running._client)
        return [ComponentResult("discovery", "homeassistant", Outcome.REMOVED, f"{count} cleared")]
    if running is None:
        device, entities = discovery_entities(new, gateway.services, diagnostics, base)
        discovery = Discovery(
            gateway.broker.local_client("discovery"),
            device,
            entities,
            prefix=new.homeassistant.prefix,
            on_birth=diagnostics.publish,
        )
        await discovery.start()
        insert_in_order(gateway.services, discovery)
        return [
            ComponentResult(
                "discovery", "homeassistant", Outcome.ADDED, f"{len(entities)} published"
            )
        ]
    device, entities = discovery_entities(new, gateway.services, diagnostics, base)
    published, cleared = await running.replace(device, entities, new.homeassistant.prefix)
    if not published and not cleared:
        return [ComponentResult("discovery", "homeassistant", Outcome.UNCHANGED)]
    return [
        ComponentResult(
            "discovery",
            "homeassistant",
            Outcome.RECONFIGURED,
            f"{len(published)} published, {len(cleared)} cleared",
        )
    ]
