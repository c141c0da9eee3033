"""A paho client set up from `Options`, connected, with every failure as one line and an exit status.

The lines and statuses are Mosquitto's (client_shared.c, pub_client.c, sub_client.c, 2.0):
"Error: Connection refused" (1), "Unable to connect (Lookup error.)." (1), a refused CONNACK as
"Connection error: <reason>" with the CONNACK's return code (3.1.1: 1-5) or reason code (5.0:
e.g. 135) as the status. TLS failures are more precise than Mosquitto's "A TLS error occurred":
the line names the cause (unknown CA, expired, name mismatch, client certificate refused).
"""

from __future__ import annotations

import os
import secrets
import socket
import ssl
import sys
import threading
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt import MQTTException
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.mqtt_tools.options import Options
from gateway.tls_errors import describe, describe_closed_after_handshake

# Mosquitto's mosquitto_connack_string (3.1.1 return codes)
CONNACK_311 = {
    1: "Connection Refused: unacceptable protocol version.",
    2: "Connection Refused: identifier rejected.",
    3: "Connection Refused: broker unavailable.",
    4: "Connection Refused: bad user name or password.",
    5: "Connection Refused: not authorised.",
}
# paho hands 3.1.1 return codes over as 5.0 reason codes: back to the 3.1.1 code
_PAHO_TO_311 = {132: 1, 133: 2, 136: 3, 134: 4, 135: 5}
# Mosquitto's mosquitto_reason_string (5.0 reason codes) for the ones a client sees
REASONS = {
    0: "Success",
    1: "Granted QoS 1",
    2: "Granted QoS 2",
    4: "Disconnect with Will Message",
    16: "No matching subscribers",
    17: "No subscription existed",
    128: "Unspecified error",
    129: "Malformed Packet",
    130: "Protocol Error",
    131: "Implementation specific error",
    132: "Unsupported Protocol Version",
    133: "Client Identifier not valid",
    134: "Bad User Name or Password",
    135: "Not authorized",
    136: "Server unavailable",
    137: "Server busy",
    138: "Banned",
    139: "Server shutting down",
    140: "Bad authentication method",
    141: "Keep Alive timeout",
    142: "Session taken over",
    143: "Topic Filter invalid",
    144: "Topic Name invalid",
    145: "Packet Identifier in use",
    146: "Packet Identifier not found",
    147: "Receive Maximum exceeded",
    148: "Topic Alias invalid",
    149: "Packet too large",
    150: "Message rate too high",
    151: "Quota exceeded",
    152: "Administrative action",
    153: "Payload format invalid",
    154: "Retain not supported",
    155: "QoS not supported",
    156: "Use another server",
    157: "Server moved",
    158: "Shared Subscriptions not supported",
    159: "Connection rate exceeded",
    160: "Maximum connect time",
    161: "Subscription identifiers not supported",
    162: "Wildcard Subscriptions not supported",
}
EXIT_CONN_LOST = 7  # MOSQ_ERR_CONN_LOST
EXIT_TIMEOUT = 27  # MOSQ_ERR_TIMEOUT: sub -W
EXIT_NO_CONNACK_BEFORE_TIMEOUT = 255  # mosquitto_sub's exit(-1) when -W ends before CONNACK
EXIT_TLS = 8  # MOSQ_ERR_TLS: what mosquitto_pub ends with when the server drops the handshake
_HANDSHAKE_CLOSED = (
    "Error: TLS: the server closed the connection during the TLS handshake "
    "(does this port speak TLS?)"
)


class ToolFailure(Exception):
    """Ends the tool: `line` on stderr (unless --quiet), exit status `status`."""

    def __init__(self, line: str, status: int = 1) -> None:
        super().__init__(line)
        self.line = line
        self.status = status


def reason_string(code: int) -> str:
    return REASONS.get(code, "Unknown reason")


def client_id(opts: Options) -> str:
    if opts.id_prefix is not None:
        return f"{opts.id_prefix}{os.getpid()}"
    if opts.client_id is not None:
        return opts.client_id
    # as libmosquitto: a random id made here, so 3.1.1 brokers that refuse empty ids accept it
    return "edge-" + secrets.token_urlsafe(12)[:16]


