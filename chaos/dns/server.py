"""The run's DNS server for one service's lookups, run inside its own container (``python3 server.py``).

dnslib parses and builds every packet. A query is decided by the active rules (rules.py): a matched name
gets the fault's answer (a response code, no answer, a wrong address, or a delay), a name a link of the
service interposes gets that link's proxy address (what the service's /etc/hosts would have said), and every
other query is forwarded as it came to Docker's embedded DNS of this container's own namespace (127.0.0.11),
which knows the experiment networks' names and forwards the rest as it does for any container. Its answer
goes back byte for byte.

A small HTTP endpoint (``--control``) sets and removes rules and reports their counts; the harness reaches
it on a port published on 127.0.0.1. Only the standard library, dnslib and rules.py beside this file.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dnslib
from dnslib import AAAA, QTYPE, RCODE, RR, A, DNSRecord
from dnslib.dns import DNSError
from dnslib.server import DNSHandler, DNSLogger, DNSServer

from rules import RCODES, TIMEOUT, Rule, RuleSet, candidates, normal_name

UPSTREAM_TIMEOUT_S = 5.0  # glibc's own per-try timeout: a slower upstream is as good as none


class Dropped(DNSError):
    """Raised to send no answer at all (the `timeout` fault): dnslib's handler drops the query."""


class FaultResolver:
    def __init__(self, rules: RuleSet, records: dict[str, str], search: list[str], upstream: str):
        self.rules = rules
        self.records = {normal_name(name): address for name, address in records.items()}
        self.search = search
        self.upstream = upstream
        self.queries = 0
        self.forwarded = 0
        self._lock = threading.Lock()

    def resolve(self, request: DNSRecord, protocol: str):
        """A DNSRecord to pack, or the upstream's packet as bytes."""
        with self._lock:
            self.queries += 1
        names = candidates(str(request.q.qname), self.search)
        rule = self.rules.first_match(names)
        if rule is not None and rule.draw():
            answered = self._fault(rule, request)
            if answered is not None:
                return answered
        address = next((self.records[name] for name in names if name in self.records), None)
        if address is not None:
            return address_reply(request, address)
        return self._forward(request, protocol)

    def _fault(self, rule: Rule, request: DNSRecord):
        if rule.action in RCODES:
            reply = request.reply()
            reply.header.rcode = getattr(RCODE, rule.action.upper())
            return reply
        if rule.action == TIMEOUT:
            raise Dropped(f"{request.q.qname}: dropped by rule {rule.id}")
        if rule.action == "address":
            return address_reply(request, rule.address)
        time.sleep(rule.delay_s)  # "delay": then answered as without the fault
        return None

    def _forward(self, request: DNSRecord, protocol: str):
        with self._lock:
            self.forwarded += 1
        try:
            return request.send(self.upstream, 53, tcp=protocol == "tcp", timeout=UPSTREAM_TIMEOUT_S)
        except (OSError, DNSError):
            reply = request.reply()
            reply.header.rcode = RCODE.SERVFAIL
            return reply


def address_reply(request: DNSRecord, address: str) -> DNSRecord:
    """The address as the only record of its family; a query for the other family gets no record (NODATA),
    as a name with only that address has."""
    reply = request.reply()
    qtype = request.q.qtype
    six = ":" in address
    if (qtype == QTYPE.A and not six) or (qtype == QTYPE.AAAA and six) or qtype == QTYPE.ANY:
        reply.add_answer(RR(request.q.qname, QTYPE.AAAA if six else QTYPE.A, rdata=AAAA(address) if six else A(address),
                            ttl=0))
    return reply


class Handler(DNSHandler):
    def get_reply(self, data):
        request = DNSRecord.parse(data)
        reply = self.server.resolver.resolve(request, self.protocol)
        return reply if isinstance(reply, bytes) else reply.pack()


class Control(BaseHTTPRequestHandler):
    """GET /health, GET /rules, PUT /rules/ID (a rule as JSON), DELETE /rules/ID, DELETE /rules."""

    server_version = "chaos-dns"
    rules: RuleSet
    resolver: FaultResolver

    def do_GET(self):
        if self.path == "/health":
            return self._send(200, {"ok": True, "dnslib": dnslib.version, "queries": self.resolver.queries,
                                    "forwarded": self.resolver.forwarded})
        if self.path == "/rules":
            return self._send(200, {rule_id: {**self.rules.get(rule_id).to_json(), **self.rules.get(rule_id).counts()}
                                    for rule_id in self.rules.ids() if self.rules.get(rule_id)})
        return self._send(404, {"error": f"no {self.path}"})

    def do_PUT(self):
        rule_id = self._rule_id()
        if rule_id is None:
            return self._send(404, {"error": f"no {self.path}"})
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            rule = self.rules.put(Rule.from_json({**body, "id": rule_id}))
        except (ValueError, TypeError, KeyError) as exc:
            return self._send(400, {"error": str(exc)})
        return self._send(200, rule.counts())

    def do_DELETE(self):
        if self.path == "/rules":
            self.rules.clear()
            return self._send(200, {})
        rule_id = self._rule_id()
        if rule_id is None:
            return self._send(404, {"error": f"no {self.path}"})
        rule = self.rules.remove(rule_id)
        return self._send(200, {"removed": rule is not None, **(rule.counts() if rule else {})})

    def _rule_id(self) -> str | None:
        prefix = "/rules/"
        return self.path[len(prefix):] if self.path.startswith(prefix) and len(self.path) > len(prefix) else None

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # one line per rule change is the harness's journal, not this log
        pass


def search_domains(resolv_conf: str) -> list[str]:
    """The search domains Docker wrote into this container's resolv.conf (the service's are the same)."""
    found = []
    for line in resolv_conf.splitlines():
        words = line.split()
        if words and words[0] in ("search", "domain"):
            found = words[1:]
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=53)
    parser.add_argument("--control", type=int, required=True)
    parser.add_argument("--upstream", default="127.0.0.11")
    parser.add_argument("--records", default="{}", help="JSON: name -> address (the service's link proxies)")
    args = parser.parse_args(argv)
    with open("/etc/resolv.conf") as file:
        search = search_domains(file.read())
    rules = RuleSet()
    resolver = FaultResolver(rules, json.loads(args.records), search, args.upstream)
    quiet = DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data")
    for tcp in (False, True):
        DNSServer(resolver, port=args.port, address="0.0.0.0", tcp=tcp, logger=quiet, handler=Handler).start_thread()
    Control.rules, Control.resolver = rules, resolver
    control = ThreadingHTTPServer(("0.0.0.0", args.control), Control)
    control.daemon_threads = True
    print(f"chaos-dns: dnslib {dnslib.version} on :{args.port} udp+tcp, upstream {args.upstream}, search "
          f"{' '.join(search) or '-'}, {len(resolver.records)} link names, control :{args.control}",
          file=sys.stderr, flush=True)
    socket.setdefaulttimeout(None)
    control.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
