"""The feedback store on SQLite and on PostgreSQL: times kept as UTC instants, decisions stored once
and corrected by newer ones (history kept, status computed), a score log that one bad row never
blocks, a database that is down at start, and migrations (several workers at once, a database made
by leadscore 0.1.0 upgraded in place)."""

from __future__ import annotations

import itertools
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, inspect, select, text

from core.store import (
    DecisionConflict,
    FeedbackStore,
    LeadscoreError,
    StoreUnavailable,
    decisions,
    redacted,
    scores,
)
from tests.conftest import score_rows
from tests.live import TcpProxy, free_port, postgres_database
from tests.waiting import wait_for

WHEN = datetime(2026, 1, 5, 9, tzinfo=UTC)
IST = timezone(timedelta(hours=5, minutes=30))


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    """A fresh, empty database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'feedback.db'}"
        return
    with postgres_database("leadscore_store") as database:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"


@pytest.fixture
def store(url):
    store = FeedbackStore(url)
    yield store
    store.engine.dispose()


def raw(url: str, sql: str) -> list[tuple]:
    """Rows of `sql` read with a plain engine (not the store's)."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql))]
    finally:
        engine.dispose()


# --- times and text ---------------------------------------------------------------------------


def test_an_offset_is_kept_as_the_same_instant_and_read_back_aware_utc(store, url):
    store.add_decision("fb-ist", "L1", "accepted", None, datetime(2026, 1, 2, 10, 30, tzinfo=IST))
    store.add_decision("fb-naive", "L2", "accepted", None, datetime(2026, 1, 2, 10, 30))  # no offset: UTC
    frame = store.decisions().set_index("feedback_id")
    assert frame.loc["fb-ist", "decided_at"] == pd.Timestamp("2026-01-02T05:00:00Z")
    assert frame.loc["fb-naive", "decided_at"] == pd.Timestamp("2026-01-02T10:30:00Z")
    assert str(frame["decided_at"].dt.tz) == "UTC"
    [(stored,)] = raw(url, "select decided_at from decisions where feedback_id = 'fb-ist'")
    if url.startswith("sqlite"):
        assert str(stored).startswith("2026-01-02 05:00:00")  # the UTC wall time, not 10:30
    else:
        assert stored == datetime(2026, 1, 2, 5, tzinfo=UTC)
    assert store.add_decision("fb-ist", "L1", "accepted", None, datetime(2026, 1, 2, 5, tzinfo=UTC)).duplicate


OFFSETS = st.integers(-(24 * 3600 - 1), 24 * 3600 - 1).map(lambda s: timezone(timedelta(seconds=s)))
INSTANTS = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2026, 11, 1))
TEXT = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")  # no lone surrogate, no NUL
IDS = itertools.count()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    decided=INSTANTS,
    mql=st.none() | INSTANTS,
    offsets=st.tuples(OFFSETS, OFFSETS),
    rep_id=st.none() | st.text(TEXT, max_size=128),
    note=st.none() | st.text(TEXT, max_size=2000),
)
def test_any_instant_at_any_offset_and_any_text_round_trip_exactly(store, decided, mql, offsets, rep_id, note):
    decided_at = decided.replace(tzinfo=UTC).astimezone(offsets[0])
    mql_at = mql.replace(tzinfo=UTC).astimezone(offsets[1]) if mql else None
    feedback_id = f"fb-{next(IDS)}"
    store.add_decision(feedback_id, "L", "accepted", None, decided_at, mql_at=mql_at, rep_id=rep_id, note=note)
    with store.engine.connect() as connection:
        row = connection.execute(select(decisions).where(decisions.c.feedback_id == feedback_id)).one()
    assert row.decided_at == decided_at and row.decided_at.utcoffset() == timedelta(0)
    assert row.mql_at == mql_at and (mql_at is None or row.mql_at.tzinfo is UTC)
    assert (row.rep_id, row.note) == (rep_id, note)
    again = store.add_decision(feedback_id, "L", "accepted", None, decided_at, mql_at=mql_at, rep_id=rep_id, note=note)
    assert again.duplicate  # the same body, compared after the round trip


# --- decisions: once, corrected, voided -----------------------------------------------------------


