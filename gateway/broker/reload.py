"""The broker's part of a reload: listeners, limits, the store's settings and the auth files.

How this works: `reload_broker` compares the running config with the new one and applies the
difference, one `ComponentResult` per thing changed:

- listeners (kind "listener"), by name: a new one opens, a removed one closes (its clients get
  DISCONNECT 0x8B on MQTT 5.0, a plain close on 3.1.1, as at a stop); one whose address, TLS mode
  or access policy changed is reopened, which closes its own connections only; one whose only change
  is its connection limit or its certificate, key or CA files (or their contents: a renewal
  replaces them under the same names) keeps its socket and its connections and serves the next
  TLS handshakes with the new certificate. A listener that cannot be opened is FAILED with the
  reason, and the listener it was to replace keeps running.
- the `[broker]` limits (kind "broker") and `[store]` settings (kind "store"), one row per key
  that changed, each applied as BROKER_KEYS / STORE_KEYS say: at once, for connections opened from
  now on (what a CONNACK announced stays with the connections that got it), or at the next restart
  (reported as "needs restart"; the running value stays).
- the password, SCRAM and ACL files (kind "auth"): re-read, as SIGHUP always did, from the paths
  the new config names (a file added, removed or changed); if one cannot be read, none changes.
"""

from __future__ import annotations

import dataclasses
from enum import Enum
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

from gateway.broker.auth import tls
from gateway.broker.listener_config import (
    auth_policies,
    listener_spec,
    reopen_key,
    tls_stamp,
)
from gateway.reload import ComponentResult, Outcome, diff_named

if TYPE_CHECKING:
    from gateway.app import Gateway
    from gateway.broker.server import ListenerSpec
    from gateway.config import GatewayConfig, ListenerConfig

LIVE = "at once"
NEW_CONNECTIONS = "for connections opened from now on"
RESTART = "restart"

# how each [broker] key takes a new value (a test checks that every key is here)
BROKER_KEYS = {
    "max_connections": LIVE,  # connections already open stay, even past a lower limit
    "max_connections_per_address": LIVE,
    "max_packet_size": NEW_CONNECTIONS,  # announced in CONNACK (5.0)
    "receive_maximum": NEW_CONNECTIONS,  # announced in CONNACK
    "max_inflight": NEW_CONNECTIONS,  # a connection's send window is set when it connects
    "max_queued_messages": LIVE,  # queues already longer keep what they hold
    "max_queued_bytes": LIVE,
    "queue_overflow": LIVE,
    "queue_qos0_offline": LIVE,
    "topic_alias_maximum": NEW_CONNECTIONS,  # announced in CONNACK
    "max_keepalive": NEW_CONNECTIONS,  # a keep alive is granted at CONNECT
    "max_topic_length": LIVE,
    "max_topic_levels": LIVE,
    "max_subscriptions_per_client": LIVE,  # subscriptions made stay; new ones are refused
    "max_client_id_length": LIVE,
    "max_session_expiry": NEW_CONNECTIONS,  # a session's expiry is granted at CONNECT
    "persistent_client_expiration": NEW_CONNECTIONS,
    "retain_available": NEW_CONNECTIONS,  # announced in CONNACK
    "max_retained_messages": LIVE,  # retained messages stored stay; new topics are refused
    "allow_zero_length_client_id": LIVE,
    "sys_interval": LIVE,
    "connect_timeout": LIVE,
    "tls_handshake_timeout": LIVE,
    "publish_rate_limit": LIVE,
    "publish_rate_burst": LIVE,
    "max_write_buffer": LIVE,
}
# how each [store] key takes a new value ("path" is the file in use: <state_dir>/broker.db when
# the key is not set)
STORE_KEYS = {
    "enabled": RESTART,  # the sessions and retained messages are restored from it at start
    "path": RESTART,
    "durability": LIVE,  # the next acknowledgements wait for their commit, or do not
    "commit_interval_ms": LIVE,  # the next group-commit window
    "max_bytes": LIVE,  # checked again at once
    "min_free_bytes": LIVE,
    "memory_window": RESTART,  # the sessions' queues were paged in with the old window
    "own_grace": LIVE,  # for the gateway's own messages held from now on
    "removed_bridge_expiry": LIVE,  # for bridges removed from now on (a retired one keeps its time)
}


async def reload_broker(
    gateway: Gateway, old: GatewayConfig, new: GatewayConfig
) -> list[ComponentResult]:
    """Apply `new` to the running broker. Each part is compared with what runs (not with `old`),
    so a change that failed or waits for a restart is tried or reported again next time."""
    results = _broker_settings(gateway, new)
    results += _store_settings(gateway, new)
    results += _auth_files(gateway, new)
    results += await _listeners(gateway, new)
    if not any(r.kind in ("broker", "store") for r in results):
        results.insert(0, ComponentResult("broker", "limits", Outcome.UNCHANGED))
    return results


# -- limits -------------------------------------------------------------------------------------


def _changed(keys: dict[str, str], old: Any, new: Any) -> list[tuple[str, Any, Any]]:
    return [
        (key, getattr(old, key), getattr(new, key))
        for key in keys
        if getattr(old, key) != getattr(new, key)
    ]


