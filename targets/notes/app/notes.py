"""The notes app: a small JSON API over PostgreSQL (stdlib http.server with threads, psycopg2).

    POST /notes        {"title": ..., "body": ...}  -> 201 {"id": N}
    GET  /notes/<id>   -> 200 the note, 404 unknown
    GET  /notes        -> 200 {"notes": [...]}, the most recent first (?limit=1..100, 20)
    GET  /health       -> 200 healthy / 503 unhealthy (the database answers SELECT 1 in time)

While the database is unreachable or too slow, requests answer 503 {"error": "database
unavailable"} within DB_POOL_WAIT_S + DB_QUERY_TIMEOUT_S; once it is back the next request
reconnects.
"""

import http.server
import json
import os
import re
import signal
import socketserver
import threading
import time
import urllib.parse

from notesdb import CONNECTION_ERRORS, Pool, PoolExhausted, connection_settings, env_float, env_int, log

SERVICE = "notes"
VERSION = os.environ.get("NOTES_VERSION", "dev")
MAX_TITLE = 200
MAX_BODY = 10_000
NOTE_PATH = re.compile(r"^/notes/(\d{1,18})$")


class HttpError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class ErrorLog:
    """One stderr line per distinct error per 10 s, with a count of the ones folded in."""

    def __init__(self, quiet_s=10.0):
        self._quiet_s = quiet_s
        self._lock = threading.Lock()
        self._last = {}
        self._folded = {}

    def error(self, message):
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(message, -self._quiet_s) < self._quiet_s:
                self._folded[message] = self._folded.get(message, 0) + 1
                return
            self._last[message] = now
            folded = self._folded.pop(message, 0)
        log(SERVICE, f"error: {message}" + (f" (repeated {folded}x)" if folded else ""))


class Notes:
    def __init__(self, pool, health_timeout_s):
        self.pool = pool
        self.health_timeout_s = health_timeout_s

    def create(self, data):
        title, body = data.get("title"), data.get("body", "")
        if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE:
            raise HttpError(400, f"title must be a non-empty string of at most {MAX_TITLE} characters")
        if not isinstance(body, str) or len(body) > MAX_BODY:
            raise HttpError(400, f"body must be a string of at most {MAX_BODY} characters")

        def insert(cursor):
            cursor.execute("INSERT INTO notes (title, body) VALUES (%s, %s) RETURNING id", (title, body))
            return cursor.fetchone()[0]

        # Not retried: the insert may have committed before the connection broke.
        return 201, {"id": self.pool.run(insert)}

    def read(self, note_id):
        def select(cursor):
            cursor.execute("SELECT id, title, body, created_at FROM notes WHERE id = %s", (note_id,))
            return cursor.fetchone()

        row = self._read_with_retry(select)
        if row is None:
            raise HttpError(404, f"no note {note_id}")
        return 200, {"id": row[0], "title": row[1], "body": row[2], "created_at": row[3].isoformat()}

    def recent(self, limit):
        def select(cursor):
            cursor.execute("SELECT id, title, created_at FROM notes ORDER BY created_at DESC, id DESC LIMIT %s",
                           (limit,))
            return cursor.fetchall()

        rows = self._read_with_retry(select)
        return 200, {"notes": [{"id": i, "title": t, "created_at": c.isoformat()} for i, t, c in rows]}

    def health(self):
        def ping(cursor):
            cursor.execute("SELECT 1")
            return cursor.fetchone()[0] == 1

        try:
            self.pool.run(ping, timeout_s=self.health_timeout_s)
        except (PoolExhausted, *CONNECTION_ERRORS) as exc:
            return 503, {"status": "unhealthy", "version": VERSION, "database": _first_line(exc)}
        return 200, {"status": "healthy", "version": VERSION, "database": "ok"}

    def _read_with_retry(self, work):
        """Reads are safe to repeat: one more try on a fresh connection after a connection error."""
        try:
            return self.pool.run(work)
        except CONNECTION_ERRORS:
            return self.pool.run(work)


