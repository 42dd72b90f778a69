"""`GET /webpush/vapid-public-key`: the key a browser subscribes with to receive this server's Web Push."""

from flask_smorest import Blueprint

from nootification.api.schemas.web_push import VapidPublicKeySchema
from nootification.staff.web_push import vapid_public_key

blp = Blueprint("web_push", __name__, url_prefix="/webpush", description="Web Push for the staff page")


@blp.route("/vapid-public-key", methods=["GET"])
@blp.response(200, VapidPublicKeySchema)
@blp.alt_response(404, description="Web Push is not configured on this server.")
def read_vapid_public_key():
    """The VAPID public key (`applicationServerKey` for `pushManager.subscribe`); public, as it must be."""
    return {"public_key": vapid_public_key()}
