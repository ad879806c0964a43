"""The harness's client of one HTTP link proxy's control endpoint (``server.py``), on 127.0.0.1.

It answers the calls a link's Toxiproxy client answers where both kinds of link are handled alike
(``version``, ``reset``, ``close``), so the system, ``attach`` and the runner treat every link the same.
"""

from __future__ import annotations

from urllib.parse import quote

import requests

from chaos import __version__
from chaos.httpproxy.rules import Rule


class HttpProxyError(Exception):
    def __init__(self, status: int | None, message: str):
        self.status = status
        super().__init__(f"http proxy: {message}" + (f" (HTTP {status})" if status else ""))


class HttpProxyClient:
    def __init__(self, base_url: str, timeout: float = 2.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()
        self._session.headers["User-Agent"] = f"chaos/{__version__}"

    def close(self) -> None:
        self._session.close()

    def _call(self, method: str, path: str, body: dict | None = None):
        try:
            response = self._session.request(method, self.base_url + path, json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            raise HttpProxyError(None, f"{method} {path} failed: {exc.__class__.__name__}") from exc
        if response.status_code >= 400:
            raise HttpProxyError(response.status_code, f"{method} {path}: {response.text.strip()[:200]}")
        return response.json()

    def version(self) -> str:
        """mitmproxy's version, once the proxy listens (HttpProxyError before)."""
        return self._call("GET", "/version")["mitmproxy"]

    def put_rule(self, rule: Rule) -> None:
        """Idempotent: a rule of the same id is changed in place, its count of requests kept."""
        self._call("PUT", f"/rules/{rule.id}", rule.to_json())

    def remove_rule(self, rule_id: str) -> None:
        """Idempotent: a rule already gone is not an error."""
        self._call("DELETE", f"/rules/{rule_id}")

    def rules(self) -> list[Rule]:
        return [Rule.from_json(data) for data in self._call("GET", "/rules")]

    def reset(self) -> None:
        """Remove every rule."""
        self._call("POST", "/reset")

    def records(self, fault: str | None = None) -> list[dict]:
        """Every request the rules touched so far (of ``fault`` only, when given), fetched in pieces."""
        found, start = [], 0
        only = f"&fault={quote(fault, safe='')}" if fault is not None else ""
        while True:
            page = self._call("GET", f"/records?from={start}{only}")
            found += page["records"]
            if page["next"] == start or not page.get("more", True):  # one call when they fit in one page
                return found
            start = page["next"]
