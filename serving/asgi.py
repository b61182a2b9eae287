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

OPEN_PATHS = ("/healthz", "/livez", "/readyz", "/docs", "/docs.json", "/metrics")
STATE: dict[str, Any] = {"mode": "starting", "model_version": None, "reason": None}


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
    """ASGI middleware: bearer-key check (constant time) and the /readyz answer."""

    def __init__(self, app, **_: Any):
        self.app = app
        key = os.environ.get("LEADSCORE_API_KEY", "")
        self.expected = f"Bearer {key}".encode() if key else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        if path == "/readyz":
            ready = STATE["mode"] in ("model", "rules")
            return await _json(send, 200 if ready else 503, {"status": "ready" if ready else "starting", **STATE})
        if not path.startswith(OPEN_PATHS):
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if self.expected is None or not hmac.compare_digest(given, self.expected):
                return await _json(send, 401, {"error": "missing or wrong API key (Authorization: Bearer ...)"})
        return await self.app(scope, receive, send)


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
