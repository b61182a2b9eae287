"""The trend's lookup never holds up an answer (issue #23, item 2): it reads the score log on its
own thread, the answer waits for it at most `wait`, and while a lookup is stuck on a locked
table the next answers do not wait at all. The live service under a 15 s lock:
tests/integration/test_locked_log.py."""

from __future__ import annotations

import asyncio
import threading

import pytest

from core.store import FeedbackStore
from serving.trend import History
from tests.conftest import score_rows
from tests.live import scores_locked
from tests.waiting import wait_for

SLOW = "the score log did not answer within 50 ms (busy or locked): no trend this time"


def _rows() -> list[dict]:
    """Score-log rows of leads L0..L19, lead Li with the model score 10 + i."""
    return [{**row, "score": 10 + i} for i, row in enumerate(score_rows(20))]


@pytest.fixture
def store(tmp_path):
    store = FeedbackStore(f"sqlite:///{tmp_path / 'log.db'}")
    assert store.open()
    store.log_scores(_rows())
    yield store
    store.engine.dispose()


def test_concurrent_lookups_each_get_their_own_leads(store):
    history = History(store)
    got: dict[int, object] = {}

    def ask(i: int) -> None:
        got[i] = history.last([f"L{i}", "never-scored"])

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    history.close()
    assert {i: (set(last), last[f"L{i}"].score) for i, last in got.items()} == {
        i: ({f"L{i}"}, 10 + i) for i in range(20)
    }


def test_a_locked_log_is_not_waited_for_and_the_answer_says_why(store):
    history = History(store, wait=0.05)
    with scores_locked(store.url):

        async def on_the_loop() -> tuple[str, int]:
            ticks = 0

            async def tick() -> None:
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0)

            ticker = asyncio.ensure_future(tick())
            answer = await history.last_soon(["L3"])
            ticker.cancel()
            return answer, ticks

        answer, ticks = asyncio.run(on_the_loop())
        assert answer == SLOW and ticks > 0  # waited 50 ms, the loop going on meanwhile
        assert history.last(["L1"]) == SLOW  # from a thread too (the lookup still stuck on the lock)
    # the lock gone, the stuck lookup ends and the log answers again
    assert wait_for(lambda: isinstance(history.last(["L4"]), dict), 35)
    assert history.last(["L4"])["L4"].score == 14
    history.close()
