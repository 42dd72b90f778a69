"""alert claims and outcomes

Revision ID: 0008
Revises: 0007

Staff say "I'm on it" (the first claim wins) and record what happened: an outcome, the value recovered and a
note, with who and when.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

OUTCOMES = sa.Enum(
    'theft_stopped', 'theft_not_stopped', 'false_alarm', 'not_found', name='outcome', native_enum=False, length=20
)


def upgrade():
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('outcome', OUTCOMES, nullable=True))
        batch_op.add_column(sa.Column('outcome_value_cents', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('outcome_note', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('outcome_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('outcome_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_alerts_claimed_by_id_users'), 'users', ['claimed_by_id'], ['id'], ondelete='SET NULL'
        )
        batch_op.create_foreign_key(
            batch_op.f('fk_alerts_outcome_by_id_users'), 'users', ['outcome_by_id'], ['id'], ondelete='SET NULL'
        )


def downgrade():
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_alerts_outcome_by_id_users'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_alerts_claimed_by_id_users'), type_='foreignkey')
        for column in (
            'outcome_at', 'outcome_by_id', 'outcome_note', 'outcome_value_cents', 'outcome', 'claimed_at',
            'claimed_by_id',
        ):
            batch_op.drop_column(column)