def _row(kind: str, key: str, before: Any, after: Any, how: str) -> ComponentResult:
    before, after = _shown(before), _shown(after)
    if how == RESTART:
        detail = f"{before} -> {after}: {before} stays in use until a restart"
        return ComponentResult(kind, key, Outcome.NEEDS_RESTART, detail)
    return ComponentResult(kind, key, Outcome.RECONFIGURED, f"{before} -> {after} ({how})")


def _shown(value: Any) -> str:
    """A value as the config file writes it (an enum by its value, true/false)."""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _broker_settings(gateway: Gateway, new: GatewayConfig) -> list:
    broker = gateway.broker
    admission = broker.admission
    running = SimpleNamespace(
        **{k: getattr(broker.settings, k) for k in BROKER_KEYS if k not in ADMISSION_KEYS},
        max_connections=admission.max_connections,
        max_connections_per_address=admission.max_per_address,
    )
    changed = _changed(BROKER_KEYS, running, new.broker)
    if not changed:
        return []
    settings = new.broker.settings(broker.settings.version)
    kept = {k: getattr(broker.settings, k) for k, _, _ in changed if BROKER_KEYS[k] == RESTART}
    broker.apply_settings(dataclasses.replace(settings, **kept) if kept else settings)
    admission.max_connections = new.broker.max_connections
    admission.max_per_address = new.broker.max_connections_per_address
    return [_row("broker", key, a, b, BROKER_KEYS[key]) for key, a, b in changed]


ADMISSION_KEYS = ("max_connections", "max_connections_per_address")


def _store_settings(gateway: Gateway, new: GatewayConfig) -> list:
    store = gateway.store
    wanted = SimpleNamespace(
        **{k: getattr(new.store, k) for k in STORE_KEYS if k != "path"},
        path=new.store.path or Path(new.gateway.state_dir) / "broker.db",
    )
    if store is None:  # no store running: only turning it on matters (at the next start)
        if wanted.enabled:
            return [_row("store", "enabled", False, True, RESTART)]
        return []
    running = _running_store(store.settings)
    changed = _changed(STORE_KEYS, running, wanted)
    if any(STORE_KEYS[k] == LIVE for k, _, _ in changed):
        settings = new.store.settings(new.gateway.state_dir)
        store.reconfigure(
            dataclasses.replace(
                settings, path=store.settings.path, memory_window=store.settings.memory_window
            )
        )
    return [_row("store", key, a, b, STORE_KEYS[key]) for key, a, b in changed]


def _running_store(settings: Any) -> SimpleNamespace:
    """The running store's StoreSettings under the names of the [store] keys."""
    interval = settings.commit_interval
    return SimpleNamespace(
        enabled=True,
        path=Path(settings.path),
        durability=settings.durability,
        commit_interval_ms=None if interval is None else round(interval * 1000),
        max_bytes=settings.max_bytes,
        min_free_bytes=settings.min_free_bytes,
        memory_window=settings.memory_window,
        own_grace=settings.own_grace,
        removed_bridge_expiry=settings.removed_bridge_expiry,
    )


# -- auth files ---------------------------------------------------------------------------------

AUTH_FILES = ("password_file", "scram_file", "acl_file")


def _auth_files(gateway: Gateway, new: GatewayConfig) -> list:
    auth = gateway.auth
    was = {
        "password_file": auth.password_path,
        "scram_file": auth.scram_path,
        "acl_file": auth.acl_path,
    }
    stamps = dict(auth.stamps)
    paths = {name: getattr(new.auth, name) for name in AUTH_FILES}
    try:
        auth.use_files(paths["password_file"], paths["acl_file"], paths["scram_file"])
    except Exception as exc:  # noqa: BLE001 - any file problem: keep the files in use
        detail = f"{exc}: the files in use stay (none is changed)"
        return [ComponentResult("auth", "files", Outcome.FAILED, detail)]
    rows = []
    for name in AUTH_FILES:
        before, now = was[name], paths[name]
        if before is None and now is None:
            continue
        if now is None:
            rows.append(ComponentResult("auth", name, Outcome.REMOVED, f"{before} no longer used"))
            continue
        outcome = Outcome.ADDED if before is None else Outcome.RECONFIGURED
        if before == now and stamps.get(name) == auth.stamps.get(name):
            outcome = Outcome.UNCHANGED
        rows.append(ComponentResult("auth", name, outcome, _auth_detail(gateway, name, now)))
    return rows


def _auth_detail(gateway: Gateway, name: str, path: Path) -> str:
    auth = gateway.auth
    if name == "password_file":
        return f"{path}: {len(auth.passwords or ())} user(s)"
    if name == "scram_file":
        return f"{path}: {len(auth.scram.usernames) if auth.scram else 0} user(s)"
    unreadable = gateway.broker.core.unreadable_subscriptions()
    return f"{path}: {unreadable} subscription(s) can deliver nothing now"


# -- listeners ----------------------------------------------------------------------------------


