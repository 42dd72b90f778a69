"""the staff's own language: a shop's locale, a person's only when they chose one

Revision ID: 0023_locale
Revises: 0022_voice

A shop gets a `locale` (BCP 47, "en" for the shops there are). A user's `locale` becomes nullable: NULL
means "the language of the shop whose alert they are told of". "en" was the column's default, so a stored
"en" cannot be told from "never chosen": those rows become NULL, which changes nothing on the day (every
shop is "en" after this migration) and lets them follow their shop from then on; any other value was
chosen and stays. Downgrading writes "en" back where it is NULL.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0023_locale'
down_revision = '0022_voice'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('locations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=35), server_default='en', nullable=False))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column(
            'locale', existing_type=sa.String(length=16), nullable=True, server_default=None
        )
    op.execute("UPDATE users SET locale = NULL WHERE locale = 'en'")


def downgrade():
    op.execute("UPDATE users SET locale = 'en' WHERE locale IS NULL")
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column(
            'locale', existing_type=sa.String(length=16), nullable=False, server_default='en'
        )
    with op.batch_alter_table('locations', schema=None) as batch_op:
        batch_op.drop_column('locale')
