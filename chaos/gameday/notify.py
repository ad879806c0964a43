"""Game-day notifications: day start, each step's verdict, abort, day end; to stdout, a JSONL file and a
webhook (JSON POST with a timeout and retries).

A notification never stops or stalls the day: the webhook is posted from a background thread, every
delivery (or failure, with its attempts) is journaled, and at the end of the day the sender gets a bounded
time to finish. The webhook URL is never written anywhere (it often carries a token).
"""

from __future__ import annotations

import json
import queue
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

from chaos import __version__
from chaos.secrets import scrub, scrubbed_default

SCHEMA = "chaos.gameday.notification/1"
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 5.0
RETRY_STATUSES = {408, 425, 429}  # plus every 5xx: the server may answer next time


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A webhook is never redirected: urllib would send the plan's headers (an Authorization) on to the new
    host, and turn the POST into a GET without its body. The 3xx is the delivery's answer: a failure."""

    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def payload(event: str, text: str, day: dict, **fields) -> dict:
    """What every channel gets: one JSON object per notification."""
    return {"schema": SCHEMA, "event": event, "at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "text": text, "day": day, **fields}


class WebhookSender:
    """Posts JSON to one URL from its own thread: ``timeout`` per try, ``retries`` more tries with backoff."""

    def __init__(self, url: str, timeout: float, retries: int, headers: dict[str, str] | None = None,
                 on_result=None, backoff_first: float = BACKOFF_FIRST):
        self.url, self.timeout, self.retries = url, timeout, retries
        self.headers = dict(headers or {})
        self.on_result = on_result or (lambda result: None)
        self.backoff_first = backoff_first
        self._queue: queue.Queue = queue.Queue()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._work, name="chaos-webhook", daemon=True)
        self._thread.start()

    def send(self, body: dict) -> None:
        self._queue.put(body)

    def close(self, wait: float) -> int:
        """Let queued deliveries finish for at most ``wait`` seconds; returns how many were abandoned."""
        self._queue.put(None)
        self._thread.join(wait)
        self._closing.set()  # a backoff still sleeping gives up
        abandoned = 0
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            abandoned += item is not None
        if self._thread.is_alive():
            abandoned += 1  # the one in flight
        return abandoned

    def _work(self) -> None:
        while True:
            body = self._queue.get()
            if body is None:
                return
            try:
                self.on_result(self.deliver(body))
            except Exception:  # noqa: BLE001 - a notification failure must never end the sender
                pass

    def deliver(self, body: dict) -> dict:
        """One notification, with retries. Returns {ok, attempts, status, error, event}."""
        data = json.dumps(body).encode()
        attempts, status, error = 0, None, None
        delay = self.backoff_first
        while attempts <= self.retries:
            attempts += 1
            status, error = self._post(data)
            if status is not None and 200 <= status < 300:
                return {"ok": True, "attempts": attempts, "status": status, "error": None, "event": body.get("event")}
            if status is not None and status < 500 and status not in RETRY_STATUSES:
                break  # the server said no: asking again would not change its mind
            if attempts <= self.retries and self._closing.wait(delay):
                break
            delay = min(delay * 2, BACKOFF_MAX)
        return {"ok": False, "attempts": attempts, "status": status, "error": error, "event": body.get("event")}

    def _post(self, data: bytes) -> tuple[int | None, str | None]:
        request = urllib.request.Request(self.url, data=data, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": f"chaos/{__version__}", **self.headers})
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:  # http(s) only (validated)
                return response.status, None
        except urllib.error.HTTPError as exc:
            moved = " (a redirect: not followed, point the webhook at its final URL)" if 300 <= exc.code < 400 else ""
            return exc.code, f"HTTP {exc.code}{moved}"
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return None, f"{reason.__class__.__name__}: {reason}"[:200]


class Notifier:
    """Fans each notification out to the channels a plan names. ``print_line`` shows text to the people
    watching; ``journal`` records every delivery. Every body is scrubbed of ``secrets`` before any channel
    sees it (as values: the webhook and the JSONL file get valid JSON)."""

    def __init__(self, notify, base_dir: Path, day: dict, journal, print_line=None, secrets=()):
        self.day = day
        self.secrets = list(secrets)
        self.journal = journal
        self.print_line = print_line if notify.stdout else None
        self.jsonl = (base_dir / notify.jsonl).resolve() if notify.jsonl else None
        self.webhook = None
        if notify.webhook:
            hook = notify.webhook
            self.webhook = WebhookSender(hook.url, hook.timeout, hook.retries, hook.headers, self._webhook_result)
            self._webhook_budget = hook.timeout * (hook.retries + 1) + min(BACKOFF_MAX * hook.retries, 15.0)

    def send(self, event: str, text: str, **fields) -> dict:
        body = scrub(payload(event, text, self.day, **fields), self.secrets)  # before any channel sees it
        text = body["text"]
        if self.print_line:
            self.print_line(f"[notify] {body['text']}")
        if self.jsonl:
            try:
                with open(self.jsonl, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(body, default=scrubbed_default(self.secrets)) + "\n")
                self.journal.append("notification", channel="jsonl", notification=event, ok=True)
            except OSError as exc:
                self.journal.append("notification", channel="jsonl", notification=event, ok=False,
                                    error=f"{exc.__class__.__name__}: {exc}")
        if self.webhook:
            self.webhook.send(body)
        return body

    def _webhook_result(self, result: dict) -> None:
        self.journal.append("notification", channel="webhook", notification=result["event"], ok=result["ok"],
                            attempts=result["attempts"], status=result["status"], error=result["error"])
        if not result["ok"] and self.print_line:
            self.print_line(f"[notify] webhook failed for {result['event']} after {result['attempts']} attempt(s): "
                            f"{result['error']}")

    def close(self, wait: float | None = None) -> None:
        if self.webhook:
            started = time.monotonic()
            abandoned = self.webhook.close(self._webhook_budget if wait is None else wait)
            if abandoned:
                self.journal.append("notification", channel="webhook", notification="(queued)", ok=False,
                                    error=f"{abandoned} notification(s) abandoned after "
                                          f"{time.monotonic() - started:.1f}s at the end of the day")

