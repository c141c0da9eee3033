"""A fake polled line device: answers "READ\\r\\n" with "T=<t>C H=<h>%\\r\\n" (an Arduino sketch)."""

from __future__ import annotations


class FakeLineDevice:
    def __init__(self) -> None:
        self.temperature, self.humidity = 21.5, 40
        self.garbage_first = False

    def respond(self, data: bytes) -> tuple[int, bytes]:
        end = data.find(b"\n")
        if end < 0:
            return 0, b""
        if data[:end].strip() != b"READ":
            return end + 1, b"ERR unknown command\r\n"
        reply = f"T={self.temperature}C H={self.humidity}%\r\n".encode()
        return end + 1, (b"\x00\xffboot\r\n" if self.garbage_first else b"") + reply
