"""PostgreSQL access for the notes app and its migration: settings, connections, a small pool.

Every wait is bounded, so a database that is down or slow turns into a quick, clear
error instead of a hung request: a request waits at most DB_POOL_WAIT_S for a free
connection, then its database work (connecting included) at most DB_QUERY_TIMEOUT_S.

The work deadline is enforced on this side, by a psycopg2 wait callback: libpq itself
would wait for an answer forever, e.g. on a connection to a database container that was
killed and never sent its FIN (the server-side statement_timeout cannot help there).
"""

import contextlib
import os
import queue
import select
import sys
import threading
import time

import psycopg2
import psycopg2.extensions


class DeadlineExceeded(psycopg2.OperationalError):
    """The database did not answer within the request's deadline (the connection is closed)."""


# psycopg2's errors that mean "the connection or the server is gone", not "bad SQL".
CONNECTION_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError)

_deadline = threading.local()


@contextlib.contextmanager
def deadline(seconds):
    """Database calls of this thread inside the block give up after `seconds` in all."""
    previous = getattr(_deadline, "at", None)
    _deadline.at = time.monotonic() + seconds
    try:
        yield
    finally:
        _deadline.at = previous


def _wait_with_deadline(connection):
    """psycopg2 wait callback: poll the connection until done or the thread's deadline passes.

    Raising here makes psycopg2 close the connection (it cannot be reused mid-protocol).
    """
    limit = getattr(_deadline, "at", None)
    while True:
        state = connection.poll()
        if state == psycopg2.extensions.POLL_OK:
            return
        if state == psycopg2.extensions.POLL_READ:
            readers, writers = [connection.fileno()], []
        elif state == psycopg2.extensions.POLL_WRITE:
            readers, writers = [], [connection.fileno()]
        else:
            raise psycopg2.OperationalError(f"unexpected poll state {state}")
        left = None if limit is None else limit - time.monotonic()
        if left is not None and left <= 0:
            raise DeadlineExceeded("no answer from the database within the deadline")
        ready = select.select(readers, writers, [], left)
        if not any(ready):
            raise DeadlineExceeded("no answer from the database within the deadline")


# Every connection of the process runs through the callback (psycopg2's "green" mode).
psycopg2.extensions.set_wait_callback(_wait_with_deadline)


def log(service, message):
    sys.stderr.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {service} {message}\n")
    sys.stderr.flush()


def env_float(name, default):
    return float(os.environ.get(name, default))


def env_int(name, default):
    return int(os.environ.get(name, default))


def read_password(path):
    """The password from the compose secret file: its first line, as initdb --pwfile reads it."""
    with open(path, encoding="utf-8") as file:
        return file.readline().rstrip("\r\n")


def connection_settings():
    """libpq keywords from the environment; the password comes from a file, never from env."""
    return {
        "host": os.environ.get("DB_HOST", "db"),
        "port": env_int("DB_PORT", 5432),
        "dbname": os.environ.get("DB_NAME", "notes"),
        "user": os.environ.get("DB_USER", "notes"),
        "password": read_password(os.environ.get("DB_PASSWORD_FILE", "/run/secrets/db_password")),
        "application_name": os.environ.get("DB_APPLICATION_NAME", "notes"),
        # A peer that vanished without closing (a dropped link) is noticed within ~10 s.
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 2,
        "tcp_user_timeout": 10000,
        "options": f"-c statement_timeout={env_int('DB_STATEMENT_TIMEOUT_MS', 5000)}",
    }


def connect(settings):
    connection = psycopg2.connect(**settings)
    # One round trip per statement: without autocommit psycopg2 sends BEGIN first.
    connection.autocommit = True
    return connection


def looks_closed(connection):
    """True when the server closed this idle connection (a restart, a kill).

    An idle connection has nothing to read; readable means the peer sent FIN or a final
    error. Checking costs no round trip, so it adds nothing when the link is slow.
    """
    if connection.closed:
        return True
    try:
        readable, _, _ = select.select([connection.fileno()], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class PoolExhausted(Exception):
    """No connection became free within the wait budget."""


class Pool:
    """At most `size` connections, opened lazily, checked before reuse.

    A connection error drops every idle connection too: they lead to the same server, so
    after a database restart they are all stale, and the next request opens a fresh one
    instead of failing on an old one.
    """

    def __init__(self, settings, size, wait_s, work_timeout_s):
        self._settings = settings
        self._wait_s = wait_s
        self.work_timeout_s = work_timeout_s
        self._idle = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)

    def run(self, work, timeout_s=None):
        """work(cursor) on a pooled connection; connecting and the work share one deadline."""
        if not self._slots.acquire(timeout=self._wait_s):
            raise PoolExhausted(f"no database connection free within {self._wait_s:g} s")
        try:
            with deadline(self.work_timeout_s if timeout_s is None else timeout_s):
                return self._run_on_connection(work)
        finally:
            self._slots.release()

    def _run_on_connection(self, work):
        try:
            connection = self._take_or_connect()
        except CONNECTION_ERRORS:
            self.drop_idle()
            raise
        broken = False
        try:
            with connection.cursor() as cursor:
                return work(cursor)
        except CONNECTION_ERRORS:
            broken = True
            raise
        finally:
            self._put_back(connection, broken)

    def _take_or_connect(self):
        while True:
            try:
                connection = self._idle.get_nowait()
            except queue.Empty:
                return connect(self._settings)
            if not looks_closed(connection):
                return connection
            _close_quietly(connection)

    def _put_back(self, connection, broken):
        if broken or connection.closed or not _is_idle(connection):
            _close_quietly(connection)
        else:
            self._idle.put(connection)
        if broken:
            self.drop_idle()

    def drop_idle(self):
        while True:
            try:
                _close_quietly(self._idle.get_nowait())
            except queue.Empty:
                return


def _is_idle(connection):
    return connection.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE


def _close_quietly(connection):
    try:
        connection.close()
    except Exception:
        pass
