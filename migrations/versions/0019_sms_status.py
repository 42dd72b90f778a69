"""the provider's receipt of an SMS on its attempt

Revision ID: 0019_sms_status
Revises: 0018_outbound_kinds

Twilio's status callback (delivered, undelivered or failed, with its error code) is kept on the attempt that
sent the message, found by the message SID the attempt kept as its provider reference.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0019_sms_status'
down_revision = '0018_outbound_kinds'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('delivery_attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('provider_status', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('provider_error_code', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('provider_status_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_delivery_attempts_provider_ref', ['provider_ref'], unique=False)


def downgrade():
    with op.batch_alter_table('delivery_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_delivery_attempts_provider_ref')
        batch_op.drop_column('provider_status_at')
        batch_op.drop_column('provider_error_code')
        batch_op.drop_column('provider_status')
