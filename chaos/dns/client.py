"""The harness's client of one DNS server's control endpoint (published on 127.0.0.1): rules in, counts out."""

from __future__ import annotations

import requests

TIMEOUT_S = 5.0


class DnsControlError(Exception):
    pass


class DnsControlClient:
    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.session = requests.Session()

    def health(self) -> dict:
        return self._call("GET", "/health")

    def put_rule(self, rule: dict) -> dict:
        return self._call("PUT", f"/rules/{rule['id']}", rule)

    def remove_rule(self, rule_id: str) -> dict:
        return self._call("DELETE", f"/rules/{rule_id}")

    def rules(self) -> dict:
        return self._call("GET", "/rules")

    def clear(self) -> None:
        self._call("DELETE", "/rules")

    def close(self) -> None:
        self.session.close()

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        try:
            response = self.session.request(method, self.url + path, json=body, timeout=TIMEOUT_S)
        except requests.RequestException as exc:
            raise DnsControlError(f"dns server {self.url}: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise DnsControlError(f"dns server {self.url}{path}: {response.status_code} {response.text[:200]}")
        return response.json()