def test_a_decision_is_stored_once_and_a_reused_id_with_another_body_is_a_conflict(store):
    first = store.add_decision("fb-1", "L1", "rejected", "no_budget", WHEN, rep_id="r1", note="'); DROP TABLE x;--")
    again = store.add_decision("fb-1", "L1", "rejected", "no_budget", WHEN, rep_id="r1", note="'); DROP TABLE x;--")
    assert not first.duplicate and again.duplicate
    with pytest.raises(DecisionConflict, match=r"feedback_id 'fb-1' was stored .*differs in: decision, reason\)$"):
        store.add_decision("fb-1", "L1", "accepted", None, WHEN, rep_id="r1", note="'); DROP TABLE x;--")
    try:
        store.add_decision("fb-1", "L1", "rejected", "no_budget", WHEN + timedelta(seconds=1), rep_id="r1")
    except DecisionConflict as conflict:
        assert conflict.fields == ["decided_at", "note"]
    [row] = store.decisions().to_dict("records")
    assert row["decision"] == "rejected" and row["note"] == "'); DROP TABLE x;--" and store.count(decisions) == 1


def test_a_new_decision_for_the_same_handover_supersedes_and_voiding_restores_the_previous(store):
    mql = WHEN - timedelta(days=2)
    store.add_decision("a", "L1", "rejected", "no_budget", WHEN, mql_at=mql)
    store.add_decision("b", "L1", "accepted", None, WHEN + timedelta(hours=1), mql_at=mql)  # the rep's correction
    store.add_decision("c", "L1", "recycled", "timing", WHEN, mql_at=mql - timedelta(days=30))  # an earlier hand-over
    store.add_decision("d", "L1", "accepted", None, WHEN - timedelta(days=1))  # no mql_at: placed on a's and b's
    store.add_decision("e", "L2", "accepted", None, WHEN, mql_at=mql)
    store.add_decision("f", "L2", "rejected", "bad_fit", WHEN, mql_at=mql)  # same decided_at: received later wins
    status = store.decisions().set_index("feedback_id")[["status", "superseded_by"]]
    assert status.to_dict("index") == {
        "a": {"status": "superseded", "superseded_by": "b"},
        "b": {"status": "latest", "superseded_by": None},
        "c": {"status": "latest", "superseded_by": None},
        "d": {"status": "superseded", "superseded_by": "b"},
        "e": {"status": "superseded", "superseded_by": "f"},
        "f": {"status": "latest", "superseded_by": None},
    }
    assert sorted(store.latest_decisions()["feedback_id"]) == ["b", "c", "f"]
    store.void("b", "posted on the wrong lead")
    history = store.decisions().set_index("feedback_id")
    assert history.loc["b", "status"] == "voided" and history.loc["b", "void_reason"] == "posted on the wrong lead"
    assert history.loc["a", "status"] == "latest" and history.loc["b", "voided_at"] >= history.loc["b", "received_at"]
    assert sorted(store.latest_decisions()["feedback_id"]) == ["a", "c", "f"]  # d is older than a
    assert list(store.decisions(lead_id="L2", decision="rejected", reason="bad_fit")["feedback_id"]) == ["f"]
    later = history.loc["d", "received_at"]
    assert list(store.decisions(since=later)["feedback_id"]) == ["e", "f"]


def test_a_correction_without_mql_at_supersedes_its_handover_even_when_the_lead_was_scored_again(store):
    """Issue #23 item 5: the CRM re-scores a lead between a decision naming its hand-over and a
    correction that does not name it; the score is no hand-over, so the correction supersedes."""
    from tests.conftest import score_rows

    mql = WHEN - timedelta(days=5)
    store.add_decision("a", "L0", "rejected", "no_budget", WHEN - timedelta(days=4), mql_at=mql)
    store.log_scores([{**score_rows(1)[0], "scored_at": WHEN - timedelta(days=2)}])  # re-scored, lead L0
    store.add_decision("b", "L0", "accepted", None, WHEN)  # the rep's correction, without mql_at
    status = store.decisions().set_index("feedback_id")
    assert status["status"].to_dict() == {"a": "superseded", "b": "latest"} and status.loc["b", "handover"] == mql
    assert list(store.latest_decisions()["feedback_id"]) == ["b"]


def test_voiding_an_unknown_or_voided_decision_is_a_clear_error(store):
    store.add_decision("a", "L1", "accepted", None, WHEN)
    with pytest.raises(LeadscoreError, match=r"^feedback_id 'nope': no such decision"):
        store.void("nope", "typo")
    store.void("a", "typo")
    with pytest.raises(LeadscoreError, match=r"^feedback_id 'a' was already voided at 20"):
        store.void("a", "again")


