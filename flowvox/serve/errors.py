"""Errors the way OpenAI's API returns them: a status code and one JSON shape.

    {"error": {"message": "...", "type": "invalid_request_error", "param": "voice",
               "code": "voice_not_found"}}

``APIError`` is raised anywhere in a request; ``error_response`` writes it. No traceback
ever reaches a client: an unexpected exception becomes a 500 with the request id, and the
traceback goes to the server's log only.
"""

from __future__ import annotations

import json
from http import HTTPStatus

from starlette.responses import Response

TYPES = {
    401: "authentication_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "server_error",
    504: "server_error",
}


class APIError(Exception):
    """A request that gets ``status`` and OpenAI's error body."""

    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code or HTTPStatus(status).phrase.lower().replace(" ", "_")
        self.headers = dict(headers or {})

    def body(self) -> dict:
        kind = TYPES.get(self.status, "invalid_request_error")
        error = {"message": self.message, "type": kind, "param": self.param, "code": self.code}
        return {"error": error}

    def encoded(self) -> bytes:
        return json.dumps(self.body()).encode("utf-8")


def bad_request(message: str, param: str | None = None, code: str = "invalid_value") -> APIError:
    """400 naming the field (``param``) and the fix."""
    return APIError(400, message, param, code)


def error_response(error: APIError) -> Response:
    """A JSON response for ``error``."""
    headers = {**error.headers, "cache-control": "no-store"}
    return Response(error.encoded(), error.status, headers, media_type="application/json")
