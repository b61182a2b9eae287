"""Reading a request body without stalling the worker, and bounding the work one request asks for.

A worker answers every request on one event loop. A large body (a lead with thousands of events,
a batch) takes hundreds of milliseconds of CPU to validate and score; done on the loop, every
other request of that worker waits meanwhile. So:

- `Intake` is the base of the service's request models (`bentoml.api(input_spec=...)`): a body
  up to `INLINE_BYTES` is validated on the loop (a few hundred microseconds, cheaper than a
  thread hop), a larger one in a worker thread (`offload`), one such job at a time per worker;
- while validating, a `Budget` counts the events, contacts and leads of the request: past a limit
  the validation stops at once (`TooMuchWork`, answered 413 naming the limit and its setting), so
  a refused request costs no more than the largest accepted one;
- a body that is not `Content-Type: application/json` is answered 415; one that names a key
  twice in an object, 400 naming the key's path (JSON leaves its meaning open; pydantic would
  keep the last value silently);
- a validation error is answered 400 in one line naming the fields (`core.decisions.one_line`),
  never the values sent.

The limits come from the running service (`current_service()`): `gate.max_events`,
`gate.max_contacts` (settings `LEADSCORE_MAX_EVENTS`, `LEADSCORE_MAX_CONTACTS`) and
`scorer.config.max_batch`.

BentoML parses a request with its input model's `from_http_request` classmethod (called by
`_bentoml_impl.server.app.ServiceAppFactory.api_endpoint`, as `input_spec.from_http_request(request,
serde)`): `Intake` overrides it. tests/code/test_intake.py fails loudly when BentoML changes that.
"""

from __future__ import annotations

import asyncio
import functools
import json
import weakref
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import anyio
import anyio.to_thread
import bentoml
from bentoml.exceptions import BentoMLException
from pydantic import ConfigDict, ValidationError, ValidationInfo

from core.decisions import one_line

INLINE_BYTES = 64 * 1024  # bodies up to this size are validated on the event loop
INLINE_EVENTS = 1_000  # a lead with up to this many events (its contacts' included) is scored on it
BUDGET = "leadscore.budget"  # the validation context key of a request's Budget
JSON = "application/json"  # the one media type of a request body


class TooMuchWork(Exception):
    """A request asks for more than a limit allows: answered 413 with this message. Not a
    ValueError: pydantic does not collect it as a validation error, it stops the validation."""


# what each limit counts, and what changes it
KINDS = {
    "events": (
        "events per request (a lead's own and its contacts', over every lead of a batch)",
        "LEADSCORE_MAX_EVENTS",
    ),
    "contacts": ("contacts per request (over every lead of a batch)", "LEADSCORE_MAX_CONTACTS"),
    "leads": ("leads per batch", "the serving config's max_batch"),
}


@dataclass(frozen=True)
class Limits:
    """What one request may hold: events, contacts and leads (see `KINDS`)."""

    events: int
    contacts: int
    leads: int


@dataclass
class Budget:
    """The count of what a request holds so far, checked against its `Limits` as validation goes."""

    limits: Limits
    used: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))

    def charge(self, kind: str) -> None:
        self.used[kind] += 1
        limit = getattr(self.limits, kind)
        if self.used[kind] > limit:
            what, setting = KINDS[kind]
            raise TooMuchWork(f"{kind}: at most {limit} {what} ({setting}); send less, e.g. split the batch")


def charge(info: ValidationInfo, kind: str) -> None:
    """Count one `kind` ("events", "contacts" or "leads") against the request's budget, when the
    validation has one (a request read by `Intake`; models built in-process have none)."""
    context = info.context
    budget = context.get(BUDGET) if isinstance(context, dict) else None
    if budget is not None:
        budget.charge(kind)


def current_service() -> Any:
    """The service instance of this process (BentoML's public `get_current_service()`), or None
    before it started or after it stopped."""
    try:
        return bentoml.get_current_service()
    except BentoMLException:
        return None


