"""The request timeout around the BentoML app: still a 504 after the timeout, and a finished
request is not kept alive by its timer (which made BentoML's full garbage collections slow)."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import weakref

from serving.asgi import PromptTimeout

REQUEST = contextvars.ContextVar("request")


class Marker:
    """Stands for what a request puts in its context (BentoML's request context, a span)."""


async def _quick(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def _slow(scope, receive, send):
    await asyncio.sleep(5)
    await _quick(scope, receive, send)


async def _call(middleware, sent: list) -> weakref.ref:
    marker = Marker()
    REQUEST.set(marker)  # as the middlewares outside the timeout do

    async def send(message):
        sent.append(message)

    await middleware({"type": "http", "path": "/score"}, None, send)
    return weakref.ref(marker)


def test_a_finished_request_is_freed_at_once_not_after_the_timeout():
    async def main():
        sent = []
        ref = await asyncio.create_task(_call(PromptTimeout(_quick, timeout=60), sent))
        REQUEST.set(None)  # a context variable caches the last value it saw: not this test's concern
        await asyncio.sleep(0)  # let asyncio drop the finished task it just woke us with
        gc.collect()
        return ref() is None, sent[0]["status"]

    freed, status = asyncio.run(main())
    assert status == 200 and freed


def test_a_request_past_the_timeout_gets_a_504():
    async def main():
        sent = []
        await asyncio.create_task(_call(PromptTimeout(_slow, timeout=0.05), sent))
        return sent

    sent = asyncio.run(main())
    assert sent[0]["status"] == 504 and b"0.05 seconds" in sent[1]["body"]


def _spans_off(options: str) -> bool:
    """Whether the service, configured with BENTOML_CONFIG_OPTIONS=`options`, makes no span for /score."""
    import os
    import subprocess
    import sys

    code = (
        "from serving.service import LeadScoring; LeadScoring.inject_config()\n"
        "from bentoml._internal.container import BentoMLContainer\n"
        "print(BentoMLContainer.tracing_excluded_urls.get().url_disabled('http://127.0.0.1:3000/score'))"
    )
    env = {**os.environ, "BENTOML_CONFIG_OPTIONS": options, "LEADSCORE_API_KEY": "k", "BENTOML_DO_NOT_TRACK": "true"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1] == "True"


def test_request_spans_are_off_and_the_documented_option_turns_them_on():
    assert _spans_off("")
    assert not _spans_off('services.leadscore.tracing.excluded_urls=""')  # as the README says


# serving.asgi puts PromptTimeout in place of BentoML's private TimeoutMiddleware: these tests fail
# loudly when BentoML changes what that relies on (kept by the bentoml pin in pyproject.toml)
BENTOML_TIMEOUT = "bentoml._internal.server.http.traffic.TimeoutMiddleware"
# sha256 of the class's source in bentoml 1.4.39, the version PromptTimeout was written against
TIMEOUT_SOURCE = "4dab3e6bdd06efc590294d89beed9a399be6959b62bce9da024b33292e1be34b"


def _bentoml_timeout() -> type:
    """BentoML's own class (after `setup` its module holds PromptTimeout in its place)."""
    import importlib

    module, _, name = BENTOML_TIMEOUT.rpartition(".")
    found = getattr(importlib.import_module(module), name, None)
    assert isinstance(found, type), f"{BENTOML_TIMEOUT} is gone: serving.asgi.setup has nothing to replace"
    return found.__mro__[1] if found is PromptTimeout else found


def test_bentoml_timeout_is_still_what_prompt_timeout_was_written_against():
    import hashlib
    import inspect

    import bentoml

    original = _bentoml_timeout()
    assert PromptTimeout.__mro__[1] is original, "PromptTimeout must subclass BentoML's TimeoutMiddleware"
    assert list(inspect.signature(original.__init__).parameters) == ["self", "app", "timeout"], (
        f"{BENTOML_TIMEOUT}.__init__ changed: BentoML builds it as (app, timeout=...), PromptTimeout too"
    )
    assert list(inspect.signature(original._set_timer_out).parameters) == ["self", "waiter"], (
        f"{BENTOML_TIMEOUT}._set_timer_out(waiter) changed: PromptTimeout's timer calls it"
    )
    middleware = original(_quick, timeout=3)
    assert middleware.app is _quick and middleware.timeout == 3, "PromptTimeout reads self.app and self.timeout"
    source = hashlib.sha256(inspect.getsource(original).encode()).hexdigest()
    assert source == TIMEOUT_SOURCE, (
        f"{BENTOML_TIMEOUT} changed in bentoml {bentoml.__version__}: compare it with serving.asgi.PromptTimeout "
        "(same 504, timer released at the end), then update TIMEOUT_SOURCE"
    )


def test_the_timer_out_of_bentoml_times_a_request_out():
    async def main():
        waiter = asyncio.get_running_loop().create_future()
        _bentoml_timeout()(_quick, timeout=1)._set_timer_out(waiter)
        return waiter.exception()

    assert isinstance(asyncio.run(main()), TimeoutError), "_set_timer_out must fail the waiter with TimeoutError"


def test_the_service_app_runs_prompt_timeout_with_the_service_timeout():
    from serving.asgi import Gatekeeper
    from tests.conftest import service_app

    stack = [(m.cls, m.kwargs) for m in service_app().user_middleware]
    classes = [cls for cls, _ in stack]
    assert _bentoml_timeout() not in classes, "BentoML built its app with its own timeout, not PromptTimeout"
    assert PromptTimeout in classes, "the service's app has no request timeout"
    assert dict(stack)[PromptTimeout] == {"timeout": 10}  # the service's traffic timeout
    assert classes.index(PromptTimeout) < classes.index(Gatekeeper)  # a slow request behind the gate times out
