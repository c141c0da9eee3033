"""Bridge configuration (`[[bridges]]` in the gateway's TOML) and the cloud profiles' rules.

Each profile is a row of `PROFILES`: what the cloud cannot do (QoS 2, retain, MQTT 5), what it
needs (TLS, a client certificate, a username, ALPN on 443, fixed topics). `BridgeConfig`'s validator
applies the row, so `edge-gateway check-config` rejects an impossible bridge with the key and the
reason instead of the cloud disconnecting it at run time. Secrets are files (systemd credentials),
never inline values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from gateway.bridge.mapping import Direction, TopicMap
from gateway.modelbase import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from gateway.mqtt.enums import QoS

AWS_ALPN = "x-amzn-mqtt-ca"  # AWS IoT Core: MQTT with X.509 client certificates on port 443


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Overflow = Literal["drop-oldest", "drop-newest", "refuse"]


class BridgeTls(_Model):
    enabled: bool = True
    ca_file: Path | None = None  # None = the system trust store
    cert_file: Path | None = None  # client certificate (mTLS)
    key_file: Path | None = None
    server_name: str | None = None  # SNI and the name checked in the certificate; None = host
    alpn: tuple[str, ...] = ()  # e.g. ["x-amzn-mqtt-ca"] for AWS IoT on 443
    min_version: Literal["1.2", "1.3"] = "1.2"

    @model_validator(mode="after")
    def _pair(self) -> BridgeTls:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (client certificate and its key)")
        return self


class BridgeQueue(_Model):
    """Limits of the bridge's store-and-forward queue (its session queue in the broker)."""

    max_messages: int = Field(100_000, ge=1)
    max_bytes: int = Field(64 * 1024 * 1024, ge=1024)  # payload bytes
    max_age: float = Field(0, ge=0)  # seconds a message may wait; 0 = no limit
    overflow: Overflow = "drop-oldest"


class BridgeTopic(_Model):
    pattern: str = Field(min_length=1)  # a topic filter, relative to the prefixes
    direction: Direction = Direction.OUT
    local_prefix: str = ""
    remote_prefix: str = ""
    local_qos: int = Field(1, ge=0, le=2)
    remote_qos: int = Field(1, ge=0, le=2)
    retain: bool = True  # forward the retain flag

    def to_map(self) -> TopicMap:
        return TopicMap(
            self.pattern,
            self.direction,
            self.local_prefix,
            self.remote_prefix,
            QoS(self.local_qos),
            QoS(self.remote_qos),
            self.retain,
        )


class AzureAuth(_Model):
    device_id: str = Field(min_length=1, max_length=128)
    device_key_file: Path  # the device's primary key (base64), as a systemd credential
    token_ttl: int = Field(3600, ge=60)  # seconds a SAS token is valid
    renew_before: int = Field(300, ge=10)  # seconds before expiry the bridge reconnects


@dataclass(frozen=True)
class Profile:
    qos2: bool = True
    retain: bool = True
    mqtt5: bool = True
    tls_required: bool = False
    client_cert_required: bool = False
    username_required: bool = False
    max_keepalive: int = 65535
    min_keepalive: int = 0
    client_id_pattern: str = r".{1,65535}"


PROFILES: dict[str, Profile] = {
    # AWS IoT Core: QoS 0/1 only; X.509 client certificate; client id = thing name; keepalive
    # 30..1200 s; retain is not available on every account/plan (set retain = false there).
    "aws-iot": Profile(
        qos2=False,
        tls_required=True,
        client_cert_required=True,
        max_keepalive=1200,
        min_keepalive=30,
        client_id_pattern=r"[A-Za-z0-9:_-]{1,128}",
    ),
    # Azure IoT Hub: MQTT 3.1.1, QoS 0/1, no retain, fixed device topics, SAS token or X.509.
    "azure-iot-hub": Profile(
        qos2=False, retain=False, mqtt5=False, tls_required=True, max_keepalive=1767
    ),
    "hivemq-cloud": Profile(tls_required=True, username_required=True),
    "emqx": Profile(),
    "generic": Profile(),
}


