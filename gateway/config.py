"""The gateway's configuration: one TOML file, one validated tree (pydantic v2, extra="forbid").

`load(path)` returns a frozen `GatewayConfig` or raises `ConfigError` listing every problem as
`FILE: key.path: what is wrong`, so a bad config stops start-up with a message an operator can act on.
`config/gateway.toml` documents every key; a test loads it.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Literal

from gateway.automation.config import (
    LocationConfig,
    RuleList,
    ScheduleList,
    check_rules,
    check_schedules,
)
from gateway.bridge.config import BridgeList
from gateway.broker.settings import NEVER_EXPIRES, BrokerSettings, QueueOverflow
from gateway.errors import GatewayError
from gateway.modelbase import BaseModel, ConfigDict, Field, ValidationError, model_validator
from gateway.relays.config import RelayList
from gateway.sensors.config import HomeAssistantConfig, SensorList
from gateway.web.config import WebConfig, loopback_host


class ConfigError(GatewayError, ValueError):
    """The config file cannot be used; `problems` lists each one with its key."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(f"{path}: {p}" for p in problems))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsConfig(_Model):
    certfile: Path
    keyfile: Path
    cafile: Path | None = None  # CA that signs client certificates
    require_certificate: bool = False  # mTLS: refuse clients without a certificate from cafile
    use_identity_as_username: Literal["none", "cn", "san"] = "none"
    min_version: Literal["1.2", "1.3"] = "1.2"
    ciphers: str | None = None  # OpenSSL cipher string for TLS 1.2; None = Python's defaults

    @model_validator(mode="after")
    def _ca_needed(self) -> TlsConfig:
        if self.require_certificate and self.cafile is None:
            raise ValueError("require_certificate needs cafile (the CA that signs client certs)")
        return self


class ListenerConfig(_Model):
    name: str = "default"
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=0, le=65535)
    unix_path: Path | None = None  # a Unix socket instead of TCP
    tls: TlsConfig | None = None
    allow_anonymous: bool | None = None  # None: only on loopback / Unix listeners
    max_connections: int = Field(0, ge=0)  # 0 = only the broker-wide limit applies

    @property
    def is_loopback(self) -> bool:
        return self.unix_path is not None or loopback_host(self.host)

    @property
    def anonymous_allowed(self) -> bool:
        return self.is_loopback if self.allow_anonymous is None else self.allow_anonymous


class BrokerConfig(_Model):
    listeners: list[ListenerConfig] = Field(default_factory=lambda: [ListenerConfig()])
    max_connections: int = Field(1000, ge=1)
    max_connections_per_address: int = Field(100, ge=0)  # 0 = no per-address limit
    max_packet_size: int = Field(1_048_576, ge=64, le=268_435_460)
    receive_maximum: int = Field(64, ge=1, le=65535)
    max_inflight: int = Field(32, ge=1, le=65535)
    max_queued_messages: int = Field(1000, ge=1)
    max_queued_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    queue_overflow: QueueOverflow = QueueOverflow.DROP_NEW
    queue_qos0_offline: bool = False
    topic_alias_maximum: int = Field(16, ge=0, le=65535)
    max_keepalive: int = Field(65535, ge=1, le=65535)
    max_topic_length: int = Field(1024, ge=1, le=65535)
    max_topic_levels: int = Field(32, ge=1)
    max_subscriptions_per_client: int = Field(256, ge=1)
    max_client_id_length: int = Field(256, ge=1, le=65535)
    max_session_expiry: int = Field(NEVER_EXPIRES, ge=0, le=NEVER_EXPIRES)
    persistent_client_expiration: int = Field(NEVER_EXPIRES, ge=0, le=NEVER_EXPIRES)
    retain_available: bool = True
    max_retained_messages: int = Field(10_000, ge=0)
    allow_zero_length_client_id: bool = True
    sys_interval: float = Field(10.0, ge=0)
    connect_timeout: float = Field(10.0, gt=0)
    tls_handshake_timeout: float = Field(10.0, gt=0)
    publish_rate_limit: float = Field(0.0, ge=0)
    publish_rate_burst: int = Field(100, ge=1)
    max_write_buffer: int = Field(4 * 1024 * 1024, ge=65536)

    @model_validator(mode="after")
    def _unique_listeners(self) -> BrokerConfig:
        names = [listener.name for listener in self.listeners]
        if len(names) != len(set(names)):
            raise ValueError(f"listener names must be unique, got {names}")
        return self

    def settings(self, version: str) -> BrokerSettings:
        fields = {
            name: getattr(self, name)
            for name in BrokerSettings.__dataclass_fields__
            if name in type(self).model_fields
        }
        return BrokerSettings(**fields, version=version)


