"""a shop's opening hours, closure dates and off-hours tier

Revision ID: 0026_opening_hours
Revises: 0025_silences

A shop gets `opening_hours` (NULL: always open, which every shop there is stays), `closures` (a JSON list of
dates, empty) and `off_hours_members`: the people its critical alerts reach while it is closed.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0026_opening_hours'
down_revision = '0025_silences'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('locations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('opening_hours', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('closures', sa.JSON(), server_default='[]', nullable=False))
    op.create_table(
        'off_hours_members',
        sa.Column('location_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ['location_id'], ['locations.id'], name=op.f('fk_off_hours_members_location_id_locations'),
            ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['user_id'], ['users.id'], name=op.f('fk_off_hours_members_user_id_users'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('location_id', 'user_id', name=op.f('pk_off_hours_members')),
    )


def downgrade():
    op.drop_table('off_hours_members')
    with op.batch_alter_table('locations', schema=None) as batch_op:
        batch_op.drop_column('closures')
        batch_op.drop_column('opening_hours')
