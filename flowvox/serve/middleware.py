"""What every HTTP request passes first (a plain ASGI middleware, so streams stay streams).

In order: give the request an id (``x-request-id`` on the answer); refuse it with 503 while
the server drains for shutdown; check the API key on /v1/ routes (Bearer, compared in
constant time); refuse a declared body over the limit (413) and cut off a body that grows
past it or arrives slower than ``body_timeout`` (408); turn any exception into OpenAI's
error shape (a 500 carries only the request id; the traceback goes to the log); and write
one log line per request: id, method, path, status, characters, audio seconds, batch size,
latency.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from flowvox.errors import FlowvoxError
from flowvox.serve.config import ServeConfig
from flowvox.serve.errors import APIError

LOG = logging.getLogger("flowvox.serve")
UPLOAD_PATH = "/v1/audio/voices"
FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the text fields, beside the clip


@dataclass
class ServerState:
    """What the process running the app tells it: ``draining`` once shutdown began."""

    draining: bool = False


class Guard:
    """See the module doc. ``app``: the ASGI app behind; ``config``: limits and key."""

    def __init__(self, app: Any, config: ServeConfig, state: ServerState) -> None:
        self.app = app
        self.config = config
        self.state = state
        self._key = config.api_key.encode("utf-8") if config.api_key else None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = f"req_{secrets.token_hex(6)}"
        record: dict[str, Any] = {"status": None, "started": False}
        scope.setdefault("state", {}).update(request_id=request_id, log=record)
        start = time.perf_counter()

        async def send_noted(message: dict) -> None:
            if message["type"] == "http.response.start":
                record["status"] = message["status"]
                record["started"] = True
                headers = list(message.get("headers", []))
                headers += [
                    (b"x-request-id", request_id.encode()),
                    (b"x-content-type-options", b"nosniff"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        try:
            refusal = self._refusal(scope)
            if refusal is not None:
                record["error"] = refusal.code
                await _send_error(send_noted, refusal)
            else:
                await self.app(scope, self._limited(scope, receive), send_noted)
        except APIError as err:
            record["error"] = err.code
            if not record["started"]:
                await _send_error(send_noted, err)
            else:
                record["error"] = err.message
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as err:
            if isinstance(err, FlowvoxError | TimeoutError) and record["started"]:
                record["error"] = str(err)  # a stream cut short: the client sees it end early
            else:
                LOG.exception("%s: unexpected error", request_id)
                if not record["started"]:
                    message = f"internal server error (request {request_id}); see the server log"
                    await _send_error(send_noted, APIError(500, message, code="internal_error"))
        finally:
            _log_line(request_id, scope, record, time.perf_counter() - start)

    def _refusal(self, scope: dict) -> APIError | None:
        if self.state.draining:
            return APIError(
                503,
                "the server is shutting down",
                code="shutting_down",
                headers={"connection": "close", "retry-after": "5"},
            )
        headers = dict(scope.get("headers", []))
        if self._key is not None and scope["path"].startswith("/v1/"):
            given = headers.get(b"authorization", b"")
            scheme, _, token = given.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(token.strip(), self._key):
                return APIError(
                    401,
                    "missing or wrong API key: send 'Authorization: Bearer <key>'",
                    code="invalid_api_key",
                    headers={"www-authenticate": "Bearer"},
                )
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                return APIError(400, "Content-Length is not a number", code="invalid_header")
            if size > self._limit(scope):
                return _too_large(self._limit(scope))
        return None

    def _limit(self, scope: dict) -> int:
        if scope["path"] == UPLOAD_PATH and scope["method"] == "POST":
            return self.config.max_upload_bytes + FORM_OVERHEAD
        return self.config.max_body_bytes

    def _limited(self, scope: dict, receive: Any) -> Any:
        """``receive`` that counts body bytes (413 past the limit) and gives the whole
        body ``body_timeout`` seconds (408); after the body it passes messages through."""
        limit, deadline = self._limit(scope), time.monotonic() + self.config.body_timeout
        seen, done = 0, False

        async def receive_limited() -> dict:
            nonlocal seen, done
            if done:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), deadline - time.monotonic())
            except TimeoutError:
                raise APIError(
                    408,
                    f"the request body did not arrive within {self.config.body_timeout:g} s",
                    code="request_timeout",
                    headers={"connection": "close"},
                ) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _too_large(limit)
                done = not message.get("more_body", False)
            else:
                done = True
            return message

        return receive_limited


def _too_large(limit: int) -> APIError:
    return APIError(
        413,
        f"the request body is over {limit} bytes, this server's limit",
        code="request_too_large",
        headers={"connection": "close"},
    )


async def _send_error(send: Any, error: APIError) -> None:
    body = error.encoded()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _log_line(request_id: str, scope: dict, record: dict, seconds: float) -> None:
    status = record["status"] if record["status"] is not None else 499  # client left
    parts = [request_id, scope["method"], scope["path"], str(status)]
    for key, label in (
        ("chars", "chars"),
        ("audio_seconds", "audio_s"),
        ("batch", "batch"),
        ("voice", "voice"),
        ("error", "error"),
    ):
        if record.get(key) is not None:
            value = record[key]
            if isinstance(value, float):
                value = f"{value:.2f}"
            elif key in ("voice", "error"):
                value = json.dumps(str(value)[:200])
            parts.append(f"{label}={value}")
    parts.append(f"latency_ms={seconds * 1000:.0f}")
    LOG.info(" ".join(parts))