class BridgeConfig(_Model):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    profile: Literal["aws-iot", "azure-iot-hub", "hivemq-cloud", "emqx", "generic"] = "generic"
    host: str = Field(min_length=1)
    port: int = Field(8883, ge=1, le=65535)
    client_id: str | None = None  # None: "<gateway id>-<bridge name>"; AWS: the thing name
    thing_name: str | None = None  # aws-iot: the client id must equal it
    protocol: Literal["3.1.1", "5.0"] = "5.0"
    keepalive: int = Field(60, ge=1, le=65535)
    clean_start: bool = False  # False: the cloud keeps our session (and our QoS 1/2 state)
    session_expiry: int = Field(7 * 86400, ge=0, le=0xFFFFFFFF)  # 5.0: seconds
    username: str | None = None
    password_file: Path | None = None  # never inline: a systemd credential or a 0600 file
    tls: BridgeTls = BridgeTls()
    azure: AzureAuth | None = None
    inflight: int = Field(32, ge=1, le=65535)  # unacknowledged QoS 1/2 PUBLISHes to the cloud
    rate_limit: float = Field(0, ge=0)  # messages per second to the cloud; 0 = unlimited
    rate_burst: int = Field(100, ge=1)
    ack_timeout: float = Field(30, gt=0)  # no PUBACK for this long (and no other ack): torn down
    connect_timeout: float = Field(10, gt=0)  # TCP + TLS + CONNACK
    backoff_initial: float = Field(1, gt=0)
    backoff_max: float = Field(120, gt=0)
    queue: BridgeQueue = BridgeQueue()
    topics: tuple[BridgeTopic, ...] = Field(min_length=1)
    # remote topic of the gateway's retained online / offline (will); None = the profile's default
    # ("{gateway_id}/status"; none for azure-iot-hub, which has no retain), "" = none
    status_topic: str | None = None
    message_id_property: str | None = "gw-msg-id"  # 5.0 user property carrying a message id
    metrics_interval: float = Field(10, gt=0)  # seconds between metric updates (changed values)

    @model_validator(mode="after")
    def _profile_rules(self) -> BridgeConfig:
        problems = check_profile(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def rules(self) -> Profile:
        return PROFILES[self.profile]

    def effective_alpn(self) -> tuple[str, ...]:
        if self.profile == "aws-iot" and self.port == 443 and not self.tls.alpn:
            return (AWS_ALPN,)
        return self.tls.alpn

    def effective_status_topic(self, gateway_id: str) -> str | None:
        topic = self.status_topic
        if topic is None:
            topic = "" if self.profile == "azure-iot-hub" else "{gateway_id}/status"
        return topic.replace("{gateway_id}", gateway_id) or None

    def effective_client_id(self, gateway_id: str) -> str:
        if self.azure is not None:
            return self.azure.device_id
        if self.client_id:
            return self.client_id
        if self.thing_name:
            return self.thing_name
        return f"{gateway_id}-{self.name}"


def check_profile(cfg: BridgeConfig) -> list[str]:
    """Every way `cfg` breaks its profile's rules (empty when it is possible)."""
    rules = PROFILES[cfg.profile]
    out: list[str] = []
    if cfg.password_file is not None and cfg.username is None and cfg.azure is None:
        out.append("password_file needs username")
    if cfg.backoff_max < cfg.backoff_initial:
        out.append("backoff_max must be >= backoff_initial")
    if not rules.mqtt5 and cfg.protocol == "5.0":
        out.append(f'profile {cfg.profile} speaks MQTT 3.1.1 only (protocol = "3.1.1")')
    if rules.tls_required and not cfg.tls.enabled:
        out.append(f"profile {cfg.profile} requires TLS")
    if rules.client_cert_required and cfg.tls.cert_file is None:
        out.append(f"profile {cfg.profile} requires a client certificate (tls.cert_file)")
    if rules.username_required and (cfg.username is None or cfg.password_file is None):
        out.append(f"profile {cfg.profile} requires username and password_file")
    if not rules.min_keepalive <= cfg.keepalive <= rules.max_keepalive:
        out.append(
            f"profile {cfg.profile}: keepalive must be {rules.min_keepalive}.."
            f"{rules.max_keepalive} s"
        )
    for i, topic in enumerate(cfg.topics):
        if not rules.qos2 and (topic.remote_qos == 2):
            out.append(f"topics[{i}]: profile {cfg.profile} has no QoS 2 (remote_qos <= 1)")
        if not rules.retain and topic.retain and topic.direction != Direction.IN:
            out.append(
                f"topics[{i}]: profile {cfg.profile} has no retained messages (retain = false)"
            )
    out += _client_id_rules(cfg, rules)
    if cfg.profile == "aws-iot":
        out += _aws_rules(cfg)
    if cfg.profile == "azure-iot-hub":
        out += _azure_rules(cfg)
    elif cfg.azure is not None:
        out.append("azure settings belong to profile azure-iot-hub")
    return out


def _client_id_rules(cfg: BridgeConfig, rules: Profile) -> list[str]:
    cid = cfg.client_id or cfg.thing_name
    if cid is not None and not re.fullmatch(rules.client_id_pattern, cid):
        return [f"client_id {cid!r} is not allowed by profile {cfg.profile}"]
    return []


def _aws_rules(cfg: BridgeConfig) -> list[str]:
    out = []
    if cfg.port not in (8883, 443):
        out.append("profile aws-iot: port must be 8883 or 443")
    if cfg.port == 443 and cfg.tls.alpn and AWS_ALPN not in cfg.tls.alpn:
        out.append(f"profile aws-iot on port 443 needs ALPN {AWS_ALPN!r} (tls.alpn)")
    if cfg.thing_name and cfg.client_id and cfg.client_id != cfg.thing_name:
        out.append("profile aws-iot: client_id must equal thing_name")
    return out


def _azure_rules(cfg: BridgeConfig) -> list[str]:
    if cfg.azure is None:
        if cfg.tls.cert_file is None:
            return [
                "profile azure-iot-hub needs [bridges.azure] (device key) or a client certificate"
            ]
        return []
    out = []
    device = cfg.azure.device_id
    if cfg.client_id and cfg.client_id != device:
        out.append("profile azure-iot-hub: client_id must equal azure.device_id")
    if cfg.username is not None or cfg.password_file is not None:
        out.append("profile azure-iot-hub: username/password are generated from the device key")
    events, devicebound = (
        f"devices/{device}/messages/events/",
        f"devices/{device}/messages/devicebound/",
    )
    for i, topic in enumerate(cfg.topics):
        if topic.direction in (Direction.OUT, Direction.BOTH) and not (
            topic.remote_prefix + topic.pattern
        ).startswith(events):
            out.append(
                f"topics[{i}]: profile azure-iot-hub sends only to {events}... "
                f'(remote_prefix = "{events}")'
            )
        if topic.direction in (Direction.IN, Direction.BOTH) and not (
            topic.remote_prefix + topic.pattern
        ).startswith(devicebound):
            out.append(f"topics[{i}]: profile azure-iot-hub receives only from {devicebound}#")
    if cfg.status_topic and not cfg.status_topic.startswith(events):
        out.append(f"status_topic: profile azure-iot-hub needs it under {events} (or none)")
    return out


def _unique_names(bridges: tuple[BridgeConfig, ...]) -> tuple[BridgeConfig, ...]:
    names = [b.name for b in bridges]
    if len(names) != len(set(names)):
        raise ValueError(f"bridge names must be unique, got {names}")
    return bridges


BridgeList = Annotated[tuple[BridgeConfig, ...], AfterValidator(_unique_names)]
