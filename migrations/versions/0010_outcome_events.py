"""outcome events for the camera vendor

Revision ID: 0010
Revises: 0009

Each outcome staff record is told to the camera vendor as a signed Standard Webhooks event: durable (written
with the outcome) and retried until sent.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'outcome_events',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('alert_id', sa.Integer(), nullable=False),
        sa.Column(
            'status',
            sa.Enum('pending', 'sending', 'sent', 'failed', name='outcomeeventstatus', native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ['alert_id'], ['alerts.id'], name=op.f('fk_outcome_events_alert_id_alerts'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_outcome_events')),
    )
    with op.batch_alter_table('outcome_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outcome_events_alert_id'), ['alert_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outcome_events_next_attempt_at'), ['next_attempt_at'], unique=False)


def downgrade():
    with op.batch_alter_table('outcome_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outcome_events_next_attempt_at'))
        batch_op.drop_index(batch_op.f('ix_outcome_events_alert_id'))
    op.drop_table('outcome_events')
