"""staff's SMS replies to alert SMS

Revision ID: 0020_sms_replies
Revises: 0019_sms_status

An SMS a member of staff sends back (1: I'm on it, 2-5: what happened) is kept once by Twilio's MessageSid,
with what it did and the answer sent back (an outbound record of the new kind `sms_answer`; the kind column
has no CHECK constraint, so the new value needs no change there).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0020_sms_replies'
down_revision = '0019_sms_status'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'sms_replies',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('message_sid', sa.String(length=64), nullable=False),
        sa.Column('from_number', sa.String(length=32), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('alert_id', sa.Integer(), nullable=True),
        sa.Column('result', sa.String(length=16), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('answer_id', sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('message_sid'),
    )
    with op.batch_alter_table('sms_replies', schema=None) as batch_op:
        batch_op.create_index('ix_sms_replies_answer_id', ['answer_id'], unique=False)
        batch_op.create_index('ix_sms_replies_user_id', ['user_id'], unique=False)
        batch_op.create_index(
            'ix_sms_replies_from_number_received_at', ['from_number', 'received_at'], unique=False
        )


def downgrade():
    op.drop_table('sms_replies')
