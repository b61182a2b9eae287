"""The HTTP connections of a worker: deadlines for a request's arrival, and a cap on how many.

uvicorn (which BentoML runs, with no `http=` option of ours) has no deadline for a request's
headers or body (its keep-alive timer stops at the first byte) and no cap on open connections
short of its `limit_concurrency`, which BentoML does not expose and which answers only once the
headers are in. A client sending its headers or its body one byte every 2 s held a connection, a
file descriptor and a slot of the worker for as long as it liked (1,500 such clients held 1,561
descriptors). `HeaderTimeout` is uvicorn's own httptools protocol with both deadlines and the cap;
serving/asgi.py `setup` makes it the protocol uvicorn's "auto" setting names, and
tests/code/test_intake.py fails loudly when uvicorn changes what it relies on.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from http import HTTPStatus

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from serving.intake import current_service
from serving.settings import ServiceSettings

HEADER_SECONDS = 10.0  # a request's headers must arrive whole within this time, else 408 and the connection closed
RETRY_AFTER = "5"  # seconds a client should wait before trying again after a 503


class HeaderTimeout(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol (httptools), with deadlines for a request's arrival and a cap on
    a worker's open connections. uvicorn has neither (its keep-alive timer stops at the first byte),
    so a client sending its headers or its body one byte a second held a connection, a file
    descriptor and a slot of the worker for as long as it liked.

    - headers: from the connection (or the first byte of the next request on it) to the end of
      the headers, at most HEADER_SECONDS;
    - body: from the end of the headers to the end of the body, at most the running service's
      `body_seconds` (LEADSCORE_BODY_SECONDS; under the answer's own timeout, so the client's
      slowness is answered 408, never 504);
    - past either, the client gets a 408 and the connection is closed (a request already
      answered without reading its whole body: the connection is closed);
    - a connection beyond the service's `max_connections` open on this worker
      (LEADSCORE_MAX_CONNECTIONS) gets a 503 at once and is closed.

    Relies on uvicorn's `HttpToolsProtocol` calling `connection_made`, `on_message_begin`,
    `on_headers_complete`, `on_message_complete` and `connection_lost`, and having `loop`,
    `transport`, `cycle` (`response_started`, `response_complete`) and `connections`."""

    _header_timer: asyncio.TimerHandle | None = None
    _body_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        cap = _setting("max_connections")
        if len(self.connections) > cap:
            self._answer(503, f"more than {cap} open connections to this worker (LEADSCORE_MAX_CONNECTIONS); retry")
            return
        self._await_headers()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:
            self._await_headers()

    def on_headers_complete(self) -> None:
        self._stop_waiting()
        super().on_headers_complete()
        self._body_timer = self.loop.call_later(
            _setting("body_seconds"), self._body_late, context=contextvars.Context()
        )

    def on_message_complete(self) -> None:
        self._stop_body()
        super().on_message_complete()

    def connection_lost(self, exc) -> None:
        self._stop_waiting()
        self._stop_body()
        super().connection_lost(exc)

    def _await_headers(self) -> None:
        self._header_timer = self.loop.call_later(HEADER_SECONDS, self._headers_late, context=contextvars.Context())

    def _stop_waiting(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _stop_body(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return self._await_headers()  # still answering the previous request: look again later
        self._answer(408, f"request headers not complete within {HEADER_SECONDS:g} seconds")

    def _body_late(self) -> None:
        self._body_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and self.cycle.response_started:
            if not self.cycle.response_complete:  # answering without the whole body: look again later
                self._body_timer = self.loop.call_later(1.0, self._body_late, context=contextvars.Context())
            else:  # answered; the rest of the body is not read
                self.transport.close()
            return
        seconds = _setting("body_seconds")
        self._answer(408, f"request body not complete within {seconds:g} seconds of its headers")

    def _answer(self, status: int, error: str) -> None:
        """`status` with {"error": `error`}, written as is, and the connection closed."""
        body = json.dumps({"error": error}).encode()
        head = f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\ncontent-type: application/json\r\n"
        head += f"content-length: {len(body)}\r\n" + (f"retry-after: {RETRY_AFTER}\r\n" if status == 503 else "")
        self.transport.write(head.encode() + b"connection: close\r\n\r\n" + body)
        self.transport.close()


def _setting(name: str):
    """The running service's setting `name` (its default before the service started)."""
    service = current_service()
    settings = getattr(service, "settings", None)
    return getattr(settings, name) if settings is not None else ServiceSettings.model_fields[name].default
