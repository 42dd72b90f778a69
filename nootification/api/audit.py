"""`/audit`: every administrative change, who made it and from where (admin)."""

from flask_smorest import Blueprint

from nootification.api.schemas.audit import AuditPageSchema, AuditQuerySchema
from nootification.auth import require_scope
from nootification.services import audit
from nootification.services.tokens import ADMIN

blp = Blueprint("audit", __name__, url_prefix="/audit", description="The audit log of changes (admin)")
blp.before_request(require_scope(ADMIN))


@blp.route("", methods=["GET"], strict_slashes=False)
@blp.arguments(AuditQuerySchema, location="query")
@blp.response(200, AuditPageSchema)
def list_audit(filters: dict):
    """Changes, newest first: filter by target_type, target_id, action, since/until; paginated."""
    return audit.list_entries(**filters)
