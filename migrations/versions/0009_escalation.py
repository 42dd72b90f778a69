"""escalation

Revision ID: 0009
Revises: 0008

A critical alert nobody claims within its shop's `escalate_after` goes to the shop's next tier: the tiers,
each alert's step and when the next is due, the history of its steps, and each delivery's step.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'escalation_tiers',
        sa.Column('location_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('tier', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ['location_id'], ['locations.id'], name=op.f('fk_escalation_tiers_location_id_locations'),
            ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['user_id'], ['users.id'], name=op.f('fk_escalation_tiers_user_id_users'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('location_id', 'user_id', name=op.f('pk_escalation_tiers')),
    )
    op.create_table(
        'alert_escalations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('alert_id', sa.Integer(), nullable=False),
        sa.Column('step', sa.Integer(), nullable=False),
        sa.Column('tier', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('reason', sa.String(length=200), nullable=False),
        sa.Column('deliveries', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ['alert_id'], ['alerts.id'], name=op.f('fk_alert_escalations_alert_id_alerts'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_escalations')),
    )
    with op.batch_alter_table('alert_escalations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_escalations_alert_id'), ['alert_id'], unique=False)
    with op.batch_alter_table('locations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('escalate_after', sa.Double(), server_default='60', nullable=False))
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('escalation_step', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('next_escalation_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_alerts_next_escalation_at'), ['next_escalation_at'], unique=False)
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('escalation_step', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('escalation_step')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alerts_next_escalation_at'))
        batch_op.drop_column('next_escalation_at')
        batch_op.drop_column('escalation_step')
    with op.batch_alter_table('locations', schema=None) as batch_op:
        batch_op.drop_column('escalate_after')
    with op.batch_alter_table('alert_escalations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_escalations_alert_id'))
    op.drop_table('alert_escalations')
    op.drop_table('escalation_tiers')
