"""native push: why a contact point was turned off, and receipts from the device

Revision ID: 0013
Revises: 0012

A push service that says a subscription or a device token is gone turns its contact point off, with the
reason and when. A delivery gains `delivered_at` and `seen_at`, reported by the phone (service worker or
app): engagement facts beside `sent_at`.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('contact_points', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disabled_reason', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('seen_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('seen_at')
        batch_op.drop_column('delivered_at')
    with op.batch_alter_table('contact_points', schema=None) as batch_op:
        batch_op.drop_column('disabled_at')
        batch_op.drop_column('disabled_reason')
