"""attempts recorded before the request leaves

Revision ID: 0007
Revises: 0006

An attempt row is written as `in_flight` before its request goes out and completed when it ends; one whose
worker died stays without an end and is marked `unknown`. So its end and latency may be empty.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('delivery_attempts', schema=None) as batch_op:
        batch_op.alter_column('finished_at', existing_type=sa.DateTime(timezone=True), nullable=True)
        batch_op.alter_column('latency_ms', existing_type=sa.Double(), nullable=True)


def downgrade():
    op.execute("DELETE FROM delivery_attempts WHERE finished_at IS NULL OR latency_ms IS NULL")
    with op.batch_alter_table('delivery_attempts', schema=None) as batch_op:
        batch_op.alter_column('latency_ms', existing_type=sa.Double(), nullable=False)
        batch_op.alter_column('finished_at', existing_type=sa.DateTime(timezone=True), nullable=False)
