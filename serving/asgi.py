"""ASGI pieces around the BentoML app: the API-key gate, /readyz, and a request timeout that
lets finished requests go.

How the gate knows the service. BentoML builds the middleware stack before it creates the service
instance (the stack's lifespan creates it), and gives a middleware only the options passed to
`add_asgi_middleware` at import. BentoML's own readiness hook (`__is_ready__`) only turns its
plain-text /readyz into a 503; it cannot give our JSON answer. So the gate asks BentoML for the
service instance of this process with its public `bentoml.get_current_service()` (set once the
instance is created, unset at shutdown) and reads from it what the service owns: `gate` (the
key and body limit from the settings it read at start) and `readiness()` (which model or the
rules answer, whether the feedback store is open). No module-level state: before the instance
exists, /readyz is 503 "starting".

BentoML 1.4's `TimeoutMiddleware` arms `loop.call_later(timeout, ...)` for every request and
never cancels it. The timer handle holds a copy of the request's context variables (BentoML's
request context, the tracing span) for the whole traffic timeout after the answer went out: under
load that is thousands of dead requests kept alive, and the full garbage collections over them
pause the worker for tens to hundreds of milliseconds (p99 far above p50). `PromptTimeout`
behaves the same (504 after the timeout) but arms its timer in an empty context and cancels it
when the request ends. BentoML offers no public way to replace its timeout middleware, so
`setup` puts `PromptTimeout` in its place in BentoML's private module; tests/test_asgi.py fails
loudly when BentoML changes what this relies on.
"""

from __future__ import annotations

import asyncio
import contextvars
import hmac
import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from bentoml import get_current_service
from bentoml._internal.server.http import traffic
from bentoml.exceptions import BentoMLException
from starlette.responses import JSONResponse

from serving.metrics import Timed
from serving.settings import ServiceSettings

OPEN_PATHS = ("/healthz", "/livez", "/readyz")  # health only: /metrics and /docs need the key too
STARTING = {"status": "starting", "mode": "starting", "model_version": None, "reason": None, "store": "unavailable"}
RETRY_AFTER = "5"  # seconds a client should wait before posting a refused decision again


class PromptTimeout(traffic.TimeoutMiddleware):
    """BentoML's request timeout, with the timer released as soon as the request is answered.

    Relies on BentoML's `TimeoutMiddleware(app, timeout)` storing `app` and `timeout` and on its
    `_set_timer_out(waiter)`."""

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


def setup(service) -> None:
    """Wire these pieces into the BentoML `service` before BentoML builds its apps: the gate, and
    `PromptTimeout` in place of BentoML's timeout (BentoML looks the class up in its `traffic`
    module each time it builds an app's middleware stack)."""
    traffic.TimeoutMiddleware = PromptTimeout
    service.add_asgi_middleware(Timed)  # outside the gate: refused requests are timed too
    service.add_asgi_middleware(Gatekeeper)


@dataclass(frozen=True)
class Gate:
    """What the gate checks: the Authorization header the key gives, and the body limit."""

    expected: bytes = field(repr=False)
    max_bytes: int

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> Gate:
        return cls(f"Bearer {settings.api_key.get_secret_value()}".encode(), settings.max_body_bytes)


class Gated(Protocol):
    """What the gate reads from the running service."""

    gate: Gate

    def readiness(self) -> dict: ...


def running() -> Gated | None:
    """The service instance of this process, or None before it started or after it stopped."""
    try:
        return get_current_service()
    except BentoMLException:
        return None


class Gatekeeper:
    """ASGI middleware: bearer-key check (constant time), the request size limit and the /readyz
    answer, with the key and limit of the running service's settings."""

    def __init__(self, app, **_: Any):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        service = running()
        if path == "/readyz":
            answer = service.readiness() if service is not None else STARTING
            return await _json(send, 200 if answer["status"] == "ready" else 503, answer)
        if service is None:  # not started yet, or stopping: only the health checks answer
            if path.startswith(OPEN_PATHS):
                return await self.app(scope, receive, send)
            return await _json(send, 503, {"error": "the service is not running (starting or stopping)"})
        gate = service.gate
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"authorization", b"")
        if not path.startswith(OPEN_PATHS) and not hmac.compare_digest(given, gate.expected):
            return await _json(send, 401, {"error": "missing or wrong API key (Authorization: Bearer ...)"})
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > gate.max_bytes:
            return await _json(send, 413, _too_large(int(declared), gate.max_bytes))
        if scope.get("method") in ("POST", "PUT", "PATCH") and not declared.isdigit():
            body = await _read(receive, gate.max_bytes)  # no length given: read up to the limit
            if body is None:
                return await _json(send, 413, _too_large(None, gate.max_bytes))
            receive = _replay(body)
        return await self.app(scope, receive, send)


def _too_large(size: int | None, limit: int) -> dict:
    given = f"{size:,} bytes" if size is not None else "more bytes than that"
    return {"error": f"request body: {given}; the limit is {limit:,} bytes (LEADSCORE_MAX_BODY_BYTES)"}


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
