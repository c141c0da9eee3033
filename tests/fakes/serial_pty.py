"""A serial device played by a thread on the master side of a pseudo-terminal.

The driver opens the slave side with pyserial (`device.open_port()`), exactly as it would open
/dev/ttyUSB0. The thread reads what the driver writes and answers through `respond(request)`,
which returns (bytes consumed, reply bytes) — consumed 0 means "wait for more". Stop with
`close()` (the fixture does it); the thread polls with select, so stopping takes ≤ 20 ms.
"""

from __future__ import annotations

import os
import select
import threading
import tty
from collections.abc import Callable

import serial

Responder = Callable[[bytes], tuple[int, bytes]]


class PtyDevice:
    def __init__(self, respond: Responder) -> None:
        self.respond = respond
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no CR/LF translation
        self.path = os.ttyname(self._slave)
        self.received = bytearray()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pty-device", daemon=True)
        self._thread.start()
        self._ports: list[serial.Serial] = []

    def open_port(self, timeout: float = 0.02, baudrate: int = 9600) -> serial.Serial:
        port = serial.Serial(self.path, baudrate=baudrate, timeout=timeout)
        self._ports.append(port)
        return port

    def send(self, data: bytes) -> None:
        """Unsolicited output from the device (a streaming sensor)."""
        os.write(self.master, data)

    def _run(self) -> None:
        pending = bytearray()
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.02)
            if not ready:
                continue
            data = os.read(self.master, 4096)
            self.received += data
            pending += data
            while pending:
                used, reply = self.respond(bytes(pending))
                if not used:
                    break
                del pending[:used]
                if reply:
                    os.write(self.master, reply)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for port in self._ports:
            port.close()
        os.close(self.master)
        os.close(self._slave)
