"""How long the score log and its feature rows are kept (`LEADSCORE_LOG_RETENTION_DAYS`).

The cut is counted back from the newest logged answer, or from now when that is earlier: with
"as_of throughout" a score-log row's `scored_at` is the time its answer speaks for, so a simulated
(or replayed) week sits at that week's times; counting from the wall clock would delete it the day
it was logged. A log that stopped long ago therefore keeps its last `days` days until it is written
again (nothing is lost by waiting). Decisions are never pruned (`FeedbackStore.prune`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.store import FeedbackStore, utc

DAY_SECONDS = 86_400.0


def retention_cut(store: FeedbackStore, days: float, now: datetime | None = None) -> datetime | None:
    """The instant before which rows go: `days` before the newest answer or `now`, whichever is
    earlier; None when the log is empty (nothing to prune)."""
    newest = store.newest_score()
    if newest is None:
        return None
    return min(newest, utc(now) or datetime.now(UTC)) - timedelta(days=days)
