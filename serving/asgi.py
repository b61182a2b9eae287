"""ASGI pieces around the BentoML app: the API-key gate, /readyz, and a request timeout that
lets finished requests go.

BentoML 1.4's `TimeoutMiddleware` arms `loop.call_later(timeout, ...)` for every request and
never cancels it. The timer handle holds a copy of the request's context variables (BentoML's
request context, the tracing span) for the whole traffic timeout after the answer went out: under
load that is thousands of dead requests kept alive, and the full garbage collections over them
pause the worker for tens to hundreds of milliseconds (p99 far above p50). `PromptTimeout`
behaves the same (504 after the timeout) but arms its timer in an empty context and cancels it
when the request ends.
"""

from __future__ import annotations

import asyncio
import contextvars
import hmac
import json
import os
from typing import Any

from bentoml._internal.server.http import traffic
from starlette.responses import JSONResponse

OPEN_PATHS = ("/healthz", "/livez", "/readyz")  # health only: /metrics and /docs need the key too
STATE: dict[str, Any] = {"mode": "starting", "model_version": None, "reason": None}
MAX_BODY_BYTES = 16 * 2**20  # a full batch of leads with their events fits many times over
RETRY_AFTER = "5"  # seconds a client should wait before posting a refused decision again


class PromptTimeout(traffic.TimeoutMiddleware):
    """BentoML's request timeout, with the timer released as soon as the request is answered."""

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        timer = loop.call_later(self.timeout, self._set_timer_out, waiter, context=contextvars.Context())

        async def started(message) -> None:
            if not waiter.done():
                waiter.set_result(None)
            await send(message)

        task = asyncio.ensure_future(self.app(scope, receive, started))
        try:
            await waiter
        except TimeoutError:
            if task.cancel():
                body = {"error": f"Not able to process the request in {self.timeout} seconds"}
                await JSONResponse(body, status_code=504)(scope, receive, send)
        else:
            await task
        finally:
            timer.cancel()


def keep_no_finished_requests() -> None:
    """Make BentoML build its apps with `PromptTimeout` (it looks the class up when it builds
    the middleware stack, after this module's import)."""
    traffic.TimeoutMiddleware = PromptTimeout


class Gatekeeper:
    """ASGI middleware: bearer-key check (constant time), the request size limit and the /readyz
    answer."""

    def __init__(self, app, **_: Any):
        self.app = app
        key = os.environ.get("LEADSCORE_API_KEY", "")
        self.expected = f"Bearer {key}".encode() if key else None
        limit = os.environ.get("LEADSCORE_MAX_BODY_BYTES", str(MAX_BODY_BYTES))
        if not limit.isdigit() or int(limit) < 1:
            raise RuntimeError(f"LEADSCORE_MAX_BODY_BYTES={limit!r}: give a positive number of bytes")
        self.max_bytes = int(limit)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        if path == "/readyz":
            ready = STATE["mode"] in ("model", "rules")
            return await _json(send, 200 if ready else 503, {"status": "ready" if ready else "starting", **STATE})
        headers = dict(scope.get("headers") or [])
        if not path.startswith(OPEN_PATHS):
            given = headers.get(b"authorization", b"")
            if self.expected is None or not hmac.compare_digest(given, self.expected):
                return await _json(send, 401, {"error": "missing or wrong API key (Authorization: Bearer ...)"})
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await _json(send, 413, self._too_large(int(declared)))
        if scope.get("method") in ("POST", "PUT", "PATCH") and not declared.isdigit():
            body = await _read(receive, self.max_bytes)  # no length given: read up to the limit
            if body is None:
                return await _json(send, 413, self._too_large(None))
            receive = _replay(body)
        return await self.app(scope, receive, send)

    def _too_large(self, size: int | None) -> dict:
        given = f"{size:,} bytes" if size is not None else "more bytes than that"
        return {"error": f"request body: {given}; the limit is {self.max_bytes:,} bytes (LEADSCORE_MAX_BODY_BYTES)"}


async def _read(receive, limit: int) -> bytes | None:
    """The whole request body, or None as soon as it passes `limit` bytes."""
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes):
    sent = False

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _json(send, status: int, body: dict) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})
