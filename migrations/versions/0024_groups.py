"""alert groups: a burst of one label told once, a closed shop's alerts summed up at its opening

Revision ID: 0024_groups
Revises: 0023_locale

A shop's `group_window_seconds` (None: the service's default); `alert_groups` (a burst of one label, or a
closed shop's standard alerts), each alert's `group_id`. A group's summary to a person is an outbound record of
the kind `summary` (the kind column holds plain strings: no constraint to change).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0024_groups'
down_revision = '0023_locale'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('locations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('group_window_seconds', sa.Integer(), nullable=True))
    op.create_table(
        'alert_groups',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('location_id', sa.Integer(), nullable=False),
        sa.Column('reason', sa.Enum('burst', 'closed', name='groupreason', native_enum=False, length=16),
                  nullable=False),
        sa.Column('label', sa.String(length=64), nullable=True),
        sa.Column('first_alert_id', sa.Integer(), nullable=True),
        sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('closes_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_alert_groups_location_id_locations'),
                                ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_groups')),
    )
    op.create_index('ix_alert_groups_open', 'alert_groups', ['location_id', 'reason', 'label', 'closes_at'])
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('group_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_alerts_group_id'), ['group_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_alerts_group_id_alert_groups'), 'alert_groups', ['group_id'], ['id'])


def downgrade():
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_alerts_group_id_alert_groups'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_alerts_group_id'))
        batch_op.drop_column('group_id')
    op.drop_index('ix_alert_groups_open', table_name='alert_groups')
    op.drop_table('alert_groups')
    with op.batch_alter_table('locations', schema=None) as batch_op:
        batch_op.drop_column('group_window_seconds')
