"""JSON over HTTP to the inventory service, with separate connect and read timeouts."""

import http.client
import json
import urllib.parse


class HttpFailure(Exception):
    """No usable answer: refused, reset, timed out, or not HTTP."""


def request_json(base_url, method, path, body=None, connect_timeout_s=None, read_timeout_s=None):
    """Returns (status, decoded body). A timeout of None waits forever, as naive code does."""
    url = urllib.parse.urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=connect_timeout_s)
    payload = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if payload is not None else {}
    try:
        connection.connect()
        connection.sock.settimeout(read_timeout_s)
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        data = response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise HttpFailure(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
    finally:
        connection.close()
    try:
        return response.status, json.loads(data) if data else None
    except ValueError:
        return response.status, {"error": data[:200].decode(errors="replace")}
