"""Limits and switches of the broker core, with defaults chosen for a Raspberry Pi.

This is a plain value the pure core reads; `gateway.config` builds it from the validated TOML.
Every limit here is counted in `$SYS` when it bites.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class QueueOverflow(str, Enum):
    """What happens when a session's queue is full (named, counted, logged)."""

    DROP_NEW = "drop-new"  # the arriving message is dropped (Mosquitto's behaviour)
    DROP_OLDEST = "drop-oldest"  # the oldest queued message is dropped to make room


NEVER_EXPIRES = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    max_packet_size: int = 1_048_576  # bytes; larger packets are refused from the fixed header
    receive_maximum: int = 64  # QoS 1/2 publishes a client may have unacknowledged towards us (5.0)
    max_inflight: int = 32  # QoS 1/2 deliveries unacknowledged per client (3.1.1; 5.0 uses the
    # client's receive maximum, capped by this)
    max_queued_messages: int = 1000  # per session, QoS 1/2 waiting for a window or a reconnect
    max_queued_bytes: int = 16 * 1024 * 1024  # per session, payload bytes
    queue_overflow: QueueOverflow = QueueOverflow.DROP_NEW
    queue_qos0_offline: bool = False  # Mosquitto's queue_qos0_messages
    topic_alias_maximum: int = 16  # aliases a 5.0 client may set towards us
    max_keepalive: int = 65535  # a longer (or zero) client keep alive is answered with this
    max_topic_length: int = 1024  # characters
    max_topic_levels: int = 32
    max_subscriptions_per_client: int = 256
    max_client_id_length: int = 256
    max_session_expiry: int = NEVER_EXPIRES  # cap on what 5.0 clients may ask for
    persistent_client_expiration: int = NEVER_EXPIRES  # 3.1.1 clean_session=0 sessions, seconds
    retain_available: bool = True
    max_retained_messages: int = 10_000
    allow_zero_length_client_id: bool = True
    sys_interval: float = 10.0  # seconds between $SYS updates; 0 disables them
    connect_timeout: float = 10.0  # seconds a new connection may take to send CONNECT
    tls_handshake_timeout: float = 10.0  # seconds a TLS listener's client may take to finish the
    # handshake (the connect timeout starts after it); the glue enforces it
    publish_rate_limit: float = 0.0  # publishes per second per client, 0 = unlimited
    publish_rate_burst: int = 100
    max_write_buffer: int = 4 * 1024 * 1024  # bytes queued for a client that does not read;
    # past this the connection is aborted (the glue checks it after each write)
    version: str = "0.1.0"