class AuthConfig(_Model):
    password_file: Path | None = None  # Mosquitto format ($7$ PBKDF2-SHA512)
    acl_file: Path | None = None  # Mosquitto format
    scram_file: Path | None = None  # SCRAM-SHA-256 credentials for MQTT 5 enhanced auth


GATEWAY_ID_FILE = Path("/etc/edge-gateway/gateway-id")  # written by first-boot provisioning


def default_gateway_id(id_file: Path = GATEWAY_ID_FILE) -> str:
    """The provisioned id when there is one, else the host name made topic-safe."""
    try:
        provisioned = id_file.read_text(encoding="utf-8").strip()
    except OSError:
        provisioned = ""
    if re.fullmatch(r"[A-Za-z0-9_-]{1,64}", provisioned):
        return provisioned
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:64] or "edge-gateway"


class GatewaySection(_Model):
    # unique per device; default: /etc/edge-gateway/gateway-id, else the host name
    id: str = Field(default_factory=default_gateway_id, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    base_topic: str = Field("edge", min_length=1)
    state_dir: Path = Path("/var/lib/edge-gateway")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    demo: bool = False  # simulated hardware: mock GPIO pins, no real buses
    # "auto": the clock counts as right once systemd-timesyncd (or timedatectl) says it is
    # synchronised, and at once where neither exists; "trust": always (a board with an RTC)
    clock_check: Literal["auto", "trust"] = "auto"


class StoreConfig(_Model):
    """The broker's durable store (gateway.broker.store): what survives restarts and power cuts."""

    enabled: bool = True
    path: Path | None = None  # default: <gateway.state_dir>/broker.db
    durability: Literal["sync", "relaxed"] = "sync"
    commit_interval_ms: int | None = Field(
        None, ge=0, le=60_000
    )  # None: 10 (sync) / 1000 (relaxed)
    max_bytes: int = Field(0, ge=0)  # 0 = no limit
    min_free_bytes: int = Field(64 * 1024 * 1024, ge=0)
    memory_window: int = Field(1000, ge=2)  # queued messages per session kept in memory
    # seconds the gateway's own readings bound for a bridge wait in memory for the cloud's ack
    # before they are written to its queue (0 = at once); a power cut loses at most this much
    own_grace: float = Field(120.0, ge=0, le=3600)
    # seconds the session (queue) of a bridge removed from the config is kept, so that adding
    # it back sends what it held; then it is deleted (0 = at once, as Mosquitto)
    removed_bridge_expiry: int = Field(7 * 86400, ge=0, le=0xFFFFFFFE)

    def settings(self, state_dir: Path):  # noqa: ANN201 - StoreSettings, imported late
        from gateway.broker.store import StoreSettings

        interval = None if self.commit_interval_ms is None else self.commit_interval_ms / 1000
        return StoreSettings(
            self.path or Path(state_dir) / "broker.db",
            self.durability,
            interval,
            self.max_bytes,
            self.min_free_bytes,
            self.memory_window,
            self.own_grace,
            self.removed_bridge_expiry,
        )


class GatewayConfig(_Model):
    gateway: GatewaySection = GatewaySection()
    broker: BrokerConfig = BrokerConfig()
    store: StoreConfig = StoreConfig()
    auth: AuthConfig = AuthConfig()
    homeassistant: HomeAssistantConfig = HomeAssistantConfig()
    sensors: SensorList = ()
    relays: RelayList = ()
    bridges: BridgeList = ()  # cloud bridges (gateway.bridge.config)
    web: WebConfig = WebConfig()  # status page, JSON API, /metrics, MQTT over WebSockets
    rules: RuleList = ()  # local automation (gateway.automation.config)
    location: LocationConfig = LocationConfig()  # sunrise/sunset, time zone, clock check
    schedules: ScheduleList = ()  # cron, daily times and windows (gateway.automation.config)

    @model_validator(mode="after")
    def _web_name(self) -> GatewayConfig:
        if self.web.enabled and self.web.name in {
            "local",
            *(listener.name for listener in self.broker.listeners),
        }:
            raise ValueError(f"web.name {self.web.name!r} is already a broker listener's name")
        return self

    def uses_tls(self) -> bool:
        """Whether anything here needs Python's ssl module: a TLS listener, a TLS bridge, or an
        HTTPS web listener (prometheus-client's import of ssl is deferred: gateway.web.metrics)."""
        return (
            any(listener.tls is not None for listener in self.broker.listeners)
            or any(bridge.tls.enabled for bridge in self.bridges)
            or self.web.tls
        )

    @model_validator(mode="after")
    def _rules_name_what_exists(self) -> GatewayConfig:
        check_rules(self.rules, {s.name for s in self.sensors}, {r.name for r in self.relays})
        check_schedules(self.schedules, {r.name for r in self.relays}, self.location)
        return self

    def warnings(self) -> list[str]:
        """Things that are allowed but probably wrong (printed by check-config and at start-up)."""
        out = []
        if self.web.enabled and not self.web.tls and not self.web.is_loopback:
            out.append(
                f"web: listening on {self.web.host} without TLS: logins and MQTT "
                "passwords cross the network in clear text"
            )
        for listener in self.broker.listeners:
            if listener.anonymous_allowed and not listener.is_loopback:
                out.append(
                    f"broker.listeners[{listener.name}]: anonymous clients allowed on "
                    f"non-loopback address {listener.host}"
                )
            if (
                listener.tls is None
                and not listener.is_loopback
                and self.auth.password_file is not None
            ):
                out.append(
                    f"broker.listeners[{listener.name}]: passwords cross the network in "
                    "clear text (no tls)"
                )
        return out


#: errors whose message does not show the value it refused: " (got VALUE)" is added
_SHOW_INPUT = {
    "greater_than",
    "greater_than_equal",
    "less_than",
    "less_than_equal",
    "multiple_of",
    "literal_error",
    "enum",
    "string_pattern_mismatch",
    "string_too_short",
    "string_too_long",
    "int_parsing",
    "float_parsing",
    "bool_parsing",
    "int_from_float",
    "int_type",
    "float_type",
    "bool_type",
    "string_type",
    "finite_number",
}
#: keys whose numbers are written in hex in the config and the datasheets (I2C addresses, registers)
_HEX_KEYS = ("address", "register")


def _format_error(err: dict, data: object) -> str:
    key = _key(err["loc"], data)
    return f"{key or '(top level)'}: {_message(err, key)}"


def _key(loc: tuple, data: object) -> str:
    """`sensors[attic].address` for pydantic's ('sensors', 0, 'bme280', 'address'): list items by
    their name when it is unique in the list (else by index), and no discriminator tag."""
    key, node, after_index = "", data, False
    for part in loc:
        if after_index and isinstance(node, dict) and part == node.get("type"):
            after_index = False
            continue  # the tagged union's tag (the sensor type), not a key of the file
        after_index = isinstance(part, int)
        if isinstance(part, int):
            items = node if isinstance(node, list | tuple) else []
            node = items[part] if part < len(items) else None
            name = node.get("name") if isinstance(node, dict) else None
            unique = (
                isinstance(name, str)
                and name
                and sum(isinstance(i, dict) and i.get("name") == name for i in items) == 1
            )
            key += f"[{name}]" if unique else f"[{part}]"
        else:
            key += f".{part}" if key else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return key


def _message(err: dict, key: str) -> str:
    """pydantic's message without its "Value error, " prefix, with the refused value as written."""
    ctx = err.get("ctx") or {}
    error = ctx.get("error")
    if err["type"] in ("value_error", "assertion_error") and error is not None:
        return str(error)
    if err["type"] == "union_tag_not_found":
        return f"the key {ctx.get('discriminator', 'type')} is missing"
    if err["type"] == "union_tag_invalid":
        key = str(ctx.get("discriminator", "type")).strip("'")
        return (
            f"{key} = {ctx.get('tag')!r} is not known; expected one of {ctx.get('expected_tags')}"
        )
    message = err["msg"]
    hexed = key.rsplit(".", 1)[-1] in _HEX_KEYS
    if hexed:
        for limit in (err.get("ctx") or {}).values():
            if isinstance(limit, int) and not isinstance(limit, bool):
                message = message.replace(f" {limit}", f" {limit:#04x}")
    value = err.get("input")
    if (
        err["type"] in _SHOW_INPUT
        and isinstance(value, int | float | str)
        and str(value) not in message
    ):
        shown = (
            f"{value:#04x}"
            if hexed and isinstance(value, int) and not isinstance(value, bool)
            else repr(value)
        )
        message += f" (got {shown})"
    return message


def parse(data: dict, path: str = "<config>") -> GatewayConfig:
    try:
        return GatewayConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(path, [_format_error(e, data) for e in exc.errors()]) from None


def load_in_child(path: str | Path, check: bool = True) -> tuple[GatewayConfig, list[str]]:
    """Validate in a child process (pydantic) and load its result into this process's models:
    plain records once `gateway.modelbase.use_plain()` was called, so this process never imports
    pydantic (see gateway.modelbase). The child also makes every check `check-config` makes
    (gateway.preflight) unless `check` is false: (config, warnings), or ConfigError with the
    child's problems."""
    import subprocess

    child = subprocess.run(_child_command(path, check), capture_output=True, check=False)
    return _child_result(path, child.returncode, child.stdout, child.stderr)


async def load_in_child_async(
    path: str | Path, check: bool = True
) -> tuple[GatewayConfig, list[str]]:
    """`load_in_child` without blocking the event loop (a reload of the running gateway): the
    child runs while the loop goes on serving clients."""
    import asyncio

    child = await asyncio.create_subprocess_exec(
        *_child_command(path, check),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await child.communicate()
    assert child.returncode is not None
    return _child_result(path, child.returncode, stdout, stderr)


def _child_command(path: str | Path, check: bool) -> list[str]:
    import sys

    mode = "--pickle" if check else "--pickle-unchecked"
    return [sys.executable, "-m", "gateway.config", mode, str(path)]


def _child_result(
    path: str | Path, returncode: int, stdout: bytes, stderr: bytes
) -> tuple[GatewayConfig, list[str]]:
    import pickle

    lines = stderr.decode("utf-8", "replace").splitlines()
    if returncode == 0:
        warnings = [
            line.removeprefix("warning: ") for line in lines if line.startswith("warning: ")
        ]
        return pickle.loads(stdout), warnings  # noqa: S301 - our own child's output
    if returncode != 2 or not lines:
        lines = [f"config validation failed (exit {returncode})", *lines[-5:]]
    raise ConfigError(str(path), lines)


def _child(argv: list[str]) -> int:
    """`python -m gateway.config --pickle PATH`: the validated config pickled on stdout and each
    warning as `warning: ...` on stderr, or each problem as one line on stderr and exit 2.
    `--pickle-unchecked` validates only (no files, pins or drivers checked)."""
    import pickle
    import sys

    from gateway.preflight import Findings, check

    try:
        config = load(argv[1])
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    found = check(config) if argv[0] == "--pickle" else Findings()
    for line in found.errors or [f"warning: {warning}" for warning in found.warnings]:
        print(line, file=sys.stderr)
    if found.errors:
        return 2
    sys.stdout.buffer.write(pickle.dumps(config, protocol=pickle.HIGHEST_PROTOCOL))
    return 0


def load(path: str | Path) -> GatewayConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read: {exc.strerror or exc}"]) from None
    import tomllib  # here: the service process validates in a child and never needs it

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [f"not valid TOML: {exc}"]) from None
    return parse(data, str(path))


if __name__ == "__main__":
    import sys

    # through the module's own name, so the pickle names gateway.config's classes, not __main__'s
    from gateway.config import _child as child

    sys.exit(child(sys.argv[1:]))
