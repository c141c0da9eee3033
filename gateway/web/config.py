"""The `[web]` section: the HTTP listener for the status page, the JSON API, /metrics and MQTT over
WebSockets (gateway.web.server)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from gateway.modelbase import BaseModel, ConfigDict, Field, model_validator


def loopback_host(host: str) -> bool:
    """Whether `host` names this machine's loopback ("localhost", 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class WebConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    name: str = "web"  # the listener's name in limits, $SYS/broker/limits/... and ACL policies
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    certfile: Path | None = None  # HTTPS and wss:// when both are set
    keyfile: Path | None = None
    max_connections: int = Field(32, ge=0)  # this listener's share of broker.max_connections
    max_request_bytes: int = Field(16 * 1024, ge=1024)  # request line + headers + body
    request_timeout: float = Field(10.0, gt=0)  # a request must arrive whole within this
    idle_timeout: float = Field(30.0, gt=0)  # a keep-alive connection with no request is closed
    mqtt: bool = True  # MQTT over WebSockets at /mqtt
    # Anonymous MQTT over WebSockets follows the broker's rule: allowed only on loopback unless set.
    allow_anonymous: bool | None = None
    history_hours: float = Field(24.0, ge=0, le=168)  # sensor plots, kept in RAM only
    history_points: int = Field(720, ge=0, le=10_000)  # per quantity: the ring's size
    session_hours: float = Field(12.0, gt=0)  # a login lasts this long

    @model_validator(mode="after")
    def _tls_pair(self) -> WebConfig:
        if (self.certfile is None) != (self.keyfile is None):
            raise ValueError("certfile and keyfile go together")
        return self

    @property
    def tls(self) -> bool:
        return self.certfile is not None

    @property
    def is_loopback(self) -> bool:
        return loopback_host(self.host)

    @property
    def anonymous_allowed(self) -> bool:
        return self.is_loopback if self.allow_anonymous is None else self.allow_anonymous