def _first_line(exc):
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def route(notes, method, target, read_json):
    url = urllib.parse.urlsplit(target)
    path = url.path
    if path == "/notes":
        if method == "POST":
            return notes.create(read_json())
        if method == "GET":
            return notes.recent(_limit(url.query))
        raise HttpError(405, "method not allowed")
    match = NOTE_PATH.match(path)
    if match:
        if method != "GET":
            raise HttpError(405, "method not allowed")
        return notes.read(int(match.group(1)))
    if path == "/health":
        return notes.health()
    raise HttpError(404, "not found")


def _limit(query):
    values = urllib.parse.parse_qs(query).get("limit", ["20"])
    try:
        limit = int(values[0])
    except ValueError:
        raise HttpError(400, "limit must be a number") from None
    if not 1 <= limit <= 100:
        raise HttpError(400, "limit must be from 1 to 100")
    return limit


def handler_class(notes, errors):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 60  # idle keep-alive connections give their thread back
        server_version = "notes"
        sys_version = ""

        def do_GET(self):
            self._dispatch()

        def do_POST(self):
            self._dispatch()

        def _dispatch(self):
            # Reading the whole body first keeps a keep-alive stream in sync even on errors.
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            try:
                status, payload = route(notes, self.command, self.path, lambda: _json_object(body))
            except HttpError as exc:
                status, payload = exc.status, {"error": exc.message}
            except PoolExhausted as exc:
                errors.error(str(exc))
                status, payload = 503, {"error": "database busy"}
            except CONNECTION_ERRORS as exc:
                errors.error(f"database unavailable: {_first_line(exc)}")
                status, payload = 503, {"error": "database unavailable"}
            except Exception as exc:  # a bug: answer, log, go on
                errors.error(f"{self.command} {self.path}: {type(exc).__name__}: {exc}")
                status, payload = 500, {"error": f"internal error: {type(exc).__name__}"}
            self._send(status, payload)

        def _send(self, status, payload):
            data = json.dumps(payload, separators=(",", ":")).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 503:
                self.send_header("Retry-After", "1")
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client (nginx) gave up first: nothing to tell it

        def log_message(self, format, *args):
            pass  # no access log (nginx in front could keep one); errors are logged above

    return Handler


def _json_object(body):
    try:
        data = json.loads(body or b"null")
    except ValueError:
        raise HttpError(400, "request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise HttpError(400, "request body must be a JSON object")
    return data


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def server_bind(self):
        # HTTPServer.server_bind does a reverse DNS lookup that can stall where DNS is slow.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


def main():
    port = env_int("PORT", 8000)
    pool_size = env_int("DB_POOL_SIZE", 8)
    try:
        settings = connection_settings()
    except OSError as exc:  # the secret file is missing or unreadable: say so, not a traceback
        log(SERVICE, f"error: cannot read the database password: {exc}")
        raise SystemExit(1) from None
    pool = Pool(settings, pool_size, env_float("DB_POOL_WAIT_S", 1), env_float("DB_QUERY_TIMEOUT_S", 2))
    notes = Notes(pool, env_float("HEALTH_TIMEOUT_S", 1))
    server = Server(("0.0.0.0", port), handler_class(notes, ErrorLog()))

    def stop(signum, frame):
        raise SystemExit(0)

    # PID 1 in a container has no default SIGTERM handler; without this `docker stop` waits.
    signal.signal(signal.SIGTERM, stop)
    log(SERVICE, f"version {VERSION} listening on 0.0.0.0:{port}; database {settings['user']}@"
                 f"{settings['host']}:{settings['port']}/{settings['dbname']}, pool {pool_size}, "
                 f"database deadline {pool.work_timeout_s:g} s")
    try:
        server.serve_forever(poll_interval=0.5)
    except (SystemExit, KeyboardInterrupt):
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
