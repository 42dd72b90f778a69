"""A worker host cut off from the network in the middle of a transaction: PostgreSQL drops its connection
within DATABASE_DEAD_PEER_SECONDS and rolls the transaction back, so the other hosts wait seconds for its row
locks, not the two hours Linux waits before it probes an idle connection."""

import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from bench.netns import Namespaces, unavailable_reason
from bench.postgres import Postgres
from nootification.config import TestConfig

ROOT = Path(__file__).resolve().parent.parent
DEAD_PEER_SECONDS = 12
# Inside the cut host: lock the row through an engine built as the service builds its own, then wait.
HOLDER = """
import sys, time
import sqlalchemy as sa
from nootification.config import dead_peer_arguments
url = sa.engine.make_url(sys.argv[1])
engine = sa.create_engine(url, connect_args=dead_peer_arguments(int(sys.argv[2]), url))
with engine.begin() as connection:
    connection.execute(sa.text("SELECT id FROM shelf WHERE id = 1 FOR UPDATE"))
    print("locked", flush=True)
    time.sleep(300)
"""

pytestmark = [
    pytest.mark.skipif(
        bool(unavailable_reason()), reason=f"needs network namespaces: {unavailable_reason()}"
    ),
    pytest.mark.skipif(
        TestConfig.SQLALCHEMY_DATABASE_URI.startswith("postgresql"),
        reason="it starts its own PostgreSQL whatever the suite's database: the suite's SQLite pass runs it",
    ),
]


def test_a_cut_hosts_open_transaction_is_rolled_back_and_its_row_locks_freed_within_seconds():
    namespaces = Namespaces()
    with namespaces as network:
        server = Postgres(network.server_address).start()
        holder = None
        try:
            url = server.create_database("dead_peer")
            with psycopg.connect(server.conninfo("dead_peer"), autocommit=True) as connection:
                connection.execute("CREATE TABLE shelf (id integer PRIMARY KEY)")
                connection.execute("INSERT INTO shelf VALUES (1)")
            host = network.host("a")
            holder = subprocess.Popen(
                [*host.prefix(), sys.executable, "-c", HOLDER, url, str(DEAD_PEER_SECONDS)],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert holder.stdout.readline().strip() == "locked"

            namespaces.cut(host)
            started = time.monotonic()
            with psycopg.connect(server.conninfo("dead_peer"), autocommit=True) as connection:
                connection.execute("SET lock_timeout = '60s'")
                connection.execute("SELECT id FROM shelf WHERE id = 1 FOR UPDATE")
            waited = time.monotonic() - started
        finally:
            if holder is not None:
                holder.kill()
                holder.wait()
            server.stop()

    assert waited < 2 * DEAD_PEER_SECONDS, f"the cut host's lock was held {waited:.0f} s"
