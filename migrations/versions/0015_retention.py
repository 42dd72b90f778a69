"""forgetting: clips and ledger texts past their retention, erased staff

Revision ID: 0015_retention
Revises: 0014_audit

An alert's clip URL may be removed (null) once past RETENTION_CLIP_DAYS, and the texts and addresses its
deliveries' ledger quoted once past RETENTION_MESSAGE_DAYS; each removal is dated, and indexed with
`received_at` so the daily purge reads only what it has left to do. A user erased on request keeps their row,
under a pseudonym, with `erased_at`.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015_retention'
down_revision = '0014_audit'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.alter_column('url', existing_type=sa.String(length=2048), nullable=True)
        batch_op.add_column(sa.Column('clip_removed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('messages_removed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            'ix_alerts_clip_removed_at_received_at', ['clip_removed_at', 'received_at'], unique=False
        )
        batch_op.create_index(
            'ix_alerts_messages_removed_at_received_at', ['messages_removed_at', 'received_at'], unique=False
        )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('erased_at')
    # A removed clip cannot come back: the column only needs a value again.
    op.execute("UPDATE alerts SET url = '' WHERE url IS NULL")
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_alerts_messages_removed_at_received_at')
        batch_op.drop_index('ix_alerts_clip_removed_at_received_at')
        batch_op.drop_column('messages_removed_at')
        batch_op.drop_column('clip_removed_at')
        batch_op.alter_column('url', existing_type=sa.String(length=2048), nullable=False)
