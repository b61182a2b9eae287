"""The feedback store on SQLite and on PostgreSQL: decisions stored once, score log written."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import pandas as pd
import pytest

from serving.store import FeedbackStore, decisions, redacted, scores
from tests.conftest import score_rows
from tests.test_mlflow_server import _postgres


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


def test_passwords_never_appear_in_messages():
    assert "s3cret" not in redacted("postgresql://scorer:s3cret@db.internal:5432/leads")
