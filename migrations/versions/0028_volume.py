"""deliveries by status, newest first: one index on (status, created_at) in place of the one on status; a
shop's staff through an index on user_locations.location_id; a person's claims and outcomes through indexes
on the columns that name them

Revision ID: 0028_volume
Revises: 0027_roster

With a year of a chain's history (20 million deliveries) the dead-letter list (`GET /deliveries?status=failed`,
newest first) sorted every failed delivery ever made, and each metrics scrape read them all to count the last
day's: seconds each. The pair reads them newest first and a day's worth only; it serves whatever the index on
status served alone, so that one goes. On PostgreSQL both are built and dropped concurrently: deliveries keep
being written while the index builds.

Each alert reads its shop's staff from user_locations, whose key leads with the user: with a chain's 60,000
staff, every alert's routing and `GET /users?location=` read the whole table.

Erasing a person (`DELETE /users/<uuid>`) clears the alerts they claimed or closed and their outcome records
through foreign keys no index served: each erasure read all 2 million alerts.
"""

from alembic import op


# revision identifiers, used by Alembic.
revision = "0028_volume"
down_revision = "0027_roster"
branch_labels = None
depends_on = None

PERSON_COLUMNS = (("alerts", "claimed_by_id"), ("alerts", "outcome_by_id"), ("outcome_records", "user_id"))


def upgrade():
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_deliveries_status_created_at",
            "deliveries",
            ["status", "created_at"],
            unique=False,
            postgresql_concurrently=True,
        )
        op.drop_index("ix_deliveries_status", table_name="deliveries", postgresql_concurrently=True)
        op.create_index(
            "ix_user_locations_location_id",
            "user_locations",
            ["location_id"],
            unique=False,
            postgresql_concurrently=True,
        )
        for table, column in PERSON_COLUMNS:
            op.create_index(
                f"ix_{table}_{column}", table, [column], unique=False, postgresql_concurrently=True
            )


def downgrade():
    with op.get_context().autocommit_block():
        for table, column in PERSON_COLUMNS:
            op.drop_index(f"ix_{table}_{column}", table_name=table, postgresql_concurrently=True)
        op.drop_index(
            "ix_user_locations_location_id", table_name="user_locations", postgresql_concurrently=True
        )
        op.create_index(
            "ix_deliveries_status", "deliveries", ["status"], unique=False, postgresql_concurrently=True
        )
        op.drop_index(
            "ix_deliveries_status_created_at", table_name="deliveries", postgresql_concurrently=True
        )
