"""The tiny upstream of the hop benchmark: HTTP/1.1 keep-alive, a fixed 2-byte answer.

asyncio only, no parsing beyond finding the end of each request head (the
benchmark sends GETs without bodies), so the watchdog and the sidecar are
what the benchmark measures. PORT (default 5000); --port N overrides.
"""

import asyncio
import os
import socket
import sys

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


class Tiny(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buffer = b""
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data):
        self.buffer += data
        count = self.buffer.count(b"\r\n\r\n")
        if count:
            self.buffer = self.buffer[self.buffer.rfind(b"\r\n\r\n") + 4:]
            self.transport.write(ANSWER * count)


async def main(port):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Tiny, "0.0.0.0", port, reuse_address=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    port = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[1] == "--port" else int(
        os.environ.get("PORT", "5000"))
    asyncio.run(main(port))
