"""Web Push on the server's side of the browser: the VAPID public key to subscribe with, and subscriptions."""

import logging
from functools import lru_cache

from cryptography.hazmat.primitives.asymmetric import ec

from nootification.config import read_secret
from nootification.errors import NotFound
from nootification.models import ContactPoint, User
from nootification.senders.webpush import application_server_key, b64url_encode
from nootification.services.contacts import WEB_PUSH
from nootification.staff.devices import add_device

log = logging.getLogger(__name__)


def vapid_public_key() -> str:
    """The application server key browsers subscribe with; 404 when Web Push is not configured."""
    private_key = read_secret("WEBPUSH_VAPID_PRIVATE_KEY")
    if not private_key:
        raise NotFound("Web Push is not configured on this server.")
    return _public_key(private_key)


@lru_cache(maxsize=4)
def _public_key(private_key: str) -> str:
    try:
        return application_server_key(private_key)
    except ValueError:
        log.error("WEBPUSH_VAPID_PRIVATE_KEY is not a P-256 private key: Web Push is off")
        raise NotFound("Web Push is not configured on this server.") from None


def new_private_key() -> str:
    """A new VAPID private key: a P-256 private scalar, base64url, as WEBPUSH_VAPID_PRIVATE_KEY takes it."""
    key = ec.generate_private_key(ec.SECP256R1())
    return b64url_encode(key.private_numbers().private_value.to_bytes(32, "big"))


def subscribe(user: User, subscription: dict) -> ContactPoint:
    """Keep a browser's push subscription as a Web Push contact point of the user, one per subscription.

    Through a staff link: a point that was turned off (by an admin, or because its push service said it is
    gone) stays off; only an admin or the user's own token turns it back on.
    """
    vapid_public_key()  # a subscription to a server that cannot push would never be used
    return add_device(
        user.user_uuid,
        WEB_PUSH,
        address=subscription["endpoint"],
        options=dict(subscription["keys"]),
        turn_on=False,
    )
