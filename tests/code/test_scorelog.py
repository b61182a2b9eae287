"""The score log written off the request path: batched, kept while the database is down,
bounded, a refused row dropped alone, and flushed (or what it could not write counted) on close."""

from __future__ import annotations

from core.store import FeedbackStore, StoreUnavailable, scores
from serving.scorelog import ScoreLog
from tests.conftest import score_rows
from tests.waiting import wait_for


class Flaky(FeedbackStore):
    """A store whose database is down until `up` is set; `attempts` counts the writes tried."""

    up = False
    attempts = 0

    def log_scores(self, rows):
        self.attempts += 1
        if not self.up:
            raise StoreUnavailable("score log unavailable (OperationalError)")
        return super().log_scores(rows)


def test_rows_reach_the_database_within_the_interval(tmp_path):
    store = FeedbackStore(f"sqlite:///{tmp_path / 'db.sqlite'}")
    log = ScoreLog(store, interval=0.1)
    log.add(score_rows(3))
    assert wait_for(lambda: store.count(scores) == 3, timeout=2)
    log.close()


def test_rows_wait_while_the_database_is_down_and_are_written_once_when_it_returns(tmp_path):
    store = Flaky(f"sqlite:///{tmp_path / 'db.sqlite'}")
    log = ScoreLog(store, interval=0.05)
    log.add(score_rows(5))
    assert wait_for(lambda: store.attempts >= 3)  # several failed attempts
    assert store.count(scores) == 0 and len(log.pending) == 5
    store.up = True
    assert wait_for(lambda: store.count(scores) == 5)
    log.add(score_rows(2, start=5))
    log.close()
    assert store.count(scores) == 7 and not log.pending  # close wrote the rest; nothing doubled


def test_a_full_queue_drops_the_oldest_rows_and_counts_them(tmp_path):
    store = Flaky(f"sqlite:///{tmp_path / 'db.sqlite'}")
    dropped = []
    log = ScoreLog(store, interval=60, batch=10_000, capacity=4, on_drop=dropped.append)
    log.add(score_rows(3))
    log.add(score_rows(3, start=3))
    assert [r["lead_id"] for r in log.pending] == ["L2", "L3", "L4", "L5"]
    assert log.dropped == 2 and dropped == [2]
    store.up = True
    log.close()
    assert store.count(scores) == 4


def test_a_row_the_database_refuses_is_dropped_alone_and_counted(tmp_path, caplog):
    store = FeedbackStore(f"sqlite:///{tmp_path / 'db.sqlite'}")
    refused = []
    log = ScoreLog(store, interval=0.05, on_refused=refused.append)
    bad = dict(score_rows(1, start=99)[0], lead_id=None, source="secret-source")  # NOT NULL: refused
    log.add([*score_rows(3), bad, *score_rows(3, start=3)])
    assert wait_for(lambda: store.count(scores) == 6, timeout=2)
    log.add(score_rows(100, start=10))  # the log goes on
    assert wait_for(lambda: store.count(scores) == 106, timeout=2)
    log.close()
    assert refused == [1] and log.refused == 1 and not log.pending
    [line] = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert "1 row(s)" in line and "IntegrityError" in line and "secret-source" not in line


def test_rows_that_cannot_be_written_at_close_are_counted_not_lost_silently(tmp_path, caplog):
    store = Flaky(f"sqlite:///{tmp_path / 'db.sqlite'}")
    lost = []
    log = ScoreLog(store, interval=60, on_lost=lost.append)
    log.add(score_rows(4))
    assert log.close(timeout=5) == 4
    log.add(score_rows(1, start=4))  # after close: nowhere to go, counted too
    assert lost == [4, 1] and log.lost == 5 and store.count(scores) == 0
    lines = [r.getMessage() for r in caplog.records if "not written" in r.getMessage()]
    assert len(lines) == 2 and "4 row(s)" in lines[0] and "unavailable" in lines[0]


def test_the_queue_depth_is_reported_while_the_database_is_down_and_after(tmp_path):
    store = Flaky(f"sqlite:///{tmp_path / 'db.sqlite'}")
    depths: list[int] = []
    log = ScoreLog(store, interval=0.05, on_queue=depths.append)
    log.add(score_rows(5))
    assert wait_for(lambda: depths[-1:] == [5] and store.attempts >= 2)  # kept, and said so
    store.up = True
    assert wait_for(lambda: depths[-1:] == [0] and store.count(scores) == 5)
    log.close()
