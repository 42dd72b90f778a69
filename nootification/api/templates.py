"""`/templates`: the text of each message, per label, channel and locale (admin)."""

from flask_smorest import Blueprint

from nootification.api.schemas.templates import (
    RenderedSchema,
    TemplatePreviewInSchema,
    TemplateSchema,
    TemplateUpdateSchema,
)
from nootification.auth import require_scope
from nootification.services import templates
from nootification.services.tokens import ADMIN

blp = Blueprint("templates", __name__, url_prefix="/templates", description="Message templates (admin)")
blp.before_request(require_scope(ADMIN))


@blp.route("", methods=["GET"], strict_slashes=False)
@blp.response(200, TemplateSchema(many=True))
def list_templates():
    """Every stored template (shipped defaults apply where none matches)."""
    return templates.list_templates()


@blp.route("", methods=["POST"], strict_slashes=False)
@blp.arguments(TemplateSchema)
@blp.response(201, TemplateSchema)
@blp.alt_response(409, description="A template for this label, channel and locale exists.")
@blp.alt_response(422, description="A field is invalid, or the template does not render.")
def create_template(template: dict):
    """Store a Jinja2 template (sandboxed); one that fails to render with sample values is refused.

    A repetition or power whose result would be huge is refused while rendering. At send time each channel
    cuts the rendered subject and body to its provider's limit, and a template that fails on an alert's
    real values gives way to the built-in one for that message, with a logged warning.
    """
    return templates.create_template(**template)


@blp.route("/<int(max=2147483647):template_id>", methods=["GET"])
@blp.response(200, TemplateSchema)
@blp.alt_response(404, description="No template with this id.")
def read_template(template_id: int):
    """One template."""
    return templates.get_template(template_id)


@blp.route("/<int(max=2147483647):template_id>", methods=["PATCH"])
@blp.arguments(TemplateUpdateSchema)
@blp.response(200, TemplateSchema)
@blp.alt_response(404, description="No template with this id.")
@blp.alt_response(422, description="The template does not render.")
def update_template(changes: dict, template_id: int):
    """Change a template's subject or body."""
    return templates.update_template(template_id, **changes)


@blp.route("/<int(max=2147483647):template_id>", methods=["DELETE"])
@blp.response(204)
@blp.alt_response(404, description="No template with this id.")
def delete_template(template_id: int):
    """Remove a template."""
    templates.delete_template(template_id)


@blp.route("/<int(max=2147483647):template_id>/render", methods=["POST"])
@blp.arguments(TemplatePreviewInSchema)
@blp.response(200, RenderedSchema)
@blp.alt_response(404, description="No template, or no alert with this uuid.")
@blp.alt_response(422, description="The template fails with these values.")
def render_template(values: dict, template_id: int):
    """Preview a template with a stored alert's values (`alert_uuid`) or sample values."""
    alert_uuid = str(values["alert_uuid"]) if values["alert_uuid"] else None
    return templates.preview(template_id, alert_uuid)
