"""One-shot schema migration, run by the `migrate` service before the app starts.

Idempotent: every start of the system runs it again and it changes nothing the second
time. Exit 0 when the schema is at the latest version, 1 (with one line why) otherwise.
"""

import sys
import time

from notesdb import CONNECTION_ERRORS, connect, connection_settings, deadline, env_float, log

SERVICE = "migrate"

# Version 1 is db/init.sql (the notes table, created with the database).
MIGRATIONS = {
    2: [
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
        # GET /notes lists the most recent notes first.
        "CREATE INDEX IF NOT EXISTS notes_recent_idx ON notes (created_at DESC, id DESC)",
    ],
}


def connect_patiently(settings, give_up_after_s):
    """The db is healthy before this runs (depends_on), but a restart may race us: retry briefly."""
    give_up_at = time.monotonic() + give_up_after_s
    while True:
        try:
            with deadline(5):
                return connect(settings)
        except CONNECTION_ERRORS as exc:
            if time.monotonic() > give_up_at:
                raise
            log(SERVICE, f"database not reachable yet ({str(exc).strip().splitlines()[0]}); retrying")
            time.sleep(1)


def migrate(connection):
    connection.autocommit = False  # each version is applied whole or not at all
    applied = []
    for version, statements in sorted(MIGRATIONS.items()):
        with connection, connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
            cursor.execute("INSERT INTO schema_migrations (version) VALUES (%s) ON CONFLICT DO NOTHING "
                           "RETURNING version", (version,))
            if cursor.fetchone():
                applied.append(version)
    return applied


def main():
    try:
        settings = connection_settings()
        connection = connect_patiently(settings, env_float("MIGRATE_WAIT_S", 30))
        with deadline(env_float("MIGRATE_TIMEOUT_S", 60)):
            applied = migrate(connection)
        connection.close()
    except Exception as exc:
        text = str(exc).strip()
        log(SERVICE, f"error: {type(exc).__name__}: {text.splitlines()[0] if text else 'no detail'}")
        return 1
    latest = max(MIGRATIONS)
    log(SERVICE, f"applied {applied}, schema at version {latest}" if applied else f"schema already at version {latest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
