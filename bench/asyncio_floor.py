"""The asyncio floor for the latency scenario: the least an asyncio broker can do per message.

A relay on the same event loop, transports and socket options as ours (`asyncio.Protocol`,
`TCP_NODELAY`), answering CONNECT with CONNACK, SUBSCRIBE with SUBACK (granted QoS 0), PINGREQ with
PINGRESP, and writing every PUBLISH it reads, byte for byte, to every subscriber (no topic matching,
no validation, no sessions, no QoS 1/2). It is not a broker; it is what the event loop, the two
socket calls and one `data_received` cost per message on this machine, which no broker logic can
go under:

    python bench/run.py --only latency --loop asyncio --ours-cmd 'python bench/asyncio_floor.py {port}'
"""

from __future__ import annotations

import asyncio
import socket
import sys

_subscribers: set[asyncio.Transport] = set()


class Relay(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        buf = self.buffer + data if self.buffer else data
        pos, size, published = 0, len(buf), []
        while size - pos >= 2:
            length, shift, end = 0, 0, pos + 1  # the remaining length (spec 2.1.4)
            while end < size:
                byte = buf[end]
                end += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
            else:
                break  # the remaining length continues past what was read
            if end + length > size:
                break
            kind = buf[pos] >> 4
            if kind == 3:  # PUBLISH
                published.append(buf[pos : end + length])
            elif kind == 1:  # CONNECT
                self.transport.write(b"\x20\x02\x00\x00")
            elif kind == 8:  # SUBSCRIBE: SUBACK with its packet id, QoS 0 granted
                _subscribers.add(self.transport)
                self.transport.write(b"\x90\x03" + buf[end : end + 2] + b"\x00")
            elif kind == 12:  # PINGREQ
                self.transport.write(b"\xd0\x00")
            elif kind == 14:  # DISCONNECT
                self.transport.close()
            pos = end + length
        self.buffer = buf[pos:]
        if published:
            out = b"".join(published)
            for subscriber in _subscribers:
                subscriber.write(out)

    def connection_lost(self, exc: Exception | None) -> None:
        _subscribers.discard(self.transport)


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Relay, "127.0.0.1", port, reuse_address=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
