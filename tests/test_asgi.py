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
