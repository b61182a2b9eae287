"""The feedback store on SQLite and on PostgreSQL: decisions stored once, score log written."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import pandas as pd
import pytest

from core.store import FeedbackStore, decisions, redacted, scores
from tests.conftest import score_rows
from tests.integration.test_mlflow_server import _postgres


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        yield FeedbackStore(f"sqlite:///{tmp_path / 'feedback.db'}")
        return
    connection = _postgres()
    database = f"leadscore_store_{secrets.token_hex(4)}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{database}"')
    store = FeedbackStore(f"postgresql://postgres@127.0.0.1:5432/{database}")
    try:
        yield store
    finally:
        store.engine.dispose()
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        connection.close()


def test_decisions_are_stored_once_and_read_back(store):
    when = datetime(2026, 1, 5, 9, tzinfo=UTC)
    first = store.add_decision("fb-1", "L1", "rejected", "no_budget", when, rep_id="r1", note="'); DROP TABLE x;--")
    again = store.add_decision("fb-1", "L1", "accepted", None, when)
    store.add_decision("fb-2", "L2", "accepted", None, when)
    assert not first.duplicate and again.duplicate
    assert store.count(decisions) == 2
    frame = store.decisions_since().set_index("feedback_id")
    assert frame.loc["fb-1", "decision"] == "rejected" and frame.loc["fb-1", "note"] == "'); DROP TABLE x;--"
    assert str(frame["decided_at"].dtype).startswith("datetime64") and pd.isna(frame.loc["fb-2", "reason"])


def test_score_log(store):
    store.log_scores(score_rows(3, version="leadscore/3"))
    assert store.count(scores) == 3


def test_reopening_keeps_what_is_stored(tmp_path):
    url = f"sqlite:///{tmp_path / 'feedback.db'}"
    FeedbackStore(url).add_decision("fb-9", "L9", "accepted", None, datetime.now(UTC))
    assert FeedbackStore(url).count(decisions) == 1


def test_a_score_log_of_an_older_release_gains_the_new_column_and_keeps_its_rows(store):
    """A database created before the score log had `source`: opening it adds the column,
    empty for the old rows, and new rows carry it."""
    from sqlalchemy import inspect, text

    with store.engine.begin() as connection:
        connection.execute(text("ALTER TABLE scores DROP COLUMN source"))
    store.log_scores(score_rows(2))  # what an older release wrote
    again = FeedbackStore(store.url)
    assert "source" in {c["name"] for c in inspect(again.engine).get_columns("scores")}
    again.log_scores([dict(score_rows(1, start=7)[0], source="webinar")])
    with again.engine.connect() as connection:
        rows = connection.execute(text("SELECT lead_id, source FROM scores ORDER BY lead_id")).all()
    assert [tuple(r) for r in rows] == [("L0", None), ("L1", None), ("L7", "webinar")]
    again.engine.dispose()


def test_passwords_never_appear_in_messages():
    assert "s3cret" not in redacted("postgresql://scorer:s3cret@db.internal:5432/leads")
