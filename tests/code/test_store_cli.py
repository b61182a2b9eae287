"""`leadscore store prune --older-than DAYS`: deletes the score-log and feature rows older than DAYS
before the newest answer (the log's own clock: a simulated week is not deleted the day it is
logged), prints a table of what it deleted, refuses a bad DAYS in one line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import typer
from typer.testing import CliRunner

from core.errors import LeadscoreError
from core.store import FeedbackStore, scores
from serving import store_cli
from serving.retention import retention_cut
from tests.conftest import score_rows

NEWEST = datetime(2025, 12, 20, 12, tzinfo=UTC)  # a simulated week, long before the test runs


def _app() -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)  # a group, as `leadscore` is
    store_cli.register(app)
    return app


def _store(tmp_path) -> tuple[str, FeedbackStore]:
    url = f"sqlite:///{tmp_path / 'feedback.db'}"
    store = FeedbackStore(url)
    rows = [{**row, "scored_at": NEWEST - timedelta(days=10 * i)} for i, row in enumerate(score_rows(12))]
    store.log_scores(rows)  # L0 at NEWEST, L1 10 days before, ... L11 110 days before
    features = [
        {"lead_id": r["lead_id"], "scored_at": r["scored_at"], "model_version": "v", "segment": "smb", "features": {}}
        for r in rows
    ]
    store.log_feature_rows(features)
    return url, store


def test_prune_counts_back_from_the_newest_answer_and_prints_what_it_deleted(tmp_path):
    url, store = _store(tmp_path)
    assert retention_cut(store, 90) == NEWEST - timedelta(days=90)  # not 90 days before the wall clock
    result = CliRunner().invoke(_app(), ["store", "prune", "--older-than", "90", "--db", url], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    # L10 (100 days) and L11 (110 days) are older than 90 days before the newest; L9 (exactly 90) is kept
    assert "2025-09-21T12:00:00+00:00" in result.output
    shown = " ".join(result.output.split())
    assert "scores (the score log) │ 2 │" in shown and "score_features (feature rows) │ 2 │" in shown
    assert store.count(scores) == 10 and len(store.read_feature_rows()) == 10
    again = CliRunner().invoke(_app(), ["store", "prune", "--older-than", "90", "--db", url], env={"COLUMNS": "200"})
    assert "scores (the score log) │ 0 │" in " ".join(again.output.split())


def test_the_cut_never_comes_after_now():
    class Future:
        def newest_score(self):
            return datetime(2100, 1, 1, tzinfo=UTC)

    now = datetime(2026, 6, 1, tzinfo=UTC)
    assert retention_cut(Future(), 30, now) == now - timedelta(days=30)


@pytest.mark.parametrize("days", ["0", "-3", "ninety", "1.5", "99999999"])
def test_a_bad_days_is_refused_in_one_line_before_the_store_is_touched(tmp_path, days):
    result = CliRunner().invoke(_app(), ["store", "prune", "--older-than", days, "--db", f"sqlite:///{tmp_path}/x.db"])
    assert isinstance(result.exception, LeadscoreError)
    assert str(result.exception) == f"--older-than {days!r}: expected a whole number of days from 1 to 36500"
    assert not (tmp_path / "x.db").exists()


def test_an_empty_log_has_nothing_to_prune(tmp_path):
    url = f"sqlite:///{tmp_path / 'feedback.db'}"
    FeedbackStore(url).open()
    result = CliRunner().invoke(_app(), ["store", "prune", "--older-than", "30", "--db", url])
    assert result.exit_code == 0 and "The score log is empty: nothing to prune." in result.output
