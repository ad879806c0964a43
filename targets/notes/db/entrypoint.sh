#!/bin/bash
# Starts PostgreSQL on the data volume; on the first start (an empty volume) creates the
# cluster, the app's role and database, and runs the init SQL first.
#
# The cluster is built in $PGDATA.init and renamed to $PGDATA only when complete, so a
# first start that is killed half-way starts over next time instead of leaving a
# database without its schema. Later starts (docker start after a kill or a stop) find
# $PGDATA and go straight to the server, which replays its WAL.
#
# Environment: DB_NAME, DB_USER (required), DB_PASSWORD_FILE (default /run/secrets/db_password),
# INIT_SQL (default /etc/notes-db/init.sql). Arguments are passed to postgres (-c name=value).
set -euo pipefail

PGDATA=${PGDATA:-/var/lib/postgresql/data/pgdata}
DB_PASSWORD_FILE=${DB_PASSWORD_FILE:-/run/secrets/db_password}
INIT_SQL=${INIT_SQL:-/etc/notes-db/init.sql}
SOCKET_DIR=/run/postgresql
PW_COPY=$SOCKET_DIR/.initdb-password

say() { printf '%s db-entrypoint %s\n' "$(date +%Y-%m-%dT%H:%M:%S)" "$*" >&2; }
die() {
    say "error: $*"
    exit 1
}

as_root() {
    # The volume may come from elsewhere (an older run, another tool): make it postgres's.
    local root
    root=$(dirname "$PGDATA")
    mkdir -p "$root" "$SOCKET_DIR"
    chown postgres:postgres "$root" "$SOCKET_DIR"
    chmod 700 "$root"
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
        # The secret is a bind mount with the host file's owner and mode: read it as root and
        # hand postgres a private copy, used by initdb and removed after.
        [ -r "$DB_PASSWORD_FILE" ] || die "cannot read the password file $DB_PASSWORD_FILE (the db_password secret)"
        install -m 600 -o postgres -g postgres "$DB_PASSWORD_FILE" "$PW_COPY"
    fi
    # setpriv execs in place: postgres stays PID 1 and gets the container's signals.
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
}

initialise() {
    : "${DB_NAME:?DB_NAME must name the database to create}"
    : "${DB_USER:?DB_USER must name the role to create}"
    [ -r "$PW_COPY" ] || die "no password for initdb: start the container as root with the db_password secret"
    [ -r "$INIT_SQL" ] || die "cannot read the init SQL $INIT_SQL (bind-mount db/init.sql there)"
    local work="$PGDATA.init" password
    password=$(head -n 1 "$PW_COPY" | tr -d '\r')
    [ -n "$password" ] || die "the password file is empty"
    rm -rf "$work"
    say "empty volume: creating the cluster in $PGDATA"
    initdb -D "$work" -U postgres --pwfile="$PW_COPY" --encoding=UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    # Other containers reach the server over the network, always with a password.
    printf '%s\n' "host all all 0.0.0.0/0 scram-sha-256" "host all all ::/0 scram-sha-256" >>"$work/pg_hba.conf"
    # A private server on the socket only: nothing connects before the schema exists.
    pg_ctl -D "$work" -o "-c listen_addresses='' -c unix_socket_directories=$SOCKET_DIR" -w -t 60 start >/dev/null
    psql -h "$SOCKET_DIR" -U postgres -d postgres -v ON_ERROR_STOP=1 -q \
        -v user="$DB_USER" -v password="$password" -v db="$DB_NAME" <<'SQL'
CREATE ROLE :"user" LOGIN PASSWORD :'password';
CREATE DATABASE :"db" OWNER :"user";
SQL
    say "running $INIT_SQL in $DB_NAME as $DB_USER"
    psql -h "$SOCKET_DIR" -U "$DB_USER" -d "$DB_NAME" -v ON_ERROR_STOP=1 -q -f "$INIT_SQL"
    pg_ctl -D "$work" -m fast -w -t 60 stop >/dev/null
    mv "$work" "$PGDATA"
    rm -f "$PW_COPY"
    say "database $DB_NAME ready"
}

if [ "$(id -u)" = 0 ]; then
    as_root "$@"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    initialise
fi
rm -f "$PW_COPY"
exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories="$SOCKET_DIR" "$@"
