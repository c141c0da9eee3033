"""A bridge's paho client collected after its event loop has closed (a test's loop, or the
gateway's at exit) closes its socket from whichever thread the garbage collector runs in: paho's
__del__ calls our on_socket_close, which must not raise "Event loop is closed"."""

from __future__ import annotations

import asyncio
import socket
import threading

from gateway.bridge.cloud import CloudClient, CloudSettings


class _Events:
    def __getattr__(self, name: str):  # any event: the test sends none
        return lambda *args, **kwargs: None


def test_socket_close_after_the_loop_closed_in_another_thread_raises_nothing():
    async def make() -> CloudClient:
        return CloudClient(CloudSettings("127.0.0.1", 1, "gc-test"), _Events())

    loop = asyncio.new_event_loop()
    client = loop.run_until_complete(make())
    loop.close()
    a, b = socket.socketpair()
    errors: list[BaseException] = []

    def close_from_gc_thread() -> None:
        try:
            client._on_socket_close(None, None, a)  # what paho's __del__ -> _sock_close calls
        except BaseException as exc:  # noqa: BLE001 - the assertion below names it
            errors.append(exc)

    worker = threading.Thread(target=close_from_gc_thread)
    worker.start()
    worker.join(timeout=10)
    a.close()
    b.close()
    assert not worker.is_alive()
    assert errors == []


def test_socket_close_from_another_thread_still_unwatches_in_the_loop():
    async def scenario() -> bool:
        client = CloudClient(CloudSettings("127.0.0.1", 1, "gc-test"), _Events())
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        loop.add_reader(a, lambda: None)
        client._sock = a
        worker = threading.Thread(target=client._on_socket_close, args=(None, None, a))
        worker.start()
        await asyncio.to_thread(worker.join, 10)
        await asyncio.sleep(0)  # the call_soon_threadsafe callback runs on this iteration
        watched = loop.remove_reader(a)
        a.close()
        b.close()
        return watched or client._sock is not None

    assert asyncio.run(scenario()) is False
