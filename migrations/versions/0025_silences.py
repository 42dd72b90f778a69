"""silences: spans during which a shop's alerts reach nobody

Revision ID: 0025_silences
Revises: 0024_groups

A `silences` table (a shop, the labels held, none for every label, a start and an end, a comment, whether
critical alerts are held too, who made it and when, and `ended_at` when it was ended early: rows are kept),
and an alert's `silence_id`: the silence it fell in.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0025_silences'
down_revision = '0024_groups'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'silences',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('location_id', sa.Integer(), nullable=False),
        sa.Column('labels', sa.JSON(), nullable=False),
        sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('comment', sa.String(length=500), nullable=False),
        sa.Column('include_critical', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('created_by', sa.String(length=200), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ['location_id'], ['locations.id'], name=op.f('fk_silences_location_id_locations'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_silences')),
    )
    with op.batch_alter_table('silences', schema=None) as batch_op:
        batch_op.create_index('ix_silences_location_id_ends_at', ['location_id', 'ends_at'], unique=False)
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('silence_id', sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f('ix_alerts_silence_id'), ['silence_id'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_alerts_silence_id_silences'), 'silences', ['silence_id'], ['id'], ondelete='SET NULL'
        )


def downgrade():
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_alerts_silence_id_silences'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_alerts_silence_id'))
        batch_op.drop_column('silence_id')
    op.drop_table('silences')
