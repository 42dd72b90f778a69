"""outcome history

Revision ID: 0017_outcome_history
Revises: 0016_devices

Each outcome recorded on an alert is kept as a record (who, what, value, note, when): a correction adds one,
so the earlier values stay. The outcomes already stored become the first record of their alert.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017_outcome_history'
down_revision = '0016_devices'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'outcome_records',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('alert_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('token_id', sa.Integer(), nullable=True),
        sa.Column(
            'outcome',
            sa.Enum(
                'theft_stopped', 'theft_not_stopped', 'false_alarm', 'not_found',
                name='outcome', native_enum=False, length=20,
            ),
            nullable=False,
        ),
        sa.Column('value_cents', sa.BigInteger(), nullable=True),
        sa.Column('note', sa.String(length=500), nullable=True),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['alert_id'], ['alerts.id'], name=op.f('fk_outcome_records_alert_id_alerts'), ondelete='CASCADE'
        ),
        sa.ForeignKeyConstraint(
            ['token_id'], ['api_tokens.id'], name=op.f('fk_outcome_records_token_id_api_tokens'),
            ondelete='SET NULL',
        ),
        sa.ForeignKeyConstraint(
            ['user_id'], ['users.id'], name=op.f('fk_outcome_records_user_id_users'), ondelete='SET NULL'
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_outcome_records')),
    )
    with op.batch_alter_table('outcome_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outcome_records_alert_id'), ['alert_id'], unique=False)
    op.execute(
        "INSERT INTO outcome_records (alert_id, user_id, outcome, value_cents, note, recorded_at) "
        "SELECT id, outcome_by_id, outcome, outcome_value_cents, outcome_note, outcome_at FROM alerts "
        "WHERE outcome IS NOT NULL AND outcome_at IS NOT NULL ORDER BY id"
    )


def downgrade():
    with op.batch_alter_table('outcome_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outcome_records_alert_id'))
    op.drop_table('outcome_records')