def test_many_clients_posting_duplicates_and_corrections_end_with_the_latest_decision(url):
    """8 clients, each its own connection pool as service workers have, post 12 hand-overs' 3
    versions twice in random order; half of them also post version 1 with another note."""
    mql = WHEN - timedelta(days=1)

    def body(h: int, v: int, note: str | None = None) -> dict:
        decision = ("rejected", "no_budget") if v % 2 else ("accepted", None)
        fields = dict(feedback_id=f"h{h}-v{v}", lead_id=f"L{h}", decision=decision[0], reason=decision[1])
        return dict(fields, decided_at=WHEN + timedelta(hours=v), mql_at=mql, note=note)

    plain = [body(h, v) for h in range(12) for v in range(3)]
    rogue = [body(h, 1, note="another body") for h in range(12)]

    def client(seed: int) -> list:
        store, posts = FeedbackStore(url), plain * 2 + (rogue if seed % 2 else [])
        random.Random(seed).shuffle(posts)
        outcomes = []
        for post in posts:
            try:
                outcomes.append(store.add_decision(**post))
            except DecisionConflict as conflict:
                outcomes.append(conflict)
        store.engine.dispose()
        return outcomes

    with ThreadPoolExecutor(8) as pool:
        outcomes = [o for done in pool.map(client, range(8)) for o in done]
    conflicts = [o for o in outcomes if isinstance(o, DecisionConflict)]
    stored = sorted(o.feedback_id for o in outcomes if not isinstance(o, DecisionConflict) and not o.duplicate)
    assert stored == sorted(p["feedback_id"] for p in plain)  # each id stored once, by one client
    assert conflicts and {c.feedback_id for c in conflicts} <= {r["feedback_id"] for r in rogue}
    assert all(c.fields == ["note"] for c in conflicts)
    store = FeedbackStore(url)
    assert sorted(store.latest_decisions()["feedback_id"]) == sorted(f"h{h}-v2" for h in range(12))
    assert store.count(decisions) == 36 and (store.decisions()["status"] == "superseded").sum() == 24
    store.engine.dispose()


# --- the score log ---------------------------------------------------------------------------------


def test_a_row_the_database_refuses_is_left_out_and_the_others_written(store):
    bad = dict(score_rows(1, start=9)[0], lead_id=None)  # NOT NULL on both databases
    logged = store.log_scores([*score_rows(3), bad, *score_rows(2, start=3)])
    assert (logged.written, logged.refused, logged.errors) == (5, 1, ("IntegrityError",))
    assert store.count(scores) == 5


def test_a_nul_in_a_score_log_row_does_not_block_the_log_on_postgresql(tmp_path):
    from serving.scorelog import ScoreLog

    with postgres_database("leadscore_nul") as database:
        store = FeedbackStore(f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}")
        refused = []
        log = ScoreLog(store, interval=0.05, on_refused=refused.append)
        log.add([dict(score_rows(1)[0], source="web\x00inar")])  # PostgreSQL text cannot hold a NUL
        assert wait_for(lambda: refused == [1], timeout=5)
        log.add(score_rows(100, start=1))
        assert wait_for(lambda: store.count(scores) == 100, timeout=2)
        log.close()
        assert not log.pending and log.lost == 0
        store.engine.dispose()


def test_a_score_log_of_an_older_release_gains_the_new_column_and_keeps_its_rows(store):
    """A database created before the score log had `source`: opening it adds the column,
    empty for the old rows, and new rows carry it."""
    store.open()
    with store.engine.begin() as connection:
        connection.execute(text("ALTER TABLE scores DROP COLUMN source"))
    store.log_scores(score_rows(2))  # what an older release wrote
    again = FeedbackStore(store.url)
    again.log_scores([dict(score_rows(1, start=7)[0], source="webinar")])
    assert "source" in {c["name"] for c in inspect(again.engine).get_columns("scores")}
    assert raw(store.url, "SELECT lead_id, source FROM scores ORDER BY lead_id") == [
        ("L0", None),
        ("L1", None),
        ("L7", "webinar"),
    ]
    again.engine.dispose()


