"""ASGI pieces around the BentoML app: the API-key gate (which also answers /readyz and the API
docs, and makes every 4xx one {"error": ...} object), a request timeout that lets finished
requests go; `setup` wires them and the connections' deadlines and cap (serving/connections.py) in.

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
`setup` puts `PromptTimeout` in its place in BentoML's private module; tests/code/test_asgi.py
fails loudly when BentoML changes what this relies on.

uvicorn (which BentoML runs, with no `http=` option of ours) has no deadline for a request's
headers or body and no cap on open connections: `setup` makes `HeaderTimeout`
(serving/connections.py) the protocol uvicorn's "auto" setting names.
"""

from __future__ import annotations

import asyncio
import contextvars
import hmac
import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from bentoml._internal.server.http import traffic
from starlette.responses import JSONResponse
from uvicorn.protocols.http import auto as uvicorn_auto

from serving.connections import HEADER_SECONDS, RETRY_AFTER, HeaderTimeout
from serving.intake import current_service
from serving.metrics import Timed
from serving.openapi import ASSETS, DOCS_PATHS, Docs, Readiness
from serving.routes import bound_request_labels
from serving.settings import ServiceSettings

OPEN_PATHS = ("/healthz", "/livez", "/readyz")  # and the docs (DOCS_PATHS, ASSETS); /metrics needs the key
SINGLE_HEADERS = (b"authorization", b"content-length")  # sent twice: which one counts is ambiguous, so 400
STARTING = Readiness(
    status="starting", mode="starting", model_version=None, reason=None, store="unavailable"
).model_dump()
__all__ = ["HEADER_SECONDS", "RETRY_AFTER", "Gate", "Gatekeeper", "HeaderTimeout", "PromptTimeout", "setup"]


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
    """Wire these pieces into the BentoML `service` before BentoML builds its apps and starts
    uvicorn: the gate (which serves the docs of `service`), `PromptTimeout` in place of BentoML's
    timeout (BentoML looks the class up in its `traffic` module each time it builds an app's
    middleware stack), and `HeaderTimeout` as uvicorn's "auto" HTTP protocol (uvicorn looks it up
    when its server starts; BentoML passes no `http=` option of its own)."""
    traffic.TimeoutMiddleware = PromptTimeout
    bound_request_labels()  # BentoML's request metrics by route, never by the path sent (serving/routes.py)
    uvicorn_auto.AutoHTTPProtocol = HeaderTimeout
    service.add_asgi_middleware(Timed)  # outside the gate: refused requests are timed too
    service.add_asgi_middleware(Gatekeeper, service=service)


@dataclass(frozen=True)
class Gate:
    """What the gate checks: the Authorization header the key gives, and the body limit; and the
    limits on what one request holds (checked as its body is read, serving/intake.py)."""

    expected: bytes = field(repr=False)
    max_bytes: int
    max_events: int
    max_contacts: int

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> Gate:
        key = f"Bearer {settings.api_key.get_secret_value()}".encode()
        return cls(key, settings.max_body_bytes, settings.max_events, settings.max_contacts)


class Gated(Protocol):
    """What the gate (and serving/intake.py, for a request's limits) reads from the running service."""

    gate: Gate
    scorer: Any  # its `config.max_batch`

    def readiness(self) -> dict: ...


def running() -> Gated | None:
    """The service instance of this process, or None before it started or after it stopped."""
    return current_service()


