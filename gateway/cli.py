"""`edge-gateway`: run | check-config | passwd | pub | sub | status.

`pub` and `sub` are small mosquitto_pub / mosquitto_sub look-alikes (paho-mqtt underneath) for people
trying the gateway out; `status` prints the broker's `$SYS` counters.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from gateway import __version__

if TYPE_CHECKING:
    from paho.mqtt.client import MQTTMessage


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edge-gateway", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"edge-gateway {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the gateway")
    run.add_argument("--config", "-c", required=True, help="path of gateway.toml")
    run.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto")

    check = sub.add_parser("check-config", help="validate a config file and print every error")
    check.add_argument("path")
    check.add_argument(
        "--root",
        metavar="DIR",
        help="look for the absolute paths the config names under DIR (an image's "
        "root file system, a copy of /etc)",
    )

    passwd = sub.add_parser(
        "passwd", help="add, change or delete a user in a password file", add_help=False
    )
    passwd.add_argument("args", nargs=argparse.REMAINDER)

    for name, text in (
        ("pub", "publish a message (mosquitto_pub's flags; --help for them)"),
        ("sub", "subscribe and print (mosquitto_sub's flags; --help for them)"),
        ("status", "print the broker's $SYS counters (connection flags as sub)"),
    ):
        tool = sub.add_parser(name, help=text, add_help=False)
        tool.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # these parse their own command lines: Mosquitto's (`-h` is the host there, not help)
    if argv[:1] == ["passwd"]:
        from gateway.passwd_tool import main as passwd_main

        return passwd_main(argv[1:])
    if argv[:1] == ["pub"]:
        from gateway.mqtt_tools.pub import main as pub_main

        return pub_main(argv[1:])
    if argv[:1] == ["sub"]:
        from gateway.mqtt_tools.sub import main as sub_main

        return sub_main(argv[1:])
    if argv[:1] == ["status"]:
        return _cmd_status(argv[1:])
    args = _build_parser().parse_args(argv)
    handler = {"run": _cmd_run, "check-config": _cmd_check}[args.command]
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
    print(
        f"{args.path}: OK ({len(config.broker.listeners)} listener(s), "
        f"{len(config.sensors)} sensor(s), {len(config.relays)} relay(s))"
    )
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
            # TLS socket is ever made or not; asyncio, paho and gateway.broker.auth.tls all run
            # without it (they import it in a try), so a gateway with no TLS anywhere does not load it
            # (uvloop imports ssl unconditionally: not when it may be picked)
            sys.modules["ssl"] = None  # type: ignore[assignment]  # None blocks the import
    from gateway.app import run_from_path

    return run_from_path(args.config, loop=args.loop, loaded=loaded)


# -- status: the $SYS counters, with sub's connection flags -------------------------------------


def _cmd_status(argv: list[str]) -> int:
    from gateway.mqtt_tools import link
    from gateway.mqtt_tools.options import HelpRequested, UsageError, VersionRequested, parse

    try:
        opts = parse("sub", [*argv, "-t", "$SYS/broker/#"])
    except (HelpRequested, VersionRequested):
        print(
            "edge-gateway status [-h host] [-p port] [-u user] [-P password] [--cafile file] "
            "...: the broker's $SYS counters (connection flags as edge-gateway sub)"
        )
        return 1
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return 1
    values: dict[str, str] = {}
    last = [time.monotonic()]

    def on_message(cl: object, userdata: object, msg: MQTTMessage) -> None:
        values[msg.topic.removeprefix("$SYS/broker/")] = msg.payload.decode("utf-8", "replace")
        last[0] = time.monotonic()

    try:
        client = link.build(opts)
        client.on_message = on_message
        conn = link.Connection(client, opts)
        conn.on_connected = lambda cl: cl.subscribe("$SYS/broker/#", 0)
        conn.open()
    except link.ToolFailure as failure:
        return link.fail(opts, failure)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and (not values or time.monotonic() - last[0] < 0.3):
        time.sleep(0.05)  # the retained $SYS values arrive as one burst after SUBACK
    conn.close()
    width = max((len(k) for k in values), default=0)
    for key in sorted(values):
        print(f"{key:<{width}}  {values[key]}")
    return 0 if values else 1


if __name__ == "__main__":
    sys.exit(main())