def _props(opts: Options, command: str, packet: int) -> Properties | None:
    """The -D properties given for `command` (MQTT 5 only), as paho Properties."""
    items = opts.props(command)
    if opts.protocol != 5 or not items:
        return None
    props = Properties(packet)
    users = [value for name, value in items if name == "user-property"]
    for name, value in items:
        if name == "user-property":
            continue
        try:
            setattr(props, "".join(part.capitalize() for part in name.split("-")), value)
        except MQTTException:  # paho's own range rules (e.g. topic-alias 1..65535)
            raise ToolFailure(
                f"Error: Property value ({value}) out of range for property {name}."
            ) from None
    if users:
        props.UserProperty = users
    return props


def publish_properties(opts: Options) -> Properties | None:
    return _props(opts, "publish", PacketTypes.PUBLISH)


def subscribe_properties(opts: Options) -> Properties | None:
    return _props(opts, "subscribe", PacketTypes.SUBSCRIBE)


def ssl_context(opts: Options) -> ssl.SSLContext:
    """Mosquitto's TLS options on a client context: --cafile/--capath (or the system's CAs with
    --tls-use-os-certs, or port 8883 without a CA), --cert/--key, --insecure (the name is not
    checked; the chain still is), --tls-version (exactly that version), --ciphers, --tls-alpn."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        if opts.cafile or opts.capath:
            ctx.load_verify_locations(cafile=opts.cafile, capath=opts.capath)
        if opts.tls_use_os_certs or not (opts.cafile or opts.capath):
            ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
        if opts.cert and opts.key:
            ctx.load_cert_chain(opts.cert, opts.key)
    except FileNotFoundError as exc:
        raise ToolFailure(
            f"Error: Problem setting TLS options: File not found ({exc.filename})."
        ) from None
    except (ssl.SSLError, OSError) as exc:
        raise ToolFailure(f"Error: Problem setting TLS options: {exc}.") from None
    if opts.insecure:
        ctx.check_hostname = False
    try:
        if opts.tls_version:
            version = {
                "tlsv1.3": ssl.TLSVersion.TLSv1_3,
                "tlsv1.2": ssl.TLSVersion.TLSv1_2,
                "tlsv1.1": ssl.TLSVersion.TLSv1_1,
            }[opts.tls_version]
            ctx.minimum_version = ctx.maximum_version = version
        if opts.ciphers:
            ctx.set_ciphers(opts.ciphers)
        if opts.tls_alpn:
            ctx.set_alpn_protocols([opts.tls_alpn])
    except (ssl.SSLError, ValueError):
        raise ToolFailure(
            "Error: Problem setting TLS options, check the options are valid."
        ) from None
    return ctx


def _password(opts: Options) -> str | None:
    if opts.password_file is None:
        return opts.password
    try:
        with open(opts.password_file, encoding="utf-8") as handle:
            return handle.readline().rstrip("\r\n")
    except OSError as exc:
        raise ToolFailure(
            f"Error: cannot read the password file {opts.password_file}: {exc.strerror}"
        ) from None


def build(opts: Options) -> mqtt.Client:
    """The paho client, not yet connected (raises ToolFailure for unusable TLS files)."""
    transport: Literal["unix", "tcp"] = "unix" if opts.unix_path else "tcp"
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id(opts),
        clean_session=opts.clean_session if opts.protocol != 5 else None,
        protocol=mqtt.MQTTProtocolVersion(opts.protocol),
        transport=transport,
        reconnect_on_failure=False,
    )
    client.max_inflight_messages_set(opts.max_inflight)
    password = _password(opts)
    if opts.username is not None or password is not None:
        client.username_pw_set(opts.username or "", password)
    if opts.will_topic is not None:
        will_props = _props(opts, "will", PacketTypes.WILLMESSAGE)
        client.will_set(
            opts.will_topic, opts.will_payload or b"", opts.will_qos, opts.will_retain, will_props
        )
    if opts.tls:
        client.tls_set_context(ssl_context(opts))
    if opts.debug:
        cid = client._client_id.decode(errors="replace")  # for the debug lines

        def on_log(cl: Any, userdata: Any, level: int, text: str) -> None:
            if level != mqtt.MQTT_LOG_ERR:
                print(f"Client {cid} {text[:1].lower()}{text[1:]}", flush=True)

        client.on_log = on_log
    return client


class Connection:
    """Connects `client` (blocking TCP + TLS, then paho's network thread) and waits for CONNACK."""

    def __init__(self, client: mqtt.Client, opts: Options) -> None:
        self.client = client
        self.opts = opts
        self.connacked = threading.Event()
        self.failure: ToolFailure | None = None
        self.read_error = ""
        self._user_on_log = client.on_log
        client.on_log = self._on_log
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        self.on_connected: Any = None  # called with the client on a successful CONNACK
        self.on_lost: Any = None  # called when the connection ends after CONNACK

    def _on_log(self, client: Any, userdata: Any, level: int, text: str) -> None:
        if level == mqtt.MQTT_LOG_ERR and text.startswith("failed to receive on socket"):
            self.read_error = text.partition(": ")[2]
        if self._user_on_log is not None:
            self._user_on_log(client, userdata, level, text)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        code = reason.value
        if code:
            self.failure = self._refused(code)
        elif self.on_connected is not None:
            self.on_connected(client)
        self.connacked.set()

    def _refused(self, code: int) -> ToolFailure:
        if self.opts.protocol != 5:
            rc = _PAHO_TO_311.get(code, code)
            return ToolFailure(
                f"Connection error: {CONNACK_311.get(rc, 'Connection Refused: unknown reason.')}",
                rc,
            )
        text = reason_string(code)
        if code == 132:
            text += ". Try connecting to an MQTT v5 broker, or use MQTT v3.x mode"
        return ToolFailure(f"Connection error: {text}", code)

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if not self.connacked.is_set():
            self.failure = self._closed_before_connack(reason)
            self.connacked.set()
        elif self.on_lost is not None:
            self.on_lost(reason)

    def _closed_before_connack(self, reason: Any) -> ToolFailure:
        detail = self.read_error or str(reason)
        if self.opts.tls:  # how TLS 1.3 servers refuse a client certificate
            return ToolFailure(
                "Error: TLS: "
                + describe_closed_after_handshake(detail, client_cert=self.opts.cert is not None),
                EXIT_CONN_LOST,
            )
        return ToolFailure(
            f"Error: The connection was lost before CONNACK ({detail}).", EXIT_CONN_LOST
        )

    def open(self, timeout: float | None = None) -> None:
        """Raises ToolFailure; on return the CONNACK accepted us and paho's thread runs.
        `timeout` (sub -W): as mosquitto_sub, running out before CONNACK ends with 255."""
        opts, client = self.opts, self.client
        host = opts.unix_path or opts.host
        try:
            if opts.protocol == 5:
                props = _props(opts, "connect", PacketTypes.CONNECT)
                if opts.session_expiry > 0:
                    props = props or Properties(PacketTypes.CONNECT)
                    props.SessionExpiryInterval = opts.session_expiry
                client.connect(
                    host,
                    opts.effective_port,
                    opts.keepalive,
                    opts.bind_address,
                    clean_start=opts.clean_session,
                    properties=props,
                )
            else:
                client.connect(host, opts.effective_port, opts.keepalive, opts.bind_address)
        except ssl.SSLEOFError:
            raise ToolFailure(_HANDSHAKE_CLOSED, EXIT_TLS) from None
        except ssl.SSLError as exc:
            raise ToolFailure(
                "Error: TLS: " + describe(exc, opts.host, client_cert=opts.cert is not None)
            ) from None
        except socket.gaierror:
            raise ToolFailure("Unable to connect (Lookup error.).") from None
        except ConnectionRefusedError:
            where = host if opts.unix_path else f"{host}:{opts.effective_port}"
            raise ToolFailure(f"Error: Connection refused ({where})") from None
        except ConnectionResetError:
            if opts.tls:
                raise ToolFailure(_HANDSHAKE_CLOSED, EXIT_TLS) from None
            raise ToolFailure("Error: Connection reset by peer") from None
        except OSError as exc:
            raise ToolFailure(f"Error: {exc.strerror or exc}") from None
        sock = client.socket()
        if opts.nodelay and isinstance(sock, socket.socket) and not opts.unix_path:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.loop_start()
        # a broker that accepts the connection but never answers: keepalive x 1.5, as a peer
        # would give up on us
        wait = opts.keepalive * 1.5 if timeout is None else min(timeout, opts.keepalive * 1.5)
        if not self.connacked.wait(wait):
            if timeout is not None and wait == timeout:
                raise ToolFailure("Timed out (no CONNACK)", EXIT_NO_CONNACK_BEFORE_TIMEOUT)
            raise ToolFailure(f"Error: no CONNACK within {wait:g} s.")
        if self.failure is not None:
            raise self.failure

    def close(self) -> None:
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()


def fail(opts: Options, failure: ToolFailure) -> int:
    if not opts.quiet:
        print(failure.line, file=sys.stderr, flush=True)
    return failure.status
