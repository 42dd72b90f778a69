"""a shop's roster: who is on shift when, and whether the shop has a roster at all

Revision ID: 0027_roster
Revises: 0026_opening_hours

`shifts` holds each person's shifts at a shop in UTC (start included, end excluded), indexed for "who is on
shift at this shop now". `locations.roster_updated_at` is set once a roster was sent: NULL (every shop there
is) keeps telling everyone attached, as before.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0027_roster'
down_revision = '0026_opening_hours'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'shifts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('location_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['location_id'], ['locations.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('shifts', schema=None) as batch_op:
        batch_op.create_index(
            'ix_shifts_location_id_ends_at_starts_at', ['location_id', 'ends_at', 'starts_at'], unique=False
        )
        batch_op.create_index(batch_op.f('ix_shifts_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('locations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('roster_updated_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('locations', schema=None) as batch_op:
        batch_op.drop_column('roster_updated_at')
    with op.batch_alter_table('shifts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shifts_user_id'))
        batch_op.drop_index('ix_shifts_location_id_ends_at_starts_at')
    op.drop_table('shifts')
