"""`/docs/assets/...`: Swagger UI 5's files, served from the flask-swagger-ui package (no outside host)."""

from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, send_from_directory

from nootification.extensions import limiter

# Swagger UI 5 reads OpenAPI 3.1; we serve the files the package ships, not its blueprint.
SWAGGER_UI_DIST = Path(flask_swagger_ui.__file__).parent / "dist"

blp = Blueprint("docs_assets", __name__, url_prefix="/docs/assets")
limiter.exempt(blp)


@blp.route("/<path:filename>")
def asset(filename: str):
    """One Swagger UI file."""
    return send_from_directory(SWAGGER_UI_DIST, filename, max_age=3600)
