"""The score log written off the request path: batched, kept while the database is down,
bounded, a refused row dropped alone, and flushed (or what it could not write counted) on close."""

from __future__ import annotations

from sqlalchemy import select

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
    assert [row["lead_id"] for _, row, _ in log.pending] == ["L2", "L3", "L4", "L5"]
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


# The spool: a worker killed with rows queued loses none of them (serving/spool.py)

KILLED = """
import sys, time
from core.store import FeedbackStore
from serving.scorelog import ScoreLog
from serving.spool import Spool
from tests.conftest import score_rows

db, folder, case = sys.argv[1:4]
if case == "committed":  # killed after its write committed, before the spool was settled
    Spool.settle = lambda self, segment: None
log = ScoreLog(FeedbackStore(db), interval=3600, capacity=4 if case == "full" else 200_000, spool=Spool(folder))
log.add(score_rows(5))
if case == "committed":
    assert log.flush()
log.add(score_rows(3, start=5))
print("queued", flush=True)
time.sleep(600)
"""


def _killed_with_rows_queued(tmp_path, case: str) -> tuple[FeedbackStore, object]:
    """A worker (a process of its own) that queued 8 rows (`case`: none written; 5 of them written
    but not yet settled; the queue full at 4, the 4 oldest dropped), killed with SIGKILL."""
    import signal
    import subprocess
    import sys

    from tests.conftest import PROJECT

    url, folder = f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "spool"
    worker = subprocess.Popen(
        [sys.executable, "-c", KILLED, url, str(folder), case], cwd=PROJECT, stdout=subprocess.PIPE, text=True
    )
    assert worker.stdout.readline().strip() == "queued"
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    return FeedbackStore(url), folder


def test_rows_a_killed_worker_had_queued_are_written_by_the_next(tmp_path, caplog):
    from serving.spool import Spool

    store, folder = _killed_with_rows_queued(tmp_path, "none")
    assert store.count(scores) == 0
    recovered: list[int] = []
    log = ScoreLog(store, interval=0.05, spool=Spool(folder), on_recovered=recovered.append)
    assert wait_for(lambda: store.count(scores) == 8)
    log.close()
    assert recovered == [8] and log.lost == 0
    assert sorted(folder.iterdir()) == []  # the dead worker's spool is gone, and so is this one's
    assert "8 row(s) a stopped worker had queued written" in caplog.text


def test_rows_a_killed_worker_had_written_are_not_written_twice(tmp_path):
    from serving.spool import Spool

    store, folder = _killed_with_rows_queued(tmp_path, "committed")
    assert store.count(scores) == 5
    log = ScoreLog(store, interval=0.05, spool=Spool(folder))
    assert wait_for(lambda: log.recovered == 3)
    log.close()
    lead_ids = sorted(store.read(select(scores.c.lead_id))["lead_id"])
    assert lead_ids == [f"L{i}" for i in range(8)]  # each once


def test_rows_dropped_from_a_full_queue_stay_dropped_after_a_kill(tmp_path):
    from serving.spool import Spool

    store, folder = _killed_with_rows_queued(tmp_path, "full")
    log = ScoreLog(store, interval=0.05, spool=Spool(folder))
    assert wait_for(lambda: log.recovered == 4)
    log.close()
    assert sorted(store.read(select(scores.c.lead_id))["lead_id"]) == ["L4", "L5", "L6", "L7"]


def test_a_running_workers_spool_is_left_alone_and_what_it_could_not_write_at_close_is_kept(tmp_path, caplog):
    from serving.spool import Spool

    down = Flaky(f"sqlite:///{tmp_path / 'db.sqlite'}")
    first = ScoreLog(down, interval=60, spool=Spool(tmp_path / "spool"))
    first.add(score_rows(4))
    store = FeedbackStore(down.url)
    second = ScoreLog(store, interval=60, spool=Spool(tmp_path / "spool"))
    assert second.recover() and second.recovered == 0  # the first one runs: its rows are its own
    assert first.close(timeout=5) == 0 and first.lost == 0  # the database down: kept in the spool
    assert "4 row(s) not written at shutdown (the database unavailable), kept in the spool" in caplog.text
    # its own thread may be replaying the spool at the same moment: wait for whichever does it
    assert wait_for(lambda: second.recover() and second.recovered == 4) and store.count(scores) == 4
    second.close()


def test_unreadable_spool_lines_are_counted_lost_and_a_line_cut_short_is_left_out(tmp_path):
    import json

    from serving.spool import Spool

    folder = tmp_path / "spool"
    folder.mkdir()
    rows = [json.dumps([i, row], default=str) for i, row in enumerate(score_rows(3))]
    (folder / "1-dead.lock").touch()
    (folder / "1-dead-00000000.jsonl").write_text(f"{rows[0]}\nnot json\n{rows[1]}\n{rows[2][:30]}")
    store = FeedbackStore(f"sqlite:///{tmp_path / 'db.sqlite'}")
    lost: list[int] = []
    log = ScoreLog(store, interval=60, spool=Spool(folder), on_lost=lost.append)
    assert wait_for(lambda: log.recovered == 2)
    log.close()
    assert lost == [1] and sorted(store.read(select(scores.c.lead_id))["lead_id"]) == ["L0", "L1"]


def test_only_the_rows_the_score_log_lacks_are_left_to_write(tmp_path):
    """A batch may score one lead twice at the same instant: the rows are counted, not just matched."""
    from serving.spool import unwritten

    store = FeedbackStore(f"sqlite:///{tmp_path / 'db.sqlite'}")
    [first, second] = score_rows(2)
    twice = [first, dict(first), second]
    store.log_scores([first])
    assert unwritten(store, twice) == [first, second]
    store.log_scores([first, second])
    assert unwritten(store, twice) == []


def test_a_spooled_row_reads_back_as_it_was_and_a_value_json_cannot_hold_is_refused(tmp_path):
    """What a killed worker's next worker replays must be the row it queued: times as datetimes,
    NaN and None as they were. A value the spool cannot write (not a JSON type) is refused with
    TypeError, which the score log takes as "queued in memory only"."""
    import math
    from datetime import UTC, datetime

    import numpy as np
    import pytest

    from serving.spool import Spool

    at = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)
    row = {"lead_id": "L\u00e9-1", "scored_at": at, "probability": math.nan, "score": None, "grade": "A"}
    gone = Spool(tmp_path)
    gone.append(7, [row])
    with pytest.raises(TypeError, match="cannot be spooled"):
        gone.append(8, [{**row, "score": np.int64(3)}])
    assert gone.close()  # stopped with its row unwritten: the spool is kept, its lock let go
    [orphan] = Spool(tmp_path).orphans()
    [back], unreadable = orphan.rows()
    assert unreadable == 0 and back["scored_at"] == at and back["scored_at"].tzinfo is not None
    assert math.isnan(back["probability"]) and back["score"] is None and back["lead_id"] == "L\u00e9-1"
