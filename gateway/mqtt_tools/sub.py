"""`edge-gateway sub`: subscribe and print as mosquitto_sub does (same flags, output, exit status).

Ends with 0 after -C messages, at -E (all SUBACKs in), at the first non-retained message with
--retained-only, or on Ctrl-C / SIGTERM; with "Timed out" and 27 when -W seconds pass first. Like
mosquitto_sub it reconnects (and subscribes again) when the connection drops after CONNACK.
"""

from __future__ import annotations

import random
import signal
import sys
import threading
import time
from typing import Any

from gateway import __version__
from gateway.mqtt.topics import topic_matches
from gateway.mqtt_tools import link
from gateway.mqtt_tools.options import HelpRequested, Options, UsageError, VersionRequested, parse
from gateway.mqtt_tools.output import FormatError, Message, PropertyValue, render

USAGE = """\
edge-gateway sub: subscribe and print messages, with mosquitto_sub's flags, defaults and exit status.

Usage: edge-gateway sub {[-h host] [--unix path] [-p port] [-u username] [-P password] -t topic | -L URL [-t topic]}
                        [-c] [-k keepalive] [-q qos] [-x session-expiry-interval]
                        [-C msg_count] [-E] [-R] [--retained-only] [--remove-retained] [-T filter_out] [-U topic ...]
                        [-F format] [--pretty] [-W timeout_secs] [--random-filter chance]
                        [-A bind_address] [--nodelay] [-i id] [-I id_prefix] [-d] [-N] [--quiet] [-v]
                        [-V mqttv31|mqttv311|mqttv5] [--password-file file]
                        [--will-topic topic [--will-payload payload] [--will-qos qos] [--will-retain]]
                        [{--cafile file | --capath dir} [--cert file] [--key file] [--ciphers ciphers]
                         [--insecure] [--tls-alpn protocol] [--tls-version version] [--tls-use-os-certs]]
                        [-D command identifier value]
       edge-gateway sub --help

 -h : host (default localhost). -p : port (default 1883, 8883 with --cafile/--capath).
 -V : MQTT version, mqttv5 (5), mqttv311 (311, the default) or mqttv31 (31).
 -t : a filter to subscribe to (repeatable). -T : a filter whose messages are not printed.
 -v : print "topic payload". -N : no newline. -F : format (%t topic, %p payload, %q QoS, %r retain,
      %l length, %m message id, %I ISO time, %U Unix time, %j JSON, %J JSON payload, %x hex, @H...).
 -C : exit after this many messages. -W : exit 27 ("Timed out") after this many seconds.
 -R : do not print retained messages. --retained-only : print them and exit at the first live one.
 -E : exit once subscribed. --remove-retained : clear the retained messages received.
 --password-file : read the password from the file's first line (keeps it out of `ps`).
Exit status: 0 done, 1 usage or connection error, the CONNACK's code when refused, 27 timed out.
"""

_PROPERTY_NAMES = (  # paho attribute -> Mosquitto's property name, in Mosquitto's JSON order
    ("PayloadFormatIndicator", "payload-format-indicator"),
    ("MessageExpiryInterval", "message-expiry-interval"),
    ("ContentType", "content-type"),
    ("ResponseTopic", "response-topic"),
    ("CorrelationData", "correlation-data"),
    ("SubscriptionIdentifier", "subscription-identifier"),
    ("TopicAlias", "topic-alias"),
)


def main(argv: list[str]) -> int:
    try:
        opts = parse("sub", argv)
    except HelpRequested:
        print(USAGE, end="")
        return 1
    except VersionRequested:
        print(f"edge-gateway sub version {__version__} (paho-mqtt)")
        return 1
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return 1
    try:
        return _Subscriber(opts).run()
    except link.ToolFailure as failure:
        return link.fail(opts, failure)


def _message(msg: Any) -> Message:
    props: list[tuple[str, PropertyValue]] = []
    paho_props = getattr(msg, "properties", None)
    if paho_props is not None:
        for attr, name in _PROPERTY_NAMES:
            if hasattr(paho_props, attr):
                value = getattr(paho_props, attr)
                props.append((name, value[0] if isinstance(value, list) else value))
        for key, val in getattr(paho_props, "UserProperty", []):
            props.append(("user-property", (key, val)))
    return Message(msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain), msg.mid, tuple(props))


class _Subscriber:
    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.finished = threading.Event()
        self.processing = True
        self.count = 0
        self.out = sys.stdout.buffer

    def _finish(self) -> None:
        self.processing = False
        self.finished.set()

    def _on_connected(self, client: Any) -> None:
        opts = self.opts
        from paho.mqtt.subscribeoptions import SubscribeOptions

        if opts.protocol == 5:
            sub_opts = SubscribeOptions(
                qos=opts.qos,
                retainAsPublished=opts.retain_as_published,
                retainHandling=2 if opts.no_retain else 0,
            )
            client.subscribe(
                [(t, sub_opts) for t in opts.topics], properties=link.subscribe_properties(opts)
            )
        else:
            client.subscribe([(t, opts.qos) for t in opts.topics])
        for topic in opts.unsubscribe:
            client.unsubscribe(topic)

    def _on_subscribe(
        self, client: Any, userdata: Any, mid: int, reasons: list[Any], props: Any
    ) -> None:
        codes = [getattr(r, "value", r) for r in reasons]
        if self.opts.debug and not self.opts.quiet:
            print(f"Subscribed (mid: {mid}): {', '.join(str(c) for c in codes)}", flush=True)
        if all(c >= 128 for c in codes):
            # as mosquitto_sub: a line on stderr and a normal end (exit 0)
            if not self.opts.quiet:
                print("All subscription requests were denied.", file=sys.stderr, flush=True)
            self._finish()
        if self.opts.exit_after_sub:
            self._finish()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        opts = self.opts
        if not self.processing:
            return
        if opts.retained_only and not msg.retain:
            self._finish()
            return
        if msg.retain and opts.no_retain:
            return
        if any(topic_matches(f, msg.topic) for f in opts.filter_out):
            return
        if opts.remove_retained and msg.retain:
            client.publish(msg.topic, b"", 1, True)
        if opts.random_filter >= 100 or random.random() * 100 < opts.random_filter:  # noqa: S311 - a sample
            self._print(_message(msg))
        if opts.count:
            self.count += 1
            if self.count >= opts.count:
                self._finish()

    def _print(self, message: Message) -> None:
        opts = self.opts
        try:
            data = render(opts.format, opts.verbose, opts.eol, message, time.time(), opts.pretty)
        except FormatError as exc:
            if not opts.quiet:
                print(exc, file=sys.stderr, flush=True)
            return
        if data:
            self.out.write(data)
            self.out.flush()

    def run(self) -> int:
        opts = self.opts
        client = link.build(opts)
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        conn = link.Connection(client, opts)
        conn.on_connected = self._on_connected
        started = time.monotonic()
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            conn.open(opts.timeout or None)
            client.reconnect_delay_set(1, 30)
            client._reconnect_on_failure = True  # mosquitto_sub reconnects too
            left = opts.timeout - (time.monotonic() - started) if opts.timeout else None
            if not self.finished.wait(max(left, 0) if left is not None else None):
                self.processing = False
                if not opts.quiet:
                    print("Timed out", file=sys.stderr, flush=True)
                return link.EXIT_TIMEOUT
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            conn.close()
        return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
