"""location names as the video-analytics system sends them, up to 255 characters

Revision ID: 0006
Revises: 0005

A shop's name is whatever the camera system sends (spaces, accents, apostrophes, &): the API no longer
restricts its characters, and it may be up to 255 characters long. Its display name, the name by default, too.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('locations', schema=None) as batch_op:
        batch_op.alter_column('name', existing_type=sa.String(length=128), type_=sa.String(length=255),
                              existing_nullable=False)
        batch_op.alter_column('display_name', existing_type=sa.String(length=200), type_=sa.String(length=255),
                              existing_nullable=False)


def downgrade():
    with op.batch_alter_table('locations', schema=None) as batch_op:
        batch_op.alter_column('display_name', existing_type=sa.String(length=255), type_=sa.String(length=200),
                              existing_nullable=False)
        batch_op.alter_column('name', existing_type=sa.String(length=255), type_=sa.String(length=128),
                              existing_nullable=False)
