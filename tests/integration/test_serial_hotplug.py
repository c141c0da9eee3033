"""A USB-serial sensor that is not plugged in at start-up, then plugged in, pulled and plugged in again
— through the real broker to a paho subscriber, with a real pyserial port on a pseudo-terminal.

The sensor's port is a path in tmp_path: a symlink to a pty slave while "plugged in", nothing while
"pulled" (as udev's /dev/serial/by-id/... links behave). Pulling closes the pty, so the open port
fails like a removed adapter (EIO), and the link goes away. Every wait is for a message or a log
record, bounded."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

import pytest

from gateway.sensors.config import SerialLineConfig, SimulatedConfig
from gateway.sensors.scheduler import SensorService
from tests.fakes.serial_pty import PtyDevice
from tests.support.clients import Received, TestClient

LIMIT = 10.0  # seconds any one step may take


def station(value: bytes) -> Callable[[bytes], tuple[int, bytes]]:
    """A polled weather station: answers each READ command with one line."""

    def respond(pending: bytes) -> tuple[int, bytes]:
        end = pending.find(b"READ\r\n")
        if end < 0:
            return 0, b""
        return end + 6, b"T=" + value + b"\r\n"

    return respond


class Counter(logging.Handler):
    """Counts log records containing `text`; `reached(n)` waits (bounded) until n were seen."""

    def __init__(self, text: str) -> None:
        super().__init__(logging.DEBUG)
        self.text, self.seen, self._changed = text, 0, threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            with self._changed:
                self.seen += 1
                self._changed.notify_all()

    def reached(self, n: int) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.seen >= n, LIMIT)


def until(client: TestClient, wanted: Callable[[Received], bool], seen: list[Received]) -> Received:
    for _ in range(200):
        message = client.expect_one(timeout=LIMIT)
        seen.append(message)
        if wanted(message):
            return message
    raise AssertionError("the expected message never came")


def availability(payload: bytes) -> Callable[[Received], bool]:
    return lambda m: m.topic == "edge/sensor/station/availability" and m.payload == payload


def reading(value: float) -> Callable[[Received], bool]:
    return lambda m: (
        m.topic == "edge/sensor/station" and json.loads(m.payload)["temperature"]["value"] == value
    )


@pytest.fixture
def opened_log():
    logger = logging.getLogger("gateway.sensors")
    counter, level = Counter("cannot open"), logger.level
    logger.addHandler(counter)
    logger.setLevel(logging.DEBUG)
    yield counter
    logger.removeHandler(counter)
    logger.setLevel(level)


def test_a_serial_sensor_survives_absent_unplugged_and_replugged_adapters(
    broker, tmp_path, opened_log, caplog
):
    link = tmp_path / "ttyUSB0"
    configs = (
        SerialLineConfig(
            type="serial_line",
            name="station",
            port=str(link),
            interval=0.2,
            timeout=2,
            backoff_max=0.4,
            offline_after=2,
            command="READ\r\n",
            pattern=r"T=(?P<temperature>-?\d+\.\d+)",
            units={"temperature": "°C"},
            listen_time=0.5,
        ),
        SimulatedConfig(type="simulated", name="probe", interval=0.2, seed=1),
    )

    async def start() -> SensorService:
        service = SensorService.from_config(
            configs, broker.broker.local_client("sensors"), base_topic="edge"
        )
        await service.start()
        return service

    watcher = TestClient(broker.port, "watcher")
    watcher.subscribe("edge/sensor/#", 1)
    seen: list[Received] = []
    devices: list[PtyDevice] = []
    service = broker.call(start())  # the adapter is not plugged in: start-up goes on
    try:
        until(watcher, availability(b"offline"), seen)
        assert opened_log.reached(3)  # retried (with its backoff), not given up

        devices.append(PtyDevice(station(b"21.5")))
        link.symlink_to(devices[-1].path)  # plugged in
        until(watcher, availability(b"online"), seen)
        until(watcher, reading(21.5), seen)

        devices[-1].close()  # pulled: the open port fails with EIO, the path is gone
        link.unlink()
        before = opened_log.seen
        mark = len(seen)
        until(watcher, availability(b"offline"), seen)
        assert opened_log.reached(before + 2)
        devices.append(PtyDevice(station(b"22.5")))
        link.symlink_to(devices[-1].path)  # plugged in again: a new pty behind the same path
        until(watcher, availability(b"online"), seen)
        until(watcher, reading(22.5), seen)
        # the other sensor published all along
        assert any(m.topic == "edge/sensor/probe" for m in seen[mark:])
    finally:
        broker.call(service.stop())
        watcher.disconnect()
        for device in devices[1:]:
            device.close()
    assert devices[1].received.count(b"READ\r\n") >= 1
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "cannot open" in r.getMessage()
    ]
    # one warning per absence (start-up, after the pull), the retries in between at debug level
    assert len(warnings) == 2, warnings
    assert warnings[0] == (
        f"sensor station: cannot open {link}: [Errno 2] No such file or directory; "
        f"offline, retrying with backoff up to 0.4 s"
    )
    assert any("closing " + str(link) in r.getMessage() for r in caplog.records)