def test_each_leads_last_model_score_and_last_rule_score_are_read_back_for_its_trend(store):
    """The trend's lookup: per lead, the newest row with a model score and the newest rule score
    (which a later rules answer carries), with the times they were given; many leads at once."""
    model, rules = score_rows(1)[0], dict(score_rows(1)[0], score=None, probability=None, scored_by="rules")
    rows = [
        dict(model, lead_id="A", scored_at=WHEN, score=31, rule_score=20.0),
        dict(model, lead_id="A", scored_at=WHEN + timedelta(hours=1), score=45, rule_score=30.0),
        dict(rules, lead_id="A", scored_at=WHEN + timedelta(hours=2), rule_score=35.5),
        dict(rules, lead_id="B", scored_at=WHEN, rule_score=5.0),
        *(dict(model, lead_id=f"M{i}", scored_at=WHEN, score=i, rule_score=float(i)) for i in range(1_200)),
    ]
    store.log_scores(rows)
    last = store.last_scores(["A", "B", "never", *(f"M{i}" for i in range(1_200))])
    assert (last["A"].score, last["A"].score_at) == (45, WHEN + timedelta(hours=1))
    assert (last["A"].rule_score, last["A"].rule_at) == (35.5, WHEN + timedelta(hours=2))
    assert (last["B"].score, last["B"].rule_score, last["B"].rule_at) == (None, 5.0, WHEN)
    assert "never" not in last and len(last) == 1_202 and last["M1199"].score == 1199


def test_the_trends_lookup_seeks_a_leads_newest_rows_however_often_it_was_scored(store):
    """A lead scored 3,000 times: the lookup finds its newest rows through the (lead_id, scored_at,
    id) index rather than reading every row (a CRM re-scoring a lead on each activity must not
    slow /score down over time); of two rows at the same time the later logged one is newest."""
    model = score_rows(1)[0]
    rows = [dict(model, lead_id="busy", scored_at=WHEN + timedelta(minutes=i), score=i % 90) for i in range(3_000)]
    last_at = WHEN + timedelta(minutes=2_999)
    rows.append(dict(model, lead_id="busy", scored_at=last_at, score=None, probability=None, rule_score=77.0))
    store.log_scores(rows)
    last = store.last_scores(["busy"])["busy"]
    assert (last.score, last.score_at, last.rule_score, last.rule_at) == (2_999 % 90, last_at, 77.0, last_at)
    if store.url.startswith("postgresql"):  # one statement, no BEGIN / ROLLBACK round trips around it
        from sqlalchemy import event

        modes = []
        record = lambda conn, cursor, statement, *_: modes.append(conn.connection.dbapi_connection.autocommit)  # noqa: E731
        event.listen(store.engine, "before_cursor_execute", record)
        assert store.last_scores(["busy"])["busy"].score == 2_999 % 90
        event.remove(store.engine, "before_cursor_execute", record)
        assert modes == [True]
    if store.url.startswith("sqlite"):
        from core.store import _latest_rows

        query = _latest_rows(1).params(lead0="busy").compile(store.engine, compile_kwargs={"literal_binds": True})
        plan = " ".join(str(row) for row in raw(store.url, f"EXPLAIN QUERY PLAN {query}"))
        assert "ix_scores_lead_newest" in plan and "SCAN newest" not in plan


# --- a database that is down -------------------------------------------------------------------------


def test_a_database_that_is_down_stops_nothing_until_it_is_used_and_is_picked_up_when_back():
    with postgres_database("leadscore_down") as database:
        proxy = TcpProxy(5432)  # not started yet: the database is unreachable
        store = FeedbackStore(f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}/{database}")
        assert not store.open() and not store.ready and "OperationalError" in store.problem
        with pytest.raises(StoreUnavailable, match=r"^feedback store unavailable: cannot open it \(Operational"):
            store.add_decision("a", "L1", "accepted", None, WHEN)
        with pytest.raises(StoreUnavailable):
            store.log_scores(score_rows(1))
        proxy.start()
        assert store.open() and store.ready and store.problem is None
        assert not store.add_decision("a", "L1", "accepted", None, WHEN).duplicate
        proxy.cut()
        with pytest.raises(StoreUnavailable, match=r"^feedback store unavailable \("):
            store.log_scores(score_rows(1))
        assert not store.ready and not store.open()
        store.engine.dispose()


