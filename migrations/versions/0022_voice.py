"""voice calls: a number's failed calls in a row and its pause

Revision ID: 0022_voice
Revises: 0021_ladder

A phone number that keeps failing (VOICE_PAUSE_AFTER_FAILURES calls in a row ending `failed`) is called no
more until `paused_until`. A call's final status is kept on its attempt's existing provider_status columns.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0022_voice'
down_revision = '0021_ladder'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'voice_pauses',
        sa.Column('number', sa.String(length=32), nullable=False),
        sa.Column('failed_in_row', sa.Integer(), server_default='0', nullable=False),
        sa.Column('paused_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('number'),
    )


def downgrade():
    op.drop_table('voice_pauses')
