"""What a notification on a phone carries, whichever push service brings it (Web Push, FCM)."""

from nootification.senders.base import Message

# What a phone shows of a notification, in characters: a title and a few lines (the page holds the rest).
NOTIFICATION_MAX_SUBJECT = 120
NOTIFICATION_MAX_BODY = 500


def receipt_url(service_url: str, delivery_id: str) -> str:
    """Where the phone reports that the notification arrived and was opened."""
    return f"{service_url}/deliveries/{delivery_id}/receipt"


def notification_fields(message: Message, service_url: str) -> dict:
    """The notification's title and body, the alert, its recipient, the action link and the receipt URL."""
    return {
        "title": message.subject,
        "body": message.body,
        "alert_uuid": message.alert_uuid,
        "delivery_id": message.delivery_id,
        "user_uuid": message.user_uuid,
        "severity": message.severity,
        "location": message.location,
        "label": message.label,
        "time_spotted": message.time_spotted,
        "video_url": message.url,
        "action_url": message.action_url,
        "receipt_url": receipt_url(service_url, message.delivery_id),
    }


def seconds_to_live(message: Message, now: float, longest: int) -> int:
    """How long a push service should keep the message: the alert's remaining freshness, within `longest`."""
    remaining = longest if message.expires_at is None else message.expires_at - now
    return max(0, min(longest, int(remaining)))
