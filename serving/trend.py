"""A lead's trend: its answer against its previous answer in the score log, as a CRM shows a
score going up or down (Dynamics 365's improving / steady / declining).

Like is compared with like: a model answer's `score` (0-100) with the lead's last model score, a
rules answer's `rule_score` with its last rule score (every answer carries one); a change of less
than `steady` points either way is steady. "When" is the time the previous answer was given
(its `scored_at` in the score log). The log is written off the request path within a second, so
the answers this worker gave but has not written yet are remembered here too (its last 20,000
leads); another worker's answer of the last second may not be seen.

The lookup never holds up an answer. It runs on the worker's own lookup thread, which reads the
log once for every lead asked meanwhile (one query for all the requests waiting); the answer
waits for it at most `wait` seconds (`LEADSCORE_TREND_WAIT_SECONDS`, 50 ms; a batch as long per
100 leads), then comes without a trend and says why. While a lookup has been running for longer
than that (a locked `scores` table, a slow database), the next answers do not wait at all; while
the store is down, neither. A slow or locked database thus never slows /score (nor /healthz and
/readyz, which never read it).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import CancelledError, Future
from datetime import datetime

from core.schema import Trend
from core.store import FeedbackStore, LastScores, StoreUnavailable

log = logging.getLogger("leadscore.serving")
NO_LOG = "no score log: the trend needs the service's score log"
LOG_DOWN = "the score log is unavailable (database down): no trend until it is back"
SLOW = "the score log did not answer within {ms:g} ms (busy or locked): no trend this time"
FIRST = "no earlier {kind} for this lead in the score log"


def trend(scored_by: str, now: float, last: LastScores | None, steady: float) -> Trend:
    """The trend of an answer whose score (model) or rule score (rules) is `now`, against `last`."""
    model = scored_by == "model"
    last = last or LastScores()
    previous, at = (last.score, last.score_at) if model else (last.rule_score, last.rule_at)
    if previous is None:
        return unknown(FIRST.format(kind="model score" if model else "rule score"))
    change = round(now - float(previous), 2)
    direction = "rising" if change >= steady else "falling" if change <= -steady else "steady"
    return Trend(direction=direction, change=change, previous_score=float(previous), previous_at=at)


def unknown(reason: str) -> Trend:
    return Trend(direction=None, change=None, previous_score=None, previous_at=None, reason=reason)


class History:
    """Each lead's last scores: the score log's, read on a lookup thread within `wait` seconds,
    and this worker's answers not yet written there (its last `remember` leads)."""

    def __init__(self, store: FeedbackStore, remember: int = 20_000, wait: float = 0.05):
        self.store = store
        self.size = remember
        self.wait = wait
        self.slow = SLOW.format(ms=wait * 1000)
        self._recent: OrderedDict[str, LastScores] = OrderedDict()
        self._lock = threading.Lock()
        self._asked: list[tuple[list[str], float, Future]] = []
        self._wake = threading.Condition()
        self._late: float | None = None  # when the lookup under way is late (its longest wait is over)
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="leadscore-trend", daemon=True)
        self._thread.start()

    def last(self, lead_ids: list[str]) -> dict[str, LastScores] | str:
        """Each lead's `LastScores` (leads never scored left out), or why the log cannot say; waits
        at most `wait_for(len(lead_ids))` seconds (call it from a worker thread, never on the loop)."""
        wait = self.wait_for(len(lead_ids))
        asked = self._ask(lead_ids, wait)
        if isinstance(asked, str):
            return asked
        try:
            return self._with_recent(lead_ids, asked.result(timeout=wait))
        except TimeoutError:
            asked.cancel()
            return self.slow
        except CancelledError:  # closed meanwhile
            return LOG_DOWN

    async def last_soon(self, lead_ids: list[str]) -> dict[str, LastScores] | str:
        """`last`, awaited on the event loop (which goes on answering meanwhile)."""
        wait = self.wait_for(len(lead_ids))
        asked = self._ask(lead_ids, wait)
        if isinstance(asked, str):
            return asked
        try:
            return self._with_recent(lead_ids, await asyncio.wait_for(asyncio.wrap_future(asked), wait))
        except TimeoutError:
            return self.slow

    def wait_for(self, leads: int) -> float:
        """How long an answer for `leads` leads waits for the log: `wait`, and as long again per
        100 leads beyond the first 100 (a batch's lookup reads more rows)."""
        return self.wait * max(1.0, leads / 100)

    def _ask(self, lead_ids: list[str], wait: float) -> Future | str:
        """A lookup of `lead_ids` handed to the lookup thread, or why there is none."""
        if not self.store.ready:  # never wait for a database that is down: scoring goes on
            return LOG_DOWN
        asked: Future = Future()
        with self._wake:
            if self._closed:
                return LOG_DOWN
            if self._late is not None and time.monotonic() > self._late:
                return self.slow  # the lookup under way is stuck (a lock): do not queue behind it
            self._asked.append((lead_ids, wait, asked))
            self._wake.notify()
        return asked

    def _with_recent(self, lead_ids: list[str], logged: dict[str, LastScores] | str) -> dict[str, LastScores] | str:
        if isinstance(logged, str):
            return logged
        with self._lock:
            recent = {i: self._recent[i] for i in lead_ids if i in self._recent}
        return {i: _newer(logged.get(i), recent.get(i)) for i in {*logged, *recent}}

    def _run(self) -> None:
        """The lookup thread: one read of the log for every lookup asked since the last one."""
        while True:
            with self._wake:
                while not self._asked and not self._closed:
                    self._wake.wait()
                if self._closed:
                    for *_, future in self._asked:
                        if future.set_running_or_notify_cancel():
                            future.set_result(LOG_DOWN)
                    self._asked = []
                    return
                asked = [(ids, f) for ids, _, f in self._asked if f.set_running_or_notify_cancel()]
                self._late = time.monotonic() + max((wait for _, wait, _ in self._asked), default=0.0)
                self._asked = []
            found = self._read([i for ids, _ in asked for i in ids])
            with self._wake:
                self._late = None
            for ids, future in asked:
                future.set_result(found if isinstance(found, str) else {i: found[i] for i in ids if i in found})

    def _read(self, lead_ids: list[str]) -> dict[str, LastScores] | str:
        if not lead_ids:
            return {}
        try:
            return self.store.last_scores(lead_ids)
        except StoreUnavailable:
            return LOG_DOWN
        except Exception as exc:  # the trend must never take the answer down
            log.warning("score log: the trend's lookup failed (%s)", type(exc).__name__)
            return LOG_DOWN

    def close(self) -> None:
        """Stop the lookup thread (a lookup under way ends on its own; its answer is not awaited)."""
        with self._wake:
            self._closed = True
            self._wake.notify()

    def remember(self, answers: Iterable, at: datetime | Iterable[datetime]) -> None:
        """Keep what `answers` (API answers) scored at `at` (one time, or one per answer: the
        times their score-log rows carry), until the log surely holds them."""
        answers = list(answers)
        times = [at] * len(answers) if isinstance(at, datetime) else list(at)
        with self._lock:
            for answer, at in zip(answers, times, strict=True):
                before = self._recent.pop(answer.lead_id, LastScores())
                model = (answer.score, at) if answer.score is not None else (before.score, before.score_at)
                self._recent[answer.lead_id] = LastScores(*model, answer.rule_score, at)
            while len(self._recent) > self.size:
                self._recent.popitem(last=False)


def _newer(a: LastScores | None, b: LastScores | None) -> LastScores:
    """The newer model score and the newer rule score of two records."""
    if a is None or b is None:
        return a or b
    score_at, score = _later((a.score_at, a.score), (b.score_at, b.score))
    rule_at, rule = _later((a.rule_at, a.rule_score), (b.rule_at, b.rule_score))
    return LastScores(score, score_at, rule, rule_at)


def _later(x: tuple, y: tuple) -> tuple:
    """Of two (time, value) pairs, the one with the later time (a missing time is never later)."""
    if x[0] is None or (y[0] is not None and y[0] > x[0]):
        return y
    return x
