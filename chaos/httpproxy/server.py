"""The program in an HTTP link's proxy container: mitmproxy in reverse mode with the harness's addon, and the
control endpoint the harness sets rules through. Runs inside the container only (``python3 server.py``),
copied in next to ``rules.py`` when the container is made; it imports nothing of ``chaos``.

The control endpoint (JSON over HTTP, on its own port, published on the host's loopback):

- ``GET /version``: 200 once mitmproxy listens (503 before);
- ``PUT /rules/ID``: add or change a rule; ``DELETE /rules/ID``: remove it (removing a missing one is no error);
  ``POST /reset``: remove every rule; ``GET /rules``: the rules;
- ``GET /records?from=K[&fault=ID]``: the requests the rules (or rule ID) touched from index K on, and the index
  to ask from next.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from rules import INJECTED_HEADER, Rule, RuleSet, corrupt_bytes  # noqa: E402  (copied in beside this file)

from mitmproxy import ctx, http  # noqa: E402
from mitmproxy.addons import core, errorcheck, next_layer, proxyserver, tlsconfig  # noqa: E402
from mitmproxy.master import Master  # noqa: E402
from mitmproxy.net.http.http1 import assemble  # noqa: E402
from mitmproxy.options import Options  # noqa: E402
from mitmproxy.version import VERSION  # noqa: E402


class ChaosAddon:
    """Decides each request by the rules; answers, aborts, delays or changes it as they say."""

    def __init__(self, rules: RuleSet):
        self.rules = rules
        self.listening = threading.Event()

    def running(self) -> None:
        # Everything loaded so far lives as long as the proxy: kept out of the collector's full passes, which
        # otherwise walk mitmproxy's ~80,000 objects (measured: a 70 ms pause in the middle of requests).
        gc.freeze()
        self.listening.set()

    async def request(self, flow: http.HTTPFlow) -> None:
        if self.rules.empty:  # idle: nothing to decide, not even the query parsed
            return
        request = flow.request
        decision = self.rules.decide(request.method, request.path.split("?", 1)[0], dict(request.headers),
                                     dict(request.query))
        if not decision.touched:
            return
        flow.metadata["chaos"] = decision
        if decision.request_delay_s:
            await asyncio.sleep(decision.request_delay_s)
        if decision.answer:
            rule = decision.answer
            flow.response = http.Response.make(rule.status, rule.body.encode(),
                                               {**rule.headers, INJECTED_HEADER: decision.injected_header()})
            flow.metadata["chaos_answered"] = True
        elif decision.abort and decision.abort.abort in ("close", "reset"):
            self._close(flow, reset=decision.abort.abort == "reset")

    async def response(self, flow: http.HTTPFlow) -> None:
        decision = flow.metadata.get("chaos")
        if decision is None or flow.metadata.get("chaos_answered"):
            return
        if decision.response_delay_s:
            await asyncio.sleep(decision.response_delay_s)
        response = flow.response
        for rule, n in decision.response_rules:
            if rule.rewrite:
                find, replace = rule.rewrite
                response.content = (response.content or b"").replace(find.encode(), replace.encode())
            if rule.corrupt:
                response.content = corrupt_bytes(response.content or b"", rule.corrupt, rule.seed, rule.id, n)
        response.headers[INJECTED_HEADER] = decision.injected_header()
        if decision.abort and decision.abort.abort == "mid_body":
            self._send_half(flow)

    def _writer(self, flow: http.HTTPFlow):
        handler = ctx.master.addons.get("proxyserver").connections.get(flow.client_conn.id)
        io = handler.transports.get(handler.client) if handler else None
        return io.writer if io else None

    def _close(self, flow: http.HTTPFlow, reset: bool) -> None:
        """No answer: the client's connection is closed (FIN), or reset (RST: SO_LINGER 0, then close)."""
        writer = self._writer(flow)
        if reset and writer is not None:
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()  # closed now, before mitmproxy's orderly close could send a FIN first
        flow.kill()

    def _send_half(self, flow: http.HTTPFlow) -> None:
        """The upstream's answer cut short: its head (announcing the whole body) and half its body, then the
        connection is closed. mitmproxy assembles the head; the body's first half is written as is."""
        writer = self._writer(flow)
        response = flow.response
        body = response.raw_content or b""
        if writer is not None and not writer.is_closing():
            response.headers.pop("transfer-encoding", None)
            response.headers["content-length"] = str(len(body))
            writer.write(assemble.assemble_response_head(response) + body[: len(body) // 2])
        flow.kill()


class CachedLookups:
    """Name lookups for upstream connections, each kept for a second, instead of one per connection.

    mitmproxy connects upstream through asyncio, which resolves the name on every connection (getaddrinfo in a
    worker thread), and clients such as the shop's api open a connection per request: measured, the lookup and
    its thread handoff were the largest cost of an idle link after the addon dispatch. The loop's own
    ``getaddrinfo`` is wrapped, so mitmproxy still sees the upstream by name. A second is short enough that an
    upstream recreated with a new address is found again quickly; a failed connection forgets every answer.
    """

    TTL_S = 1.0

    def __init__(self, loop: asyncio.AbstractEventLoop, clock=time.monotonic):
        self._lookup = loop.getaddrinfo
        self._clock = clock
        self._answers: dict[tuple, tuple[list, float]] = {}
        loop.getaddrinfo = self.getaddrinfo

    async def getaddrinfo(self, host, port, *, family=0, type=0, proto=0, flags=0):  # noqa: A002 - asyncio's names
        key = (host, port, family, type, proto, flags)
        known = self._answers.get(key)
        if known is not None and self._clock() - known[1] <= self.TTL_S:
            return known[0]
        answer = await self._lookup(host, port, family=family, type=type, proto=proto, flags=flags)
        self._answers[key] = (answer, self._clock())
        return answer

    def server_connect_error(self, data) -> None:
        self._answers.clear()


class ControlHandler(BaseHTTPRequestHandler):
    rules: RuleSet
    addon: ChaosAddon
    upstream: str
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - quiet: the harness polls
        pass

    def _send(self, status: int, payload) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def do_GET(self):  # noqa: N802 - http.server's naming
        path, _, query = self.path.partition("?")
        if path == "/version":
            ready = self.addon.listening.is_set()
            self._send(200 if ready else 503, {"mitmproxy": VERSION, "upstream": self.upstream, "listening": ready})
        elif path == "/rules":
            self._send(200, [rule.to_json() for rule in self.rules.rules()])
        elif path == "/records":
            params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
            found, following, complete = self.rules.records_page(int(params.get("from", 0)), params.get("fault"))
            self._send(200, {"records": found, "next": following, "more": not complete,
                             "dropped": self.rules.dropped,
                             "counts": self.rules.counts()})
        else:
            self._send(404, {"error": f"no {path}"})

    def do_PUT(self):  # noqa: N802
        if not self.path.startswith("/rules/"):
            return self._send(404, {"error": f"no {self.path}"})
        try:
            rule = Rule.from_json(self._body())
        except (TypeError, ValueError, KeyError) as exc:
            return self._send(400, {"error": f"{type(exc).__name__}: {exc}"})
        self.rules.put(rule)
        self._send(200, rule.to_json())

    def do_DELETE(self):  # noqa: N802
        if not self.path.startswith("/rules/"):
            return self._send(404, {"error": f"no {self.path}"})
        self._send(200, {"removed": self.rules.remove(self.path.removeprefix("/rules/"))})

    def do_POST(self):  # noqa: N802
        if self.path != "/reset":
            return self._send(404, {"error": f"no {self.path}"})
        self.rules.clear()
        self._send(200, {"reset": True})


def lean_master(options: Options) -> Master:
    """mitmproxy with only the addons a reverse proxy needs, and ours. mitmproxy's DumpMaster loads about 35
    (playback, saving, cookies, header maps, ...): every hook of every request and connection is dispatched to
    each of them, which measured as a third of the proxy's CPU time per request (cProfile, `trigger_event`)."""
    master = Master(options)
    master.addons.add(core.Core(), proxyserver.Proxyserver(), next_layer.NextLayer(), tlsconfig.TlsConfig(),
                      errorcheck.ErrorCheck())
    return master


async def serve(listen: int, upstream: str, control: int) -> None:
    rules = RuleSet()
    addon = ChaosAddon(rules)
    handler = type("Handler", (ControlHandler,), {"rules": rules, "addon": addon, "upstream": upstream})
    server = ThreadingHTTPServer(("0.0.0.0", control), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name="control").start()
    options = Options(mode=[f"reverse:http://{upstream}"], listen_host="0.0.0.0", listen_port=listen)
    master = lean_master(options)
    # Pass-through changes nothing a client sees: the client's Host header goes upstream as it came, and the
    # upstream is connected when the client's first request arrives (as a direct connection would be).
    options.update(keep_host_header=True, connection_strategy="lazy")
    master.addons.add(CachedLookups(asyncio.get_running_loop()), addon)
    print(f"chaos http proxy: mitmproxy {VERSION}, :{listen} -> {upstream}, control :{control}", flush=True)
    await master.run()


def main() -> None:
    parser = argparse.ArgumentParser(description="an HTTP link's proxy (mitmproxy, reverse mode)")
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="host:port")
    parser.add_argument("--control", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.listen, args.upstream, args.control))


if __name__ == "__main__":
    main()
