"""What the providers' HTTP paths share: the stub's own JSON error, a JSON body, a text answer, a refusal."""

from typing import Any

from flask import Response, jsonify, request
from werkzeug.http import HTTP_STATUS_CODES


def json_error(code: int, message: str, errors: dict[str, list[str]] | None = None) -> Response:
    """The stub's own error: {code, status, message, errors?} with status `code`."""
    body: dict[str, Any] = {"code": code, "status": HTTP_STATUS_CODES[code], "message": message}
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = code
    return response


def text_response(text: str, status: int = 200) -> Response:
    """A plain-text answer, as webhooks give."""
    return Response(text, status=status, mimetype="text/plain")


def json_object() -> dict[str, Any] | None:
    """The request's JSON body if it is an object, else None."""
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else None


class Refused(Exception):
    """A provider's refusal found by a check deep in a request: the view answers with its response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def answer_refusal(refused: Refused) -> Response:
    """The response a Refused carries."""
    return refused.response
