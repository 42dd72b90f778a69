"""the provider's id of each message sent

Revision ID: 0011
Revises: 0010

Slack's "<channel>:<ts>" and Telegram's "<chat>:<message id>", kept with the attempt that sent the message,
so that once someone is on the alert, the others' messages can be edited to say who.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('delivery_attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('provider_ref', sa.String(length=128), nullable=True))


def downgrade():
    with op.batch_alter_table('delivery_attempts', schema=None) as batch_op:
        batch_op.drop_column('provider_ref')
