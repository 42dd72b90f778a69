"""The staff wing's kinds of outbound record, told to the delivery engine (called by the app factory)."""

from nootification.delivery.kinds import register_kind
from nootification.models import DeliveryKind
from nootification.staff import claim_notices, device_notices, sms_replies, summaries, vendor_events


def register_kinds() -> None:
    """Give the engine the message builder of each kind the staff wing sends (and the vendor events' cap)."""
    register_kind(
        DeliveryKind.VENDOR_EVENT,
        vendor_events.build_message,
        max_rounds_setting="OUTCOME_EVENT_MAX_ATTEMPTS",
    )
    register_kind(DeliveryKind.CLAIM_NOTICE, claim_notices.build_message)
    register_kind(DeliveryKind.DEVICE_NOTICE, device_notices.build_message)
    register_kind(DeliveryKind.SMS_ANSWER, sms_replies.build_message)
    register_kind(DeliveryKind.SUMMARY, summaries.build_message)
