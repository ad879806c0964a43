"""A minimal keep-alive HTTP/1.1 server for benchmarks, run with python3 inside chaos-base:bookworm.

``/big`` answers 1 MiB (bulk throughput), anything else a 2-byte body. It does as little as a server
can, so that the load generator, the proxy or the harness is what a benchmark measures, not this.
"""

import asyncio
import sys

SMALL = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
BIG_BODY = b"x" * (1 << 20)
BIG = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % len(BIG_BODY)


async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1]
            if path == b"/big":
                writer.write(BIG)
                writer.write(BIG_BODY)
                await writer.drain()
            else:
                writer.write(SMALL)
                if writer.transport.get_write_buffer_size() > 1 << 16:
                    await writer.drain()
            if b"onnection: close" in head:
                break
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port):
    server = await asyncio.start_server(serve, "0.0.0.0", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 8080))
