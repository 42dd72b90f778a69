"""claim follow-ups, as each shop chooses

Revision ID: 0012
Revises: 0011

Once someone is on an alert, the others whose message cannot be edited (SMS, email, Teams, webhook) get a
short follow-up where their shop chose so; nothing otherwise.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('locations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claim_follow_up', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('locations', schema=None) as batch_op:
        batch_op.drop_column('claim_follow_up')
