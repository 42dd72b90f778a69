"""`/docs/assets/...`: Swagger UI's files, served from the swagger-ui-bundle package (no outside host)."""

from flask import Blueprint, send_from_directory
from swagger_ui_bundle import swagger_ui_path

from nootification.extensions import limiter

blp = Blueprint("docs_assets", __name__, url_prefix="/docs/assets")
limiter.exempt(blp)


@blp.route("/<path:filename>")
def asset(filename: str):
    """One Swagger UI file."""
    return send_from_directory(swagger_ui_path, filename, max_age=3600)
