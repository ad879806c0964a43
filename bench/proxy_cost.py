"""4. Proxy cost: latency and throughput through an idle Toxiproxy link against going direct, on loopback.

One minimal HTTP server container; its port is published on 127.0.0.1 (direct), and a Toxiproxy
container on the same Docker network forwards a listener published on 127.0.0.1 to it (proxied), the
way every link of a run is built. Both paths also pass Docker's own port publishing. The client is
an asyncio loop over raw keep-alive connections in this process:

* latency: one connection, one request at a time (p50, p99);
* request throughput: 16 connections, each sending its next request when the last one is answered;
* bulk throughput: one connection fetching 1 MiB bodies.

Rounds alternate direct and proxied; figures are the medians of the rounds.
"""

from __future__ import annotations

import asyncio
import time

from bench.common import (
    BASE_IMAGE, SERVER_PORT, Baseline, Result, Settings, load_average, median, percentile, published_port,
    server_command, wait_http, with_load,
)

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
BIG_REQUEST = b"GET /big HTTP/1.1\r\nHost: bench\r\n\r\n"
CONNECTIONS = 16


async def _open(port: int):
    return await asyncio.open_connection("127.0.0.1", port)


async def _answer(reader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.split(b"Content-Length: ", 1)[1].split(b"\r\n", 1)[0])
    await reader.readexactly(length)
    return length


async def _latencies(port: int, count: int) -> list[float]:
    reader, writer = await _open(port)
    out = []
    for i in range(count + 50):
        started = time.perf_counter()
        writer.write(REQUEST)
        await _answer(reader)
        if i >= 50:  # the first ones warm the path up
            out.append(time.perf_counter() - started)
    writer.close()
    return out


async def _throughput(port: int, seconds: float, connections: int, request: bytes) -> tuple[float, float]:
    """(requests per second, bytes per second) over ``seconds``."""
    counts = [0] * connections
    sizes = [0] * connections
    stop = time.perf_counter() + seconds

    async def one(i: int) -> None:
        reader, writer = await _open(port)
        while time.perf_counter() < stop:
            writer.write(request)
            sizes[i] += await _answer(reader)
            counts[i] += 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(connections)))
    elapsed = time.perf_counter() - started
    return sum(counts) / elapsed, sum(sizes) / elapsed


def measure(port: int, settings: Settings) -> dict:
    load_before = load_average()
    latencies = asyncio.run(_latencies(port, settings.pick(2000, 500)))
    rps, _ = asyncio.run(_throughput(port, settings.pick(5.0, 2.0), CONNECTIONS, REQUEST))
    _, bulk = asyncio.run(_throughput(port, settings.pick(3.0, 1.0), 1, BIG_REQUEST))
    return {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99), "rps": rps, "bulk": bulk,
            "load": (load_before, load_average())}


def run(settings: Settings) -> Result:
    started = time.monotonic()
    rounds = settings.pick(3, 1)
    direct, proxied = [], []
    with Baseline(settings) as base:
        name = f"bench-{settings.bench_id}-proxy"
        base.network(name)
        web = base.run(BASE_IMAGE, name=f"{name}-web", command=server_command(), network=name,
                       ports={f"{SERVER_PORT}/tcp": ("127.0.0.1", None)},
                       networking_config={name: base.client.api.create_endpoint_config(aliases=["web"])})
        proxy = base.toxiproxy(f"{name}-link", name, "link")
        direct_port, proxy_port = published_port(web, SERVER_PORT), published_port(proxy, SERVER_PORT)
        wait_http(f"http://127.0.0.1:{direct_port}/")
        wait_http(f"http://127.0.0.1:{proxy_port}/")
        for _ in range(rounds):
            direct.append(measure(direct_port, settings))
            proxied.append(measure(proxy_port, settings))

    def mid(rows, key):
        return median([r[key] for r in rows])

    figures = {}
    for label, rows in (("direct", direct), ("through Toxiproxy", proxied)):
        figures[f"{label} latency"] = with_load(
            f"p50 {mid(rows, 'p50') * 1e3:.3f} ms, p99 {mid(rows, 'p99') * 1e3:.3f} ms",
            (rows[0]["load"][0], rows[-1]["load"][1]))
        figures[f"{label} throughput"] = (f"{mid(rows, 'rps'):.0f} requests/s ({CONNECTIONS} connections), "
                                          f"{mid(rows, 'bulk') / 2**20:.0f} MiB/s bulk (1 connection)")
    p50_added = (mid(proxied, "p50") - mid(direct, "p50")) * 1e3
    figures["ratios proxied / direct"] = (f"p50 latency {mid(proxied, 'p50') / mid(direct, 'p50'):.2f} "
                                          f"(+{p50_added:.3f} ms), p99 latency "
                                          f"{mid(proxied, 'p99') / mid(direct, 'p99'):.2f}, requests/s "
                                          f"{mid(proxied, 'rps') / mid(direct, 'rps'):.2f}, bulk "
                                          f"{mid(proxied, 'bulk') / mid(direct, 'bulk'):.2f}")
    ratio = mid(proxied, "rps") / mid(direct, "rps")
    result = Result("proxy", "Proxy cost: an idle Toxiproxy link vs direct, on loopback", ratio,
                    "requests/s through the proxy / direct", "", None, figures,
                    [f"{rounds} round(s) each, alternating; client: asyncio raw keep-alive in the bench process; "
                     "both paths go through Docker's port publishing on 127.0.0.1"])
    result.seconds = time.monotonic() - started
    return result
