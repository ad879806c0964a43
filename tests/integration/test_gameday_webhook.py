"""Game-day notifications against real HTTP servers on 127.0.0.1: one that answers, one that fails, one that
hangs, one that is not there. A failing webhook is retried, recorded, and never holds the day."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from chaos.gameday.model import Notify, Webhook
from chaos.gameday.notify import Notifier, WebhookSender
from chaos.journal import Journal, read_journal


class Server:
    """Answers every request with ``status`` (after ``delay``); ``location``: where a 3xx sends the client."""

    def __init__(self, status: int = 200, delay: float = 0.0, location: str | None = None):
        self.status, self.delay, self.location = status, delay, location
        self.bodies: list[dict] = []
        self.headers: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.bodies.append(json.loads(body) if body else None)
                self.answer()

            def do_GET(self):  # noqa: N802 - http.server's name
                server.bodies.append(None)
                self.answer()

            def answer(self):
                server.headers.append(dict(self.headers))
                time.sleep(server.delay)
                try:
                    self.send_response(server.status)
                    if server.location:
                        self.send_header("Location", server.location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the client gave up waiting

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(request):
    made = []

    def make(status=200, delay=0.0, location=None):
        made.append(Server(status, delay, location))
        return made[-1]

    yield make
    for s in made:
        s.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_webhook_that_answers_gets_one_json_post(server):
    hook = server(200)
    sender = WebhookSender(hook.url, timeout=2.0, retries=3, headers={"X-Token": "t0k"})
    result = sender.deliver({"event": "day_started", "text": "hello"})
    sender.close(1)
    assert result == {"ok": True, "attempts": 1, "status": 200, "error": None, "event": "day_started"}
    assert hook.bodies == [{"event": "day_started", "text": "hello"}]
    assert hook.headers[0]["Content-Type"] == "application/json" and hook.headers[0]["X-Token"] == "t0k"


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirected_webhook_is_not_followed_and_its_authorization_goes_nowhere_else(server, status):
    elsewhere = server(200)
    hook = server(status, location=elsewhere.url.replace("127.0.0.1", "localhost"))
    sender = WebhookSender(hook.url, timeout=2.0, retries=3, headers={"Authorization": "Bearer s3cr3t-t0k"})
    result = sender.deliver({"event": "day_started"})
    sender.close(1)
    assert elsewhere.headers == [], "urllib resent the POST as a GET, Authorization and all, to the new host"
    assert not result["ok"] and result["attempts"] == 1 and result["status"] == status
    assert "redirect: not followed" in result["error"]


def test_an_http_probe_judges_a_redirect_and_sends_no_netrc_credentials(server, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from chaos.probes import ProbeFailed, _http

    elsewhere = server(200)
    hook = server(302, location=elsewhere.url.replace("127.0.0.1", "localhost"))
    (tmp_path / "netrc").write_text("machine 127.0.0.1 login me password pw1\nmachine localhost login me password pw2\n")
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    port = int(hook.url.split(":")[2].split("/")[0])
    system = SimpleNamespace(published=lambda service, container_port: port)
    params = {"service": "api", "port": 8080, "method": "GET", "path": "/health", "expect_status": [200]}
    with pytest.raises(ProbeFailed, match="HTTP 302, expected"):
        _http(params, system, timeout=2.0)
    assert elsewhere.headers == [], "the redirect was followed, off loopback"
    assert [h.get("Authorization") for h in hook.headers] == [None], "~/.netrc credentials were sent"
    assert _http({**params, "expect_status": [302]}, system, timeout=2.0) == "302"


def test_a_failing_webhook_is_retried_then_given_up(server):
    hook = server(500)
    sender = WebhookSender(hook.url, timeout=2.0, retries=2, backoff_first=0.05)
    result = sender.deliver({"event": "step_verdict"})
    sender.close(1)
    assert not result["ok"] and result["attempts"] == 3 and result["status"] == 500
    assert len(hook.bodies) == 3


def test_a_webhook_that_says_no_is_not_asked_again(server):
    hook = server(404)
    sender = WebhookSender(hook.url, timeout=2.0, retries=3, backoff_first=0.05)
    result = sender.deliver({"event": "day_ended"})
    sender.close(1)
    assert not result["ok"] and result["attempts"] == 1 and len(hook.bodies) == 1


def test_a_hanging_or_missing_webhook_times_out_each_try():
    sender = WebhookSender(f"http://127.0.0.1:{closed_port()}/hook", timeout=1.0, retries=1, backoff_first=0.05)
    result = sender.deliver({"event": "abort"})
    sender.close(1)
    assert not result["ok"] and result["attempts"] == 2 and result["status"] is None
    assert "Refused" in result["error"] or "refused" in result["error"]


def test_the_notifier_never_waits_for_the_webhook_and_records_every_delivery(server, tmp_path: Path):
    hung = server(200, delay=5.0)
    journal = Journal(tmp_path / "journal.jsonl")
    lines: list[str] = []
    notify = Notify(stdout=True, jsonl="notes.jsonl", webhook=Webhook(url=hung.url, timeout=0.5, retries=1))
    notifier = Notifier(notify, tmp_path, {"id": "d1", "title": "T"}, journal, lines.append)
    started = time.monotonic()
    for n in range(3):
        notifier.send("step_verdict", f"step {n}: HELD", step={"step": n})
    sent_in = time.monotonic() - started
    notifier.close(wait=3.0)
    journal.close()
    assert sent_in < 0.5 * 3, "sending returns at once: the webhook is posted from its own thread"
    assert [line for line in lines if not line.startswith("[notify] webhook failed")] == [
        "[notify] step 0: HELD", "[notify] step 1: HELD", "[notify] step 2: HELD"]
    written = [json.loads(line) for line in (tmp_path / "notes.jsonl").read_text().splitlines()]
    assert [w["text"] for w in written] == ["step 0: HELD", "step 1: HELD", "step 2: HELD"]
    assert all(w["schema"] == "chaos.gameday.notification/1" and w["day"]["id"] == "d1" for w in written)
    events = [e for e in read_journal(tmp_path / "journal.jsonl") if e["event"] == "notification"]
    assert [e["channel"] for e in events].count("jsonl") == 3
    webhook = [e for e in events if e["channel"] == "webhook"]
    assert webhook and all(not e["ok"] for e in webhook), "timeouts and abandoned deliveries are recorded"
    assert any("abandoned" in (e.get("error") or "") for e in webhook)
