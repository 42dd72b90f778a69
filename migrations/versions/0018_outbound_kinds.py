"""one outbound record for everything sent

Revision ID: 0018_outbound_kinds
Revises: 0017_outcome_history

A delivery gets a kind (alert, vendor_event, claim_notice, device_notice): vendor events and notices are
outbound records the delivery engine runs, like the alerts' deliveries. A vendor event has no user and a
device notice no alert, so both columns may be null; the unique constraint includes the kind. The vendor
events already stored move into deliveries under the same ids (the vendor's webhook-id of a retried event
stays the same), and outcome_events goes.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018_outbound_kinds'
down_revision = '0017_outcome_history'
branch_labels = None
depends_on = None

KINDS = ('alert', 'vendor_event', 'claim_notice', 'device_notice')
EVENT_STATUSES = ('pending', 'sending', 'sent', 'failed')


def _kind_type():
    return sa.Enum(*KINDS, name='deliverykind', native_enum=False, length=16)


def _events_table():
    return sa.table(
        'outcome_events',
        sa.column('id'),
        sa.column('alert_id'),
        sa.column('status'),
        sa.column('attempts'),
        sa.column('last_error'),
        sa.column('created_at'),
        sa.column('next_attempt_at'),
        sa.column('lease_expires_at'),
        sa.column('sent_at'),
    )


def _deliveries_table():
    return sa.table(
        'deliveries',
        sa.column('id'),
        sa.column('kind'),
        sa.column('alert_id'),
        sa.column('user_id'),
        sa.column('channel'),
        sa.column('contact_point_id'),
        sa.column('status'),
        sa.column('attempts'),
        sa.column('last_error'),
        sa.column('created_at'),
        sa.column('updated_at'),
        sa.column('sent_at'),
        sa.column('next_attempt_at'),
        sa.column('lease_expires_at'),
        sa.column('retry_round'),
        sa.column('enqueue_count'),
        sa.column('escalation_step'),
    )


def upgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', _kind_type(), server_default='alert', nullable=False))
        batch_op.alter_column('alert_id', existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column('user_id', existing_type=sa.Integer(), nullable=True)
        batch_op.drop_constraint('uq_deliveries_alert_user_point', type_='unique')
        batch_op.create_unique_constraint(
            'uq_deliveries_alert_user_point_kind',
            ['alert_id', 'user_id', 'channel', 'contact_point_id', 'kind'],
        )

    events, deliveries = _events_table(), _deliveries_table()
    # A pending event waits for its time (a retry) as a scheduled delivery does; the sweeper queues both.
    status = sa.case(
        (sa.and_(events.c.status == 'pending', events.c.next_attempt_at.is_not(None)), 'scheduled'),
        else_=events.c.status,
    )
    op.execute(
        deliveries.insert().from_select(
            [
                'id', 'kind', 'alert_id', 'user_id', 'channel', 'contact_point_id', 'status', 'attempts',
                'last_error', 'created_at', 'updated_at', 'sent_at', 'next_attempt_at', 'lease_expires_at',
                'retry_round', 'enqueue_count', 'escalation_step',
            ],
            sa.select(
                events.c.id,
                sa.literal('vendor_event'),
                events.c.alert_id,
                sa.null(),
                sa.literal('vendor'),
                sa.literal(0),
                status,
                events.c.attempts,
                events.c.last_error,
                events.c.created_at,
                events.c.created_at,
                events.c.sent_at,
                events.c.next_attempt_at,
                events.c.lease_expires_at,
                events.c.attempts,
                sa.literal(0),
                sa.literal(0),
            ),
        )
    )
    with op.batch_alter_table('outcome_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outcome_events_next_attempt_at'))
        batch_op.drop_index(batch_op.f('ix_outcome_events_alert_id'))
    op.drop_table('outcome_events')


def downgrade():
    op.create_table(
        'outcome_events',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('alert_id', sa.Integer(), nullable=False),
        sa.Column(
            'status',
            sa.Enum(*EVENT_STATUSES, name='outcomeeventstatus', native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ['alert_id'], ['alerts.id'], name=op.f('fk_outcome_events_alert_id_alerts'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_outcome_events')),
    )
    with op.batch_alter_table('outcome_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outcome_events_alert_id'), ['alert_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outcome_events_next_attempt_at'), ['next_attempt_at'], unique=False)

    events, deliveries = _events_table(), _deliveries_table()
    vendor = deliveries.c.kind == 'vendor_event'
    status = sa.case(
        (deliveries.c.status.in_(('sending', 'sent', 'failed')), deliveries.c.status),
        (deliveries.c.status == 'expired', 'failed'),
        else_='pending',
    )
    # A waiting event was due at once or at its retry; the old sweep needs a time to queue it.
    due = sa.func.coalesce(deliveries.c.next_attempt_at, deliveries.c.created_at)
    op.execute(
        events.insert().from_select(
            [
                'id', 'alert_id', 'status', 'attempts', 'last_error', 'created_at', 'next_attempt_at',
                'lease_expires_at', 'sent_at',
            ],
            sa.select(
                deliveries.c.id,
                deliveries.c.alert_id,
                status,
                deliveries.c.attempts,
                sa.func.substr(deliveries.c.last_error, 1, 500),
                deliveries.c.created_at,
                due,
                deliveries.c.lease_expires_at,
                deliveries.c.sent_at,
            ).where(vendor, deliveries.c.alert_id.is_not(None)),
        )
    )
    # Notices have no place in the old schema: they go, with their ledger.
    attempts = sa.table('delivery_attempts', sa.column('delivery_id'))
    others = sa.select(deliveries.c.id).where(deliveries.c.kind != 'alert')
    op.execute(attempts.delete().where(attempts.c.delivery_id.in_(others)))
    op.execute(deliveries.delete().where(deliveries.c.kind != 'alert'))
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_constraint('uq_deliveries_alert_user_point_kind', type_='unique')
        batch_op.create_unique_constraint(
            'uq_deliveries_alert_user_point', ['alert_id', 'user_id', 'channel', 'contact_point_id']
        )
        batch_op.alter_column('user_id', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('alert_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('kind')