class Gatekeeper:
    """ASGI middleware, the requests' front door, with the key and limits of the running service:

    - the bearer key, compared in constant time (two Authorization headers: 400), the body limit;
    - /readyz (GET and HEAD), and the API docs (/docs, /openapi.json; no key: serving/openapi.py)
      and Swagger UI's files, which need no key either;
    - every answer passes `_tidy`: a redirect names a path, never the host the client sent, and
      a 4xx body is one JSON object {"error": ...}."""

    def __init__(self, app, service=None, **_: Any):
        self.app = app
        self.docs = Docs(service) if service is not None else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, method = scope.get("path", ""), scope.get("method")
        send = _tidy(send, method)
        service = running()
        headers = scope.get("headers") or []
        for name in SINGLE_HEADERS:
            if sum(1 for key, _ in headers if key == name) > 1:
                return await _json(send, 400, {"error": f"{name.decode()}: sent more than once; send it once"})
        if path == "/readyz":
            if method not in ("GET", "HEAD"):
                return await _json(send, 405, {"error": "/readyz answers GET and HEAD"}, [(b"allow", b"GET, HEAD")])
            answer = service.readiness() if service is not None else STARTING
            return await _json(send, 200 if answer["status"] == "ready" else 503, answer)
        if self.docs is not None and path in DOCS_PATHS:
            return await self.docs.answer(scope, send, service)
        open_ = path.startswith(OPEN_PATHS) or (path.startswith(ASSETS) and method in ("GET", "HEAD"))
        if service is None:  # not started yet, or stopping: only the health checks answer
            if open_:
                return await self.app(scope, receive, send)
            return await _json(send, 503, {"error": "the service is not running (starting or stopping)"})
        gate = service.gate
        given = next((value for key, value in headers if key == b"authorization"), b"")
        if not open_ and not hmac.compare_digest(given, gate.expected):
            return await _json(send, 401, {"error": "missing or wrong API key (Authorization: Bearer ...)"})
        declared = next((value for key, value in headers if key == b"content-length"), b"")
        if declared.isdigit() and int(declared) > gate.max_bytes:
            return await _json(send, 413, _too_large(int(declared), gate.max_bytes))
        if method in ("POST", "PUT", "PATCH") and not declared.isdigit():
            body = await _read(receive, gate.max_bytes)  # no length given: read up to the limit
            if body is None:
                return await _json(send, 413, _too_large(None, gate.max_bytes))
            receive = _replay(body)
        return await self.app(scope, receive, send)


def _tidy(send, method: str | None):
    """`send`, with what goes out made safe: a redirect's Location as a path (never a URL built
    from the Host header a client sent), and a 4xx body as one object {"error": "..."} (BentoML
    sends some as a list, Starlette some as plain text)."""
    held: dict | None = None
    parts: list[bytes] = []

    async def tidy(message) -> None:
        nonlocal held
        if message["type"] == "http.response.start":
            status = message["status"]
            if 300 <= status < 400:
                message = {**message, "headers": [_relative(k, v) for k, v in message.get("headers") or []]}
            elif 400 <= status < 500 and method != "HEAD":
                held = message  # sent with the body, once the body is known
                return
            return await send(message)
        if held is None or message["type"] != "http.response.body":
            return await send(message)
        parts.append(message.get("body", b""))
        if message.get("more_body"):
            return
        body = _one_object(b"".join(parts), held["status"])
        kept = [(k, v) for k, v in held.get("headers") or [] if k.lower() not in (b"content-length", b"content-type")]
        kept += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        start, held = {**held, "headers": kept}, None
        await send(start)
        await send({"type": "http.response.body", "body": body})

    return tidy


def _relative(key: bytes, value: bytes) -> tuple[bytes, bytes]:
    if key.lower() != b"location":
        return key, value
    url = urlsplit(value.decode("latin-1"))
    return key, urlunsplit(("", "", url.path or "/", url.query, "")).encode("latin-1")


PHRASES = {404: "no such endpoint (the API is described at /docs)", 405: "method not allowed (see the Allow header)"}


def _one_object(body: bytes, status: int) -> bytes:
    """A 4xx body as one JSON object with an "error" text."""
    try:
        value = json.loads(body)
    except ValueError:
        value = None
    if isinstance(value, list) and len(value) == 1:  # BentoML's 4xx from an exception: [{"error": ...}]
        value = value[0]
    if isinstance(value, dict) and isinstance(value.get("error"), str):
        return json.dumps(value).encode()
    text = body.decode("utf-8", "replace").strip() if value is None else ""
    known = PHRASES.get(status)
    if known is None:
        known = text if text and len(text) <= 200 and "\n" not in text else HTTPStatus(status).phrase
    return json.dumps({"error": known}).encode()


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


async def _json(send, status: int, body: dict, headers: list | None = None) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
