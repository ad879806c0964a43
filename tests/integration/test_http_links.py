"""HTTP links through a real mitmproxy container (issue #18): idle pass-through changes nothing a client sees
(headers, keep-alive, chunked bodies), status/abort/delay take effect on the link's source only and are
reverted, and the requests a fault touched are fetched. One system for the module: it is slow to start."""

from __future__ import annotations

import json

import pytest

from chaos.faults import build
from chaos.faults.http import HttpFault
from chaos.plan import FaultPlan
from chaos.system import System

# An upstream that says what it was sent: HTTP/1.1 with keep-alive, a chunked answer, and its peer's port
# (the same port on two requests: the proxy kept its upstream connection too).
UPSTREAM = r'''
import json, http.server
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        if self.path == "/chunked":
            self.send_response(200); self.send_header("Transfer-Encoding", "chunked"); self.end_headers()
            for part in (b"alpha-", b"beta-", b"gamma"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n"); return
        body = json.dumps({"path": self.path, "headers": dict(self.headers), "peer_port": self.client_address[1],
                           "stock": 5}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("X-Upstream", "inventory"); self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
    do_POST = do_GET
http.server.ThreadingHTTPServer(("0.0.0.0", 8081), H).serve_forever()
'''

SYSTEM = f"""\
name: http-links-test
targets:
  services:
    inventory:
      image: chaos-base:bookworm
      command: [python3, -c, {json.dumps(UPSTREAM)}]
    api:
      image: chaos-base:bookworm
      command: [sleep, "600"]
    other:
      image: chaos-base:bookworm
      command: [sleep, "600"]
links:
  - {{link: api -> inventory:8081, protocol: http}}
load:
  locustfile: @REPO@/targets/shop/locustfile.py
  target: inventory:8081
"""

LINK = "api -> inventory:8081"

# Requests from inside a container over ONE connection; prints one JSON line per request.
CLIENT = r'''
import http.client, json, sys, time
paths = sys.argv[1:]
c = http.client.HTTPConnection("inventory", 8081, timeout=5)
for path in paths:
    t = time.monotonic()
    try:
        c.request("GET", path, headers={"X-Trace": "t-1", "Host": "shop.example"})
        r = c.getresponse(); body = r.read()
        out = {"status": r.status, "headers": {k.lower(): v for k, v in r.getheaders()}, "body": body.decode(errors="replace"),
               "version": r.version, "ms": round((time.monotonic() - t) * 1000)}
    except Exception as e:
        out = {"error": type(e).__name__, "ms": round((time.monotonic() - t) * 1000)}
        c.close(); c = http.client.HTTPConnection("inventory", 8081, timeout=5)
    print(json.dumps(out), flush=True)
'''


@pytest.fixture(scope="module")
def system(make_shared_plan, running_system):
    with running_system(make_shared_plan(SYSTEM)) as system:
        yield system


def requests_from(system: System, service: str, *paths: str) -> list[dict]:
    container = system.client.containers.get(system.containers[service])
    code, output = container.exec_run(["python3", "-c", CLIENT, *paths])
    assert code == 0, output
    return [json.loads(line) for line in output.decode().splitlines()]


def http_fault(fault_id: str = "f1", **params) -> FaultPlan:
    rule = {"match": {}, "order": int(fault_id[1:]) - 1, "seed": 1, **params}
    return FaultPlan(fault_id, "http", "http", "http", LINK, rule, 0.0, 1.0)


def fault_on(system: System, plan: FaultPlan, tmp_path=None) -> HttpFault:
    system.records_dir = tmp_path
    return build(plan, system)


def test_idle_pass_through_keeps_headers_keep_alive_and_chunked_bodies(system):
    plain, again, chunked = requests_from(system, "api", "/stock/1?x=1", "/stock/2", "/chunked")
    sent = json.loads(plain["body"])
    assert plain["status"] == 200 and plain["version"] == 11
    assert sent["headers"]["X-Trace"] == "t-1" and sent["headers"]["Host"] == "shop.example"  # as the client sent
    assert sent["path"] == "/stock/1?x=1"
    assert plain["headers"]["x-upstream"] == "inventory" and "x-chaos-injected" not in plain["headers"]
    assert json.loads(again["body"])["peer_port"] == sent["peer_port"]  # one upstream connection: kept alive
    assert chunked["body"] == "alpha-beta-gamma" and chunked["status"] == 200
    assert chunked["headers"].get("transfer-encoding") == "chunked"


def test_status_answers_without_forwarding_only_on_the_links_path_and_is_reverted(system, tmp_path):
    fault = fault_on(system, http_fault(status=503, body="busy", headers={"Retry-After": "2"},
                                        match={"path": "/stock/*"}), tmp_path)
    fault.inject()
    fault.inject()  # idempotent: the rule is put again, not doubled
    try:
        stock, health = requests_from(system, "api", "/stock/3", "/health")
        direct = requests_from(system, "other", "/stock/3")[0]
    finally:
        outcome = fault.revert()
    assert (stock["status"], stock["body"], stock["headers"]["retry-after"]) == (503, "busy", "2")
    assert stock["headers"]["x-chaos-injected"] == "f1 status"
    assert health["status"] == 200  # not matched
    assert direct["status"] == 200  # other clients of inventory reach it directly
    assert requests_from(system, "api", "/stock/3")[0]["status"] == 200
    assert fault.revert()["hits"] == 1  # idempotent; the record of the touched request stays
    assert outcome["hits"] == 1 and outcome["hits_by_route"] == {"GET /stock/[n]": 1}
    written = [json.loads(line) for line in (tmp_path / "http-f1.jsonl").read_text().splitlines()]
    assert [(r["fault"], r["path"], r["action"]) for r in written] == [("f1", "/stock/3", "status")]


@pytest.mark.parametrize("abort, error", [("reset", "ConnectionResetError"), ("close", "RemoteDisconnected")])
def test_abort_first_n_leaves_later_requests_alone(system, abort, error):
    fault = fault_on(system, http_fault(abort=abort, first=2))
    fault.inject()
    try:
        answers = requests_from(system, "api", "/a", "/b", "/c")
    finally:
        fault.revert()
    assert [a.get("error") for a in answers] == [error, error, None]
    assert answers[2]["status"] == 200


def test_mid_body_abort_sends_half_the_answer_then_closes(system):
    fault = fault_on(system, http_fault(abort="mid_body"))
    fault.inject()
    try:
        answer = requests_from(system, "api", "/stock/9")[0]
    finally:
        fault.revert()
    assert answer.get("error") == "IncompleteRead", answer


def test_delay_takes_effect_and_a_ramp_step_changes_it_in_place(system):
    fault = fault_on(system, http_fault(delay_ms=300))
    fault.inject()
    try:
        slow = requests_from(system, "api", "/stock/1")[0]
        fault.update({"delay_ms": 600})
        slower = requests_from(system, "api", "/stock/1")[0]
    finally:
        fault.revert()
    fast = requests_from(system, "api", "/stock/1")[0]
    assert 300 <= slow["ms"] < 600 and slow["status"] == 200, slow
    assert 600 <= slower["ms"] < 1200, slower
    assert fast["ms"] < 300, fast
    assert system.proxies[LINK].client.rules() == []
