#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for nrp's tests and for trying `--db postgres://…`.
#
#   eval "$(scripts/pg-scratch.sh start)"   # starts one; exports NRP_TEST_PG_URL and
#                                           # NRP_PG_SCRATCH (its folder)
#   scripts/pg-scratch.sh stop              # stops it and removes its folder
#   scripts/pg-scratch.sh start --owner-pid PID
#                                           # also stops and removes it when PID exits
#
# The cluster lives in a fresh temporary folder: its data directory, its Unix socket and its
# log. It listens on 127.0.0.1 on a free port (from 55432 up; NRP_PG_PORT to choose) and on
# the socket. Superuser `nrp` with password `nrp-scratch` (TCP asks for it, the socket
# trusts); database `nrp`. PostgreSQL refuses to run as root: as root the cluster runs as
# the OS user `postgres` (Debian's package creates it), or `nrp-pg`, created if need be.
# Server binaries: `initdb` on PATH, else the newest /usr/lib/postgresql/*/bin (Debian),
# else PG_BIN. Output on stdout is shell code for `eval`; messages go to stderr.
set -euo pipefail

die() { echo "pg-scratch: $*" >&2; exit 1; }

bindir() {
    if [ -n "${PG_BIN:-}" ]; then echo "$PG_BIN"; return; fi
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
    if [ -n "$d" ] && [ -x "$d/initdb" ]; then echo "$d"; return; fi
    if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return; fi
    die "no PostgreSQL server binaries (initdb): install them (Debian: apt-get install postgresql) or set PG_BIN"
}

# Runs a command as the cluster's OS user.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u "$OWNER" -- "$@"
    else
        "$@"
    fi
}

port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
    local owner_pid=""
    if [ "${1:-}" = "--owner-pid" ]; then owner_pid="${2:?--owner-pid needs a PID}"; fi
    local bin; bin=$(bindir)
    OWNER=$(id -un)
    if [ "$(id -u)" = 0 ]; then
        if id postgres >/dev/null 2>&1; then
            OWNER=postgres
        else
            id nrp-pg >/dev/null 2>&1 || useradd --system --no-create-home nrp-pg
            OWNER=nrp-pg
        fi
    fi
    local dir; dir=$(mktemp -d "${TMPDIR:-/tmp}/nrp-pg.XXXXXX")
    chmod 755 "$dir"
    [ "$(id -u)" = 0 ] && chown "$OWNER" "$dir"
    local port="${NRP_PG_PORT:-55432}"
    if [ -z "${NRP_PG_PORT:-}" ]; then
        while ! port_free "$port" || [ -e "$dir/.s.PGSQL.$port" ]; do port=$((port + 1)); done
    fi
    echo "nrp-scratch" > "$dir/pw"
    chmod 644 "$dir/pw"
    as_owner "$bin/initdb" -D "$dir/data" -U nrp --pwfile="$dir/pw" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; rm -rf "$dir"; die "initdb failed"; }
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50" \
        start >/dev/null \
        || { cat "$dir/server.log" >&2; rm -rf "$dir"; die "the server did not start"; }
    as_owner "$bin/createdb" -h "$dir" -p "$port" -U nrp nrp
    echo "$port" > "$dir/port"
    echo "$bin" > "$dir/bin"
    echo "$OWNER" > "$dir/owner"
    if [ -n "$owner_pid" ]; then
        # Stops the cluster when the process that asked for it ends.
        nohup bash -c "while kill -0 $owner_pid 2>/dev/null; do sleep 1; done; \
            NRP_PG_SCRATCH='$dir' '$0' stop" >/dev/null 2>&1 &
    fi
    echo "export NRP_PG_SCRATCH='$dir'"
    echo "export NRP_TEST_PG_URL='postgres://nrp:nrp-scratch@127.0.0.1:$port/nrp'"
    echo "pg-scratch: PostgreSQL on 127.0.0.1:$port and $dir (stop: scripts/pg-scratch.sh stop)" >&2
}

stop() {
    local dir="${NRP_PG_SCRATCH:-}"
    [ -n "$dir" ] || die "NRP_PG_SCRATCH is not set (eval the output of start)"
    [ -f "$dir/bin" ] || die "$dir is not a scratch cluster"
    OWNER=$(cat "$dir/owner")
    as_owner "$(cat "$dir/bin")/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}

case "${1:-}" in
    start) shift; start "$@" ;;
    stop) stop ;;
    *) die "usage: $0 start [--owner-pid PID] | stop" ;;
esac
