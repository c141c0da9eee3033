"""`python -m gateway.broker`: the broker alone, for benchmarks and protocol testing.

The gateway itself is started with `edge-gateway run --config PATH`; this entry point runs just the
broker core on one listener with default limits (raised where a benchmark needs them).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from gateway.broker.server import Broker, ListenerSpec
from gateway.broker.settings import BrokerSettings


async def _serve(args: argparse.Namespace) -> None:
    settings = BrokerSettings(
        max_inflight=args.max_inflight,
        max_queued_messages=args.max_queued_messages,
        max_queued_bytes=1 << 34,
        sys_interval=0,
    )
    broker = Broker(settings, [ListenerSpec("default", args.host, args.port)])
    await broker.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"listening on {broker.addresses[0][0]}:{broker.addresses[0][1]}", flush=True)
    await stop.wait()
    await broker.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gateway.broker")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--max-inflight", type=int, default=64)
    parser.add_argument("--max-queued-messages", type=int, default=1_000_000)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(levelname)s %(name)s: %(message)s")
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(_serve(args))
    else:
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
