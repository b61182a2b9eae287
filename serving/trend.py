"""A lead's trend: its answer against its previous answer in the score log, as a CRM shows a
score going up or down (Dynamics 365's improving / steady / declining).

Like is compared with like: a model answer's `score` (0-100) with the lead's last model score, a
rules answer's `rule_score` with its last rule score (every answer carries one); a change of less
than `steady` points either way is steady. "When" is the time the previous answer was given
(its `scored_at` in the score log). The log is written off the request path within a second, so
the answers this worker gave but has not written yet are remembered here too (its last 20,000
leads); another worker's answer of the last second may not be seen. While the store is down, no
trend: the lookup never waits for a database that does not answer.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime

from core.schema import Trend
from core.store import FeedbackStore, LastScores, StoreUnavailable

log = logging.getLogger("leadscore.serving")
NO_LOG = "no score log: the trend needs the service's score log"
LOG_DOWN = "the score log is unavailable (database down): no trend until it is back"
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
    """Each lead's last scores: the score log's, and this worker's answers not yet written there."""

    def __init__(self, store: FeedbackStore, remember: int = 20_000):
        self.store = store
        self.size = remember
        self._recent: OrderedDict[str, LastScores] = OrderedDict()
        self._lock = threading.Lock()

    def last(self, lead_ids: list[str]) -> dict[str, LastScores] | str:
        """Each lead's `LastScores` (leads never scored left out), or why the log cannot say."""
        if not self.store.ready:  # never wait for a database that is down: scoring goes on
            return LOG_DOWN
        try:
            logged = self.store.last_scores(lead_ids)
        except StoreUnavailable:
            return LOG_DOWN
        except Exception as exc:  # the trend must never take the answer down
            log.warning("score log: the trend's lookup failed (%s)", type(exc).__name__)
            return LOG_DOWN
        with self._lock:
            recent = {i: self._recent[i] for i in lead_ids if i in self._recent}
        return {i: _newer(logged.get(i), recent.get(i)) for i in {*logged, *recent}}

    def remember(self, answers: Iterable, at: datetime) -> None:
        """Keep what `answers` (API answers) scored at `at`, until the log surely holds them."""
        with self._lock:
            for answer in answers:
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