def test_a_full_disk_or_read_only_file_is_reported_by_open(tmp_path):
    for url in ("sqlite:////dev/full", f"sqlite:///file:{tmp_path / 'ro.db'}?mode=ro&uri=true"):
        (tmp_path / "ro.db").touch()
        store = FeedbackStore(url)  # no connection yet: nothing to fail
        assert not store.open() and "OperationalError" in store.problem
        with pytest.raises(StoreUnavailable, match="cannot open it"):
            store.count(decisions)


def test_an_unusable_url_is_one_clear_line():
    with pytest.raises(LeadscoreError, match=r"^feedback store .*: not a usable database URL"):
        FeedbackStore("nosuchdb://x/y")


def test_passwords_never_appear_in_messages():
    assert "s3cret" not in redacted("postgresql://scorer:s3cret@db.internal:5432/leads")
    store = FeedbackStore(f"postgresql+psycopg://scorer:s3cret@127.0.0.1:{free_port()}/leads")
    assert not store.open() and "s3cret" not in store.problem


# --- migrations ---------------------------------------------------------------------------------------


def test_workers_migrating_a_fresh_database_at_once_all_succeed(url):
    start = threading.Barrier(4)

    def worker(_) -> bool:
        store = FeedbackStore(url)  # its own engine, as a worker process has
        start.wait()
        try:
            return store.open()
        finally:
            store.engine.dispose()

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(worker, range(4))) == [True] * 4
    assert raw(url, "select version_num from alembic_version") == [("0004",)]
    assert FeedbackStore(url).count(scores) == 0


OLD_DDL = """
CREATE TABLE decisions (feedback_id VARCHAR(128) NOT NULL PRIMARY KEY, lead_id VARCHAR(128) NOT NULL,
  mql_at {time}, decision VARCHAR(16) NOT NULL, reason VARCHAR(64), decided_at {time} NOT NULL,
  rep_id VARCHAR(128), note TEXT, received_at {time} NOT NULL);
CREATE INDEX ix_decisions_lead_id ON decisions (lead_id);
CREATE TABLE scores (id {serial}, lead_id VARCHAR(128) NOT NULL, scored_at {time} NOT NULL,
  model_version VARCHAR(128), probability FLOAT, is_mql BOOLEAN NOT NULL, rule_score FLOAT NOT NULL,
  rule_is_mql BOOLEAN NOT NULL, scored_by VARCHAR(8) NOT NULL, segment VARCHAR(64), source VARCHAR(300));
INSERT INTO decisions VALUES ('old-1', 'L1', NULL, 'rejected', 'no_budget', '2025-12-01 10:00:00', NULL,
  'kept', '2025-12-01 10:00:01');
INSERT INTO scores (lead_id, scored_at, model_version, probability, is_mql, rule_score, rule_is_mql, scored_by,
  segment, source) VALUES ('L1', '2025-11-30 09:00:00', 'leadscore/1', 0.4, TRUE, 55, FALSE, 'model', 'smb', 'web');
"""


def test_a_database_made_by_0_1_0_is_upgraded_in_place_with_its_rows(url):
    sqlite = url.startswith("sqlite")
    ddl = OLD_DDL.format(
        time="DATETIME" if sqlite else "TIMESTAMP WITH TIME ZONE",
        serial="INTEGER NOT NULL PRIMARY KEY" if sqlite else "SERIAL PRIMARY KEY",
    )
    engine = create_engine(url)
    with engine.begin() as connection:
        for statement in filter(str.strip, ddl.split(";")):
            connection.exec_driver_sql(statement)
    engine.dispose()
    store = FeedbackStore(url)
    assert store.open(), store.problem
    assert raw(url, "select version_num from alembic_version") == [("0004",)]
    have = {c["name"] for c in inspect(store.engine).get_columns("decisions")}
    assert {"voided_at", "void_reason"} <= have
    assert "score_features" in inspect(store.engine).get_table_names()
    assert {"grade", "score", "threshold", "rule_threshold"} <= {
        c["name"] for c in inspect(store.engine).get_columns("scores")
    }
    [old] = store.decisions().to_dict("records")
    assert (old["feedback_id"], old["note"], old["status"]) == ("old-1", "kept", "latest")
    assert old["decided_at"] == pd.Timestamp("2025-12-01T10:00:00Z")
    store.log_scores(score_rows(1, start=2))
    store.void("old-1", "test")
    assert store.count(scores) == 2 and store.latest_decisions().empty
    store.engine.dispose()
