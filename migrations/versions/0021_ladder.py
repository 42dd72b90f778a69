"""a fallback ladder per shop

Revision ID: 0021_ladder
Revises: 0020_sms_replies

A shop's `ladder` (JSON: its steps, each after so many seconds on some channels); each delivery keeps the
step it is; an alert keeps the highest step that went out and when. A later step waits as a `scheduled`
delivery and ends `cancelled` when someone acted first (a status column of plain strings: no constraint to
change).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0021_ladder'
down_revision = '0020_sms_replies'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('locations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ladder', sa.JSON(), nullable=True))
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ladder_step', sa.Integer(), server_default='0', nullable=False))
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ladder_step', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('ladder_step_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_column('ladder_step_at')
        batch_op.drop_column('ladder_step')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('ladder_step')
    with op.batch_alter_table('locations', schema=None) as batch_op:
        batch_op.drop_column('ladder')
