"""A small typed client for one Toxiproxy server's HTTP API.

One client per server (each link has its own server). Every call has a timeout; updates use
PATCH; the User-Agent is ours because Toxiproxy refuses browser-like agents.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests

from chaos import __version__
from chaos.images import TOXIPROXY_API_PORT

__all__ = ["TOXIPROXY_API_PORT", "Toxic", "ToxiproxyClient", "ToxiproxyError"]



class ToxiproxyError(Exception):
    def __init__(self, status: int | None, message: str):
        self.status = status
        super().__init__(f"toxiproxy: {message}" + (f" (HTTP {status})" if status else ""))


@dataclass(frozen=True)
class Toxic:
    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict

    def body(self) -> dict:
        return {"name": self.name, "type": self.type, "stream": self.stream,
                "toxicity": self.toxicity, "attributes": self.attributes}


class ToxiproxyClient:
    def __init__(self, base_url: str, timeout: float = 2.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()
        self._session.headers["User-Agent"] = f"chaos/{__version__}"

    def close(self) -> None:
        self._session.close()

    def _call(self, method: str, path: str, body: dict | None = None, ok_missing: bool = False):
        try:
            response = self._session.request(method, self.base_url + path, json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ToxiproxyError(None, f"{method} {path} failed: {exc.__class__.__name__}") from exc
        if response.status_code == 404 and ok_missing:
            return None
        if response.status_code >= 400:
            raise ToxiproxyError(response.status_code, f"{method} {path}: {_error_text(response)}")
        return response.json() if response.content else None

    def version(self) -> str:
        try:
            response = self._session.get(self.base_url + "/version", timeout=self.timeout)
        except requests.RequestException as exc:
            raise ToxiproxyError(None, f"GET /version failed: {exc.__class__.__name__}") from exc
        text = response.text.strip()
        if response.headers.get("content-type", "").startswith("application/json"):
            return str(response.json().get("version", text))
        return text

    def create_proxy(self, name: str, listen: str, upstream: str) -> dict:
        return self._call("POST", "/proxies", {"name": name, "listen": listen, "upstream": upstream, "enabled": True})

    def proxy(self, name: str) -> dict | None:
        return self._call("GET", f"/proxies/{name}", ok_missing=True)

    def set_enabled(self, name: str, enabled: bool) -> None:
        self._call("PATCH", f"/proxies/{name}", {"enabled": enabled})

    def toxics(self, proxy: str) -> list[dict]:
        return self._call("GET", f"/proxies/{proxy}/toxics") or []

    def add_or_update_toxic(self, proxy: str, toxic: Toxic) -> None:
        """Idempotent: a toxic of the same name is updated in place (PATCH) rather than duplicated.

        Create first and update only when it exists (409): one round trip for an inject, which is on the
        timeline's critical path (asking first doubled the time a link fault took to be in effect)."""
        try:
            self._call("POST", f"/proxies/{proxy}/toxics", toxic.body())
        except ToxiproxyError as exc:
            if exc.status != 409:
                raise
            self._call("PATCH", f"/proxies/{proxy}/toxics/{toxic.name}",
                       {"toxicity": toxic.toxicity, "attributes": toxic.attributes})

    def remove_toxic(self, proxy: str, name: str) -> None:
        """Idempotent: a toxic already gone is not an error."""
        self._call("DELETE", f"/proxies/{proxy}/toxics/{name}", ok_missing=True)

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._call("POST", "/reset")


def _error_text(response: requests.Response) -> str:
    try:
        return str(response.json().get("error", response.text)).strip()
    except ValueError:
        return response.text.strip()[:200]
