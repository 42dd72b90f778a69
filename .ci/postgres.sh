# Sourced by .ci/run: start a throwaway PostgreSQL cluster on loopback, stopped when the shell exits.
# Sets POSTGRES_URL. Installs PostgreSQL from the distribution's packages when it is missing.
pg_bin_dir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

if [ -z "$(pg_bin_dir)" ]; then
  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null
fi
PG_BIN=$(pg_bin_dir)
PG_DATA=$(mktemp -d /tmp/nootification-pg.XXXXXX)
PG_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
chown postgres "$PG_DATA"
runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DATA" -A trust -U postgres >/dev/null
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -w -l "$PG_DATA/server.log" \
  -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DATA -c fsync=off" start >/dev/null
stop_postgres() {
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast stop >/dev/null || true
  rm -rf "$PG_DATA"
}
trap stop_postgres EXIT
runuser -u postgres -- "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" nootification_test
POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/nootification_test"
export POSTGRES_URL
