"""index alerts by received_at

Revision ID: 0005
Revises: 0004

The ops page lists the newest alerts and every metrics scrape counts the alerts of the last 7 days per
location; without this index both read the whole table.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alerts_received_at'), ['received_at'], unique=False)


def downgrade():
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alerts_received_at'))