def limits_of(service: Any) -> Limits | None:
    """The limits of the running service (None before it started)."""
    if service is None:
        return None
    gate = service.gate
    return Limits(events=gate.max_events, contacts=gate.max_contacts, leads=service.scorer.config.max_batch)


class _DuplicateKey(Exception):
    """A JSON object of the body names a key twice."""


def _unique(pairs: list[tuple[str, Any]]) -> dict:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise _DuplicateKey
    return found


class _Pairs(list):
    """A JSON object as read, every key kept (to find where a key is repeated)."""


def _repeated(value: Any, where: str) -> str | None:
    """The path of the first key that an object in `value` (read as `_Pairs`) names twice."""
    if isinstance(value, _Pairs):
        seen = set()
        for key, _ in value:
            if key in seen:
                return f"{where}.{key}" if where else key
            seen.add(key)
        items = ((f"{where}.{key}" if where else key, item) for key, item in value)
    elif isinstance(value, list):
        items = ((f"{where}[{i}]", item) for i, item in enumerate(value))
    else:
        return None
    return next((found for path, item in items if (found := _repeated(item, path))), None)


def duplicate_key(body: bytes) -> str | None:
    """Where the JSON `body` repeats a key in an object (`lead.job_title`), or None. JSON leaves a
    repeated key's meaning open and pydantic would silently keep the last value: refused instead.
    None too for a body that is not JSON (pydantic's own message says where it breaks)."""
    try:
        json.loads(body, object_pairs_hook=_unique)  # about 5% of the validation's time
    except _DuplicateKey:
        try:
            return _repeated(json.loads(body, object_pairs_hook=_Pairs), "")
        except RecursionError:
            return None  # nested too deep to walk: pydantic refuses it (its own depth limit)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than Python reads
        return None
    return None


def parse(model: type[bentoml.IODescriptor], body: bytes, limits: Limits | None) -> bentoml.IODescriptor:
    """`body` validated as `model`, counting against `limits`; a BentoMLException (400 or 413)
    with a one-line message when it is not acceptable."""
    context = {BUDGET: Budget(limits)} if limits is not None else None
    repeated = duplicate_key(body)
    if repeated is not None:
        raise BentoMLException(
            f"{repeated}: sent more than once; send each key once", error_code=HTTPStatus.BAD_REQUEST
        )
    try:
        return model.model_validate_json(body or b"{}", context=context)
    except ValidationError as exc:
        raise BentoMLException(one_line(exc, root="body"), error_code=HTTPStatus.BAD_REQUEST) from None
    except TooMuchWork as exc:
        raise BentoMLException(str(exc), error_code=HTTPStatus.REQUEST_ENTITY_TOO_LARGE) from None


_LIMITERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = weakref.WeakKeyDictionary()


async def offload(func, *args):
    """`func(*args)` in a worker thread, one such job at a time per event loop (worker): the loop
    goes on answering other requests meanwhile, and large jobs queue behind each other instead of
    sharing the CPU (each finishes as early as it can)."""
    loop = asyncio.get_running_loop()
    limiter = _LIMITERS.get(loop)
    if limiter is None:
        limiter = _LIMITERS[loop] = anyio.CapacityLimiter(1)
    return await anyio.to_thread.run_sync(functools.partial(func, *args), limiter=limiter)


class Intake(bentoml.IODescriptor):
    """Base of the service's request models: validated on the loop when small, in a worker
    thread when large, within the running service's limits (see the module's docstring)."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    async def from_http_request(cls, request, serde) -> bentoml.IODescriptor:
        """The request's JSON body as this model: `Content-Type: application/json`, else 415."""
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != JSON:
            raise BentoMLException(
                f"Content-Type: send {JSON} (the body is a JSON object)", error_code=HTTPStatus.UNSUPPORTED_MEDIA_TYPE
            )
        body = await request.body()
        limits = limits_of(current_service())
        if len(body) <= INLINE_BYTES:
            return parse(cls, body, limits)
        return await offload(parse, cls, body, limits)
