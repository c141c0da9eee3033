"""`edge-gateway pub`: publish as mosquitto_pub does (same flags, output and exit status).

One message from -m, -f FILE, -s (all of stdin) or -n (empty), repeated with --repeat; or one
message per line of stdin with -l. Exit status 0 once every message is sent (QoS 0) or
acknowledged (QoS 1/2): a PUBACK refusing a message (MQTT 5) is a warning, as with mosquitto_pub.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from gateway import __version__
from gateway.mqtt_tools import link
from gateway.mqtt_tools.options import (
    MQTT_MAX_PAYLOAD,
    HelpRequested,
    Options,
    UsageError,
    VersionRequested,
    parse,
)

USAGE = """\
edge-gateway pub: publish a message, with mosquitto_pub's flags, defaults and exit status.

Usage: edge-gateway pub {[-h host] [--unix path] [-p port] [-u username] [-P password] -t topic | -L URL}
                        {-f file | -l | -n | -m message | -s}
                        [-c] [-k keepalive] [-q qos] [-r] [--repeat N] [--repeat-delay time] [-x session-expiry]
                        [-A bind_address] [--nodelay] [-i id] [-I id_prefix] [-d] [--quiet] [-M max_inflight]
                        [-V mqttv31|mqttv311|mqttv5] [--password-file file]
                        [--will-topic topic [--will-payload payload] [--will-qos qos] [--will-retain]]
                        [{--cafile file | --capath dir} [--cert file] [--key file] [--ciphers ciphers]
                         [--insecure] [--tls-alpn protocol] [--tls-version version] [--tls-use-os-certs]]
                        [-D command identifier value]
       edge-gateway pub --help

 -h : host to connect to (default localhost). -p : port (default 1883, 8883 with --cafile/--capath).
 -V : MQTT version, mqttv5 (5), mqttv311 (311, the default) or mqttv31 (31).
 -m : the message. -f : a file's contents. -s : all of stdin. -l : one message per stdin line.
 -n : an empty message. -r : retained. -q : QoS 0, 1 or 2 (default 0).
 -D : an MQTT 5 property, e.g. -D publish user-property key value (switches to MQTT 5).
 --password-file : read the password from the file's first line (keeps it out of `ps`).
Exit status: 0 sent, 1 usage or connection error, the CONNACK's code when refused, 7 connection lost.
"""


def main(argv: list[str]) -> int:
    try:
        opts = parse("pub", argv)
    except HelpRequested:
        print(USAGE, end="")
        return 1
    except VersionRequested:
        print(f"edge-gateway pub version {__version__} (paho-mqtt)")
        return 1
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return 1
    try:
        return _run(opts)
    except link.ToolFailure as failure:
        return link.fail(opts, failure)


def _payload(opts: Options) -> bytes:
    if opts.mode == "message":
        return opts.message or b""
    if opts.mode == "null":
        return b""
    if opts.mode == "file":
        assert opts.file is not None
        try:
            with open(opts.file, "rb") as handle:
                data = handle.read(MQTT_MAX_PAYLOAD + 1)
        except OSError:
            raise link.ToolFailure(f'Error: Unable to open file "{opts.file}".') from None
        if len(data) > MQTT_MAX_PAYLOAD:
            raise link.ToolFailure(f"Error: File must be less than {MQTT_MAX_PAYLOAD} bytes.")
        return data
    data = sys.stdin.buffer.read(MQTT_MAX_PAYLOAD + 1)  # -s
    if len(data) > MQTT_MAX_PAYLOAD:
        raise link.ToolFailure(f"Error: Message length must be less than {MQTT_MAX_PAYLOAD} bytes.")
    if not data:
        raise link.ToolFailure("Error: Zero length input.")
    return data


class _Publisher:
    """Publishes and waits for each message's completion (or the connection's end)."""

    def __init__(self, opts: Options, conn: link.Connection) -> None:
        self.opts = opts
        self.conn = conn
        self.changed = threading.Condition()
        self.done: set[int] = set()
        self.lost: Any = None
        conn.client.on_publish = self._on_publish
        conn.on_lost = self._on_lost
        self.props = link.publish_properties(opts)

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        code = getattr(reason, "value", 0)
        if code >= 128 and not self.opts.quiet:
            print(
                f"Warning: Publish {mid} failed: {link.reason_string(code)}.",
                file=sys.stderr,
                flush=True,
            )
        with self.changed:
            self.done.add(mid)
            self.changed.notify_all()

    def _on_lost(self, reason: Any) -> None:
        with self.changed:
            self.lost = reason
            self.changed.notify_all()

    def send(self, payload: bytes) -> None:
        opts = self.opts
        info = self.conn.client.publish(opts.topics[0], payload, opts.qos, opts.retain, self.props)
        if info.rc != 0 and self.lost is None:
            raise link.ToolFailure(
                f"Error: {info.rc.name if hasattr(info.rc, 'name') else info.rc}"
            )
        with self.changed:
            while info.mid not in self.done and not info.is_published():
                if self.lost is not None:
                    raise link.ToolFailure("Error: The connection was lost.", link.EXIT_CONN_LOST)
                self.changed.wait(0.5)


def _run(opts: Options) -> int:
    payload = None if opts.mode == "stdin-line" else _payload(opts)
    client = link.build(opts)
    conn = link.Connection(client, opts)
    conn.open()
    publisher = _Publisher(opts, conn)
    try:
        if payload is None:
            for line in iter(sys.stdin.buffer.readline, b""):
                publisher.send(line[:-1] if line.endswith(b"\n") else line)
        else:
            for n in range(opts.repeat):
                if n and opts.repeat_delay:
                    time.sleep(opts.repeat_delay)
                publisher.send(payload)
    finally:
        conn.close()
    return 0
