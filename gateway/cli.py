"""`edge-gateway`: run | check-config | passwd | pub | sub | status.

`pub` and `sub` are small mosquitto_pub / mosquitto_sub look-alikes (paho-mqtt underneath) for people
trying the gateway out; `status` prints the broker's `$SYS` counters.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Sequence

from gateway import __version__


def _add_connection_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-H", "--host", default="127.0.0.1", help="broker host (default 127.0.0.1)")
    parser.add_argument("-p", "--port", type=int, default=None, help="1883, or 8883 with TLS")
    parser.add_argument("-i", "--id", default="", help="client id (default: assigned)")
    parser.add_argument("-V", "--protocol", choices=("311", "5"), default="5")
    parser.add_argument("-u", "--username")
    parser.add_argument("-P", "--password")
    parser.add_argument("--password-file", help="read the password from this file")
    parser.add_argument("--cafile", help="CA certificate: use TLS and verify the broker with it")
    parser.add_argument("--cert", help="client certificate (mTLS)")
    parser.add_argument("--key", help="client key (mTLS)")
    parser.add_argument("--insecure", action="store_true", help="do not check the broker's name")
    parser.add_argument("-k", "--keepalive", type=int, default=60)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edge-gateway", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"edge-gateway {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the gateway")
    run.add_argument("--config", "-c", required=True, help="path of gateway.toml")
    run.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto")

    check = sub.add_parser("check-config", help="validate a config file and print every error")
    check.add_argument("path")
    check.add_argument("--root", metavar="DIR",
                       help="look for the absolute paths the config names under DIR (an image's "
                            "root file system, a copy of /etc)")

    passwd = sub.add_parser("passwd", help="add, change or delete a user in a password file",
                            add_help=False)
    passwd.add_argument("args", nargs=argparse.REMAINDER)

    pub = sub.add_parser("pub", help="publish one message (like mosquitto_pub)")
    _add_connection_args(pub)
    pub.add_argument("-t", "--topic", required=True)
    pub.add_argument("-m", "--message", default=None, help="payload (default: read stdin)")
    pub.add_argument("-n", "--null-message", action="store_true", help="empty payload")
    pub.add_argument("-q", "--qos", type=int, choices=(0, 1, 2), default=0)
    pub.add_argument("-r", "--retain", action="store_true")

    sub_ = sub.add_parser("sub", help="subscribe and print messages (like mosquitto_sub)")
    _add_connection_args(sub_)
    sub_.add_argument("-t", "--topic", action="append", required=True)
    sub_.add_argument("-q", "--qos", type=int, choices=(0, 1, 2), default=0)
    sub_.add_argument("-v", "--verbose", action="store_true", help="print topic and payload")
    sub_.add_argument("-C", "--count", type=int, default=0, help="exit after this many messages")
    sub_.add_argument("-W", "--timeout", type=float, default=0, help="exit after this many seconds")
    sub_.add_argument("-R", "--no-retained", action="store_true", help="skip retained messages")

    status = sub.add_parser("status", help="print the broker's $SYS counters")
    _add_connection_args(status)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["passwd"]:
        from gateway.passwd_tool import main as passwd_main

        return passwd_main(argv[1:])
    args = _build_parser().parse_args(argv)
    handler = {"run": _cmd_run, "check-config": _cmd_check, "pub": _cmd_pub, "sub": _cmd_sub,
               "status": _cmd_status}[args.command]
    return handler(args)


def _cmd_check(args: argparse.Namespace) -> int:
    """Exit codes as `run` (gateway.exitcodes): 0 when `run` would start, 1 with every problem."""
    from pathlib import Path

    from gateway.config import ConfigError, load
    from gateway.exitcodes import ExitCode
    from gateway.preflight import check

    try:
        config = load(args.path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"{exc.path}: {problem}", file=sys.stderr)
        print(f"{exc.path}: {len(exc.problems)} error(s)", file=sys.stderr)
        return ExitCode.CONFIG
    found = check(config, root=Path(args.root) if args.root else None)
    for problem in found.errors:
        print(f"{args.path}: {problem}", file=sys.stderr)
    for warning in found.warnings:
        print(f"{args.path}: warning: {warning}", file=sys.stderr)
    if found.errors:
        print(f"{args.path}: {len(found.errors)} error(s)", file=sys.stderr)
        return ExitCode.CONFIG
    print(f"{args.path}: OK ({len(config.broker.listeners)} listener(s), "
          f"{len(config.sensors)} sensor(s), {len(config.relays)} relay(s))")
    return ExitCode.OK


def _may_use_uvloop(loop: str) -> bool:
    if loop != "auto":
        return loop == "uvloop"
    from importlib.util import find_spec

    return find_spec("uvloop") is not None


def _cmd_run(args: argparse.Namespace) -> int:
    from gateway import modelbase

    # before any config module loads: the service validates its config in a child process and
    # holds plain records, never pydantic (about 12 MB of RSS; see gateway.modelbase)
    modelbase.use_plain()
    from gateway.config import ConfigError, load_in_child

    try:
        config, warnings = load_in_child(args.config)
    except ConfigError as exc:
        loaded: tuple | ConfigError = exc
    else:
        loaded = (config, warnings)
        if not config.uses_tls() and not _may_use_uvloop(args.loop):
            # asyncio imports ssl (libssl and OpenSSL's libcrypto, about 4.5 MB of RSS) whether a
            # TLS socket is ever made or not; asyncio, paho and gateway.broker.tls all run without
            # it (they import it in a try), so a gateway with no TLS anywhere does not load it
            # (uvloop imports ssl unconditionally: not when it may be picked)
            sys.modules["ssl"] = None  # type: ignore[assignment]
    from gateway.app import run_from_path

    return run_from_path(args.config, loop=args.loop, loaded=loaded)


# -- pub / sub / status: paho clients --------------------------------------------------------------

def _client(args: argparse.Namespace):  # noqa: ANN202 - paho type
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    version = mqtt.MQTTv5 if args.protocol == "5" else mqtt.MQTTv311
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=args.id, protocol=version)
    password = args.password
    if args.password_file:
        with open(args.password_file, encoding="utf-8") as handle:
            password = handle.read().strip()
    if args.username:
        client.username_pw_set(args.username, password)
    if args.cafile:
        client.tls_set(ca_certs=args.cafile, certfile=args.cert, keyfile=args.key)
        client.tls_insecure_set(args.insecure)
    port = args.port or (8883 if args.cafile else 1883)
    return client, port


def _connect(client, args: argparse.Namespace, port: int) -> bool:  # noqa: ANN001
    connected = threading.Event()
    result: list = []

    def on_connect(cl, userdata, flags, rc, props):  # noqa: ANN001, ARG001
        result.append(rc)
        connected.set()

    client.on_connect = on_connect
    try:
        client.connect(args.host, port, args.keepalive)
    except OSError as exc:
        print(f"cannot connect to {args.host}:{port}: {exc}", file=sys.stderr)
        return False
    client.loop_start()
    if not connected.wait(10):
        print(f"no CONNACK from {args.host}:{port} within 10 s", file=sys.stderr)
        return False
    if result[0] != 0:
        print(f"connection refused: {result[0]}", file=sys.stderr)
        return False
    return True


def _cmd_pub(args: argparse.Namespace) -> int:
    client, port = _client(args)
    if not _connect(client, args, port):
        return 1
    if args.null_message:
        payload = b""
    elif args.message is not None:
        payload = args.message.encode()
    else:
        payload = sys.stdin.buffer.read()
    info = client.publish(args.topic, payload, args.qos, args.retain)
    info.wait_for_publish(10)
    ok = info.is_published()
    client.disconnect()
    client.loop_stop()
    if not ok:
        print("the broker did not acknowledge the message within 10 s", file=sys.stderr)
    return 0 if ok else 1


def _cmd_sub(args: argparse.Namespace) -> int:
    client, port = _client(args)
    done = threading.Event()
    count = [0]

    def on_message(cl, userdata, msg):  # noqa: ANN001, ARG001
        if done.is_set() or (args.no_retained and msg.retain):
            return
        text = msg.payload.decode("utf-8", "replace")
        print(f"{msg.topic} {text}" if args.verbose else text, flush=True)
        count[0] += 1
        if args.count and count[0] >= args.count:
            done.set()

    client.on_message = on_message
    if not _connect(client, args, port):
        return 1
    for topic in args.topic:
        client.subscribe(topic, args.qos)
    try:
        done.wait(args.timeout or None)
    except KeyboardInterrupt:
        pass
    client.disconnect()
    client.loop_stop()
    return 0 if not args.timeout or done.is_set() or not args.count else 27


def _cmd_status(args: argparse.Namespace) -> int:
    client, port = _client(args)
    values: dict[str, str] = {}
    last = [time.monotonic()]

    def on_message(cl, userdata, msg):  # noqa: ANN001, ARG001
        values[msg.topic.removeprefix("$SYS/broker/")] = msg.payload.decode("utf-8", "replace")
        last[0] = time.monotonic()

    client.on_message = on_message
    if not _connect(client, args, port):
        return 1
    client.subscribe("$SYS/broker/#", 0)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and (not values or time.monotonic() - last[0] < 0.3):
        time.sleep(0.05)  # the retained $SYS values arrive as one burst after SUBACK
    client.disconnect()
    client.loop_stop()
    width = max((len(k) for k in values), default=0)
    for key in sorted(values):
        print(f"{key:<{width}}  {values[key]}")
    return 0 if values else 1


if __name__ == "__main__":
    sys.exit(main())
