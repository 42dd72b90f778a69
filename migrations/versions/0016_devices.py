"""devices: one contact point per phone, one delivery per phone

Revision ID: 0016_devices
Revises: 0015_retention

A user may register several devices on a device channel (FCM, Web Push): contact points are unique on
(user, channel, address) instead of (user, channel). A delivery on a device channel names its device's contact
point (`contact_point_id`; 0 on the other channels), and is unique on (alert, user, channel, point). The
deliveries already made to a device are tied to the one point their user had on that channel.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0016_devices"
down_revision = "0015_retention"
branch_labels = None
depends_on = None

DEVICE_CHANNELS = ("fcm", "webpush")


def upgrade():
    with op.batch_alter_table("contact_points", schema=None) as batch_op:
        batch_op.drop_constraint("uq_contact_points_user_channel", type_="unique")
        batch_op.create_unique_constraint(
            "uq_contact_points_user_channel_address", ["user_id", "channel", "address"]
        )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contact_point_id", sa.Integer(), server_default="0", nullable=False))
    deliveries, points = (
        sa.table("deliveries", sa.column("user_id"), sa.column("channel"), sa.column("contact_point_id")),
        sa.table("contact_points", sa.column("id"), sa.column("user_id"), sa.column("channel")),
    )
    point = (
        sa.select(points.c.id)
        .where(points.c.user_id == deliveries.c.user_id, points.c.channel == deliveries.c.channel)
        .scalar_subquery()
    )
    op.execute(
        sa.update(deliveries)
        .where(deliveries.c.channel.in_(DEVICE_CHANNELS))
        .values(contact_point_id=sa.func.coalesce(point, 0))
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_constraint("uq_deliveries_alert_user_channel", type_="unique")
        batch_op.create_unique_constraint(
            "uq_deliveries_alert_user_point", ["alert_id", "user_id", "channel", "contact_point_id"]
        )


def downgrade():
    # One point and one delivery per channel again: the newest device of each user stays.
    op.execute(
        "DELETE FROM contact_points WHERE id NOT IN "
        "(SELECT max(id) FROM contact_points GROUP BY user_id, channel)"
    )
    op.execute(
        "DELETE FROM deliveries WHERE id NOT IN (SELECT max(d.id) FROM deliveries d "
        "GROUP BY d.alert_id, d.user_id, d.channel)"
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_constraint("uq_deliveries_alert_user_point", type_="unique")
        batch_op.create_unique_constraint(
            "uq_deliveries_alert_user_channel", ["alert_id", "user_id", "channel"]
        )
        batch_op.drop_column("contact_point_id")
    with op.batch_alter_table("contact_points", schema=None) as batch_op:
        batch_op.drop_constraint("uq_contact_points_user_channel_address", type_="unique")
        batch_op.create_unique_constraint("uq_contact_points_user_channel", ["user_id", "channel"])