async def _listeners(gateway: Gateway, new: GatewayConfig) -> list:
    broker, auth = gateway.broker, gateway.auth
    policies = auth_policies(new)
    web = new.web.name if new.web.enabled and new.web.mqtt else None
    if web is not None:  # MQTT over WebSockets: new connections take the new policy
        auth.policies[web] = policies[web]
    running = [cast("ListenerConfig", spec.source) for spec in broker.specs.values()]
    diff = diff_named(running, new.broker.listeners)
    results = [_close(gateway, listener) for listener in diff.removed]
    for before, after in diff.changed:
        if reopen_key(before) == reopen_key(after):
            results.append(_update(gateway, before, after))
        else:
            results.append(await _reopen(gateway, after, policies))
    for listener in diff.unchanged:
        if _renewed(broker.specs[listener.name], listener):
            results.append(_update(gateway, listener, listener))
        else:
            results.append(ComponentResult("listener", listener.name, Outcome.UNCHANGED))
    for listener in diff.added:
        results.append(await _open(gateway, listener, policies))
    order = [listener.name for listener in new.broker.listeners]
    broker.specs = {n: broker.specs[n] for n in order + list(broker.specs) if n in broker.specs}
    return results


def _renewed(spec: ListenerSpec, listener: ListenerConfig) -> bool:
    """Whether the certificate, key or CA files now hold something else than was loaded."""
    return listener.tls is not None and tls_stamp(listener) != spec.tls_stamp


def _close(gateway: Gateway, listener: ListenerConfig) -> ComponentResult:
    closed = gateway.broker.close_listener(listener.name)
    gateway.auth.policies.pop(listener.name, None)
    return ComponentResult(
        "listener", listener.name, Outcome.REMOVED, f"{closed} connection(s) closed"
    )


def _no_ssl(listener: ListenerConfig) -> ComponentResult | None:
    if listener.tls is None or tls.ssl is not None:
        return None
    return ComponentResult(
        "listener",
        listener.name,
        Outcome.NEEDS_RESTART,
        "TLS needs Python's ssl module, which a gateway started without any TLS does not load",
    )


async def _open(gateway: Gateway, listener: ListenerConfig, policies: dict) -> ComponentResult:
    name = listener.name
    no_ssl = _no_ssl(listener)
    if no_ssl is not None:
        return no_ssl
    gateway.auth.policies[name] = policies[name]
    try:
        await gateway.broker.open_listener(listener_spec(listener))
    except (OSError, ValueError) as exc:
        gateway.auth.policies.pop(name, None)
        return _failed(name, f"not opened: {exc}")
    return ComponentResult("listener", name, Outcome.ADDED, gateway.broker.describe(name))


async def _reopen(gateway: Gateway, listener: ListenerConfig, policies: dict) -> ComponentResult:
    name, broker, auth = listener.name, gateway.broker, gateway.auth
    no_ssl = _no_ssl(listener)
    if no_ssl is not None:
        return no_ssl
    before, was = broker.describe(name), auth.policies.get(name)
    try:
        spec = listener_spec(listener)
        auth.policies[name] = policies[name]  # the old listener's clients are closed anyway
        closed = await broker.replace_listener(spec)
    except (OSError, ValueError) as exc:
        if was is not None:
            auth.policies[name] = was
        if name not in broker.specs:  # its old address could not be bound again either
            auth.policies.pop(name, None)
            return _failed(name, f"not reopened: {exc}; the old listener is closed too")
        return _failed(name, f"not reopened: {exc}; {before} keeps running")
    detail = f"{before} -> {broker.describe(name)}: {closed} connection(s) closed"
    return ComponentResult("listener", name, Outcome.RESTARTED, detail)


def _update(gateway: Gateway, before: ListenerConfig, after: ListenerConfig) -> ComponentResult:
    """A change the listener takes in place: its connection limit, its certificate files."""
    broker, name = gateway.broker, after.name
    spec = dataclasses.replace(broker.specs[name], source=after)
    changes = []
    if after.tls is not None and (before.tls != after.tls or _renewed(spec, after)):
        try:
            new_spec = listener_spec(after)
        except (OSError, ValueError) as exc:
            return _failed(name, f"certificate not reloaded: {exc}; the one in use stays")
        spec = dataclasses.replace(
            spec, ssl_context=new_spec.ssl_context, tls_stamp=new_spec.tls_stamp
        )
        kept = broker.admission.by_listener.get(name, 0)
        changes.append(f"certificate reloaded: new handshakes use it, {kept} connection(s) kept")
    if before.max_connections != after.max_connections:
        spec = dataclasses.replace(spec, max_connections=after.max_connections)
        changes.append(f"max_connections {before.max_connections} -> {after.max_connections}")
    broker.update_listener(spec)
    if not changes:  # written differently, the same in effect (allow_anonymous as its default)
        return ComponentResult("listener", name, Outcome.UNCHANGED)
    return ComponentResult("listener", name, Outcome.RECONFIGURED, "; ".join(changes))


def _failed(name: str, detail: str) -> ComponentResult:
    return ComponentResult("listener", name, Outcome.FAILED, detail)
