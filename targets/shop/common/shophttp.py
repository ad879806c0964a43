"""Small JSON-over-HTTP toolkit shared by the shop services (stdlib only)."""

import http.server
import json
import os
import re
import signal
import socketserver
import sys
import threading
import time


def log(service, message):
    sys.stderr.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {service} {message}\n")
    sys.stderr.flush()


class ErrorLog:
    """One stderr line per distinct error, repeats folded into a count.

    Under a fault the same error can happen hundreds of times a second; the
    harness keeps container logs, so they must stay readable.
    """

    def __init__(self, service, quiet_s=10.0):
        self._service = service
        self._quiet_s = quiet_s
        self._lock = threading.Lock()
        self._last_logged = {}
        self._suppressed = {}

    def error(self, message):
        now = time.monotonic()
        with self._lock:
            last = self._last_logged.get(message)
            if last is not None and now - last < self._quiet_s:
                self._suppressed[message] = self._suppressed.get(message, 0) + 1
                return
            repeats = self._suppressed.pop(message, 0)
            self._last_logged[message] = now
        suffix = f" (repeated {repeats}x since last line)" if repeats else ""
        log(self._service, f"error: {message}{suffix}")


def env_float(name, default):
    return float(os.environ.get(name, default))


def env_int(name, default):
    return int(os.environ.get(name, default))


class HttpError(Exception):
    """Raised by a route to answer with a JSON error body."""

    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class Response:
    def __init__(self, status, body, headers=None):
        self.status = status
        self.body = body
        self.headers = headers or {}


class Request:
    def __init__(self, method, path, headers, body, params):
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.params = params

    def json(self):
        if not self.body:
            raise HttpError(400, "request body must be a JSON object")
        try:
            data = json.loads(self.body)
        except ValueError:
            raise HttpError(400, "request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise HttpError(400, "request body must be a JSON object")
        return data


class Router:
    def __init__(self):
        self._routes = []

    def add(self, method, pattern, handler):
        self._routes.append((method, re.compile(f"^{pattern}$"), handler))

    def resolve(self, method, path):
        path_matched = False
        for route_method, regex, handler in self._routes:
            match = regex.match(path)
            if match:
                path_matched = True
                if route_method == method:
                    return handler, match.groupdict()
        raise HttpError(405 if path_matched else 404, "method not allowed" if path_matched else "not found")


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def server_bind(self):
        # HTTPServer.server_bind does a reverse DNS lookup that can stall where DNS is slow.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = host
        self.server_port = port


def _handler_class(router, errors):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 60  # idle keep-alive connections give their thread back
        server_version = "shop"
        sys_version = ""

        def do_GET(self):
            self._dispatch()

        def do_POST(self):
            self._dispatch()

        def do_PUT(self):
            self._dispatch()

        def do_DELETE(self):
            self._dispatch()

        def _dispatch(self):
            # Reading the whole body first keeps the keep-alive stream in sync even on errors.
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            path = self.path.split("?", 1)[0]
            try:
                handler, params = router.resolve(self.command, path)
                response = handler(Request(self.command, path, self.headers, body, params))
            except HttpError as exc:
                response = Response(exc.status, {"error": exc.message}, exc.headers)
            except Exception as exc:  # a bug or an unexpected dependency error: answer, log, go on
                errors.error(f"{self.command} {path}: {type(exc).__name__}: {exc}")
                response = Response(500, {"error": f"internal error: {type(exc).__name__}"})
            self._send(response)

        def _send(self, response):
            payload = json.dumps(response.body, separators=(",", ":")).encode()
            self.send_response(response.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in response.headers.items():
                self.send_header(name, str(value))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format, *args):
            pass  # no access log: one line per request would drown the error lines

    return Handler


def serve(service, port, router, errors, startup_message):
    server = _Server(("0.0.0.0", port), _handler_class(router, errors))

    def stop(signum, frame):
        raise SystemExit(0)

    # PID 1 in a container gets no default SIGTERM handler; without this `docker stop` waits 10 s.
    signal.signal(signal.SIGTERM, stop)
    log(service, f"listening on 0.0.0.0:{port} {startup_message}")
    try:
        server.serve_forever(poll_interval=0.5)
    except (SystemExit, KeyboardInterrupt):
        pass
    finally:
        server.server_close()
