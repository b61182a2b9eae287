"""`leadscore feedback list|export|void` on SQLite and PostgreSQL: what an operator sees of the
stored sales decisions, the outcomes table retraining reads, and clear one-line errors."""

from __future__ import annotations

import csv
from datetime import UTC, datetime

import pandas as pd
import pytest

from core.store import FeedbackStore
from features.contract import ContractConfig, outcomes_schema, validate
from features.tables import read_table
from leadscore_cli import main
from tests.conftest import AUTH, _client, decision, score_rows
from tests.live import free_port, postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    """A fresh feedback store's URL, its tables created."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'feedback.db'}"
        assert FeedbackStore(url).open()
        yield url
        return
    with postgres_database("leadscore_cli") as database:
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
        store = FeedbackStore(url)
        assert store.open()
        yield url
        store.engine.dispose()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(argv))
    out, err = capsys.readouterr()
    return info.value.code, " ".join(out.split()), " ".join(err.split())


def _store(url: str) -> FeedbackStore:
    store = FeedbackStore(url)
    assert store.open()
    return store


def _add(store: FeedbackStore, feedback_id: str, lead_id: str, **fields) -> None:
    body = {**decision(feedback_id, lead_id), **fields}
    for name in ("decided_at", "mql_at"):
        if isinstance(body.get(name), str):
            body[name] = datetime.fromisoformat(body[name])
    store.add_decision(**body)


def test_a_posted_offset_is_exported_as_the_same_utc_instant(db, capsys, monkeypatch, tmp_path):
    """Acceptance: +05:30 posted to /feedback comes out of `export` as the same instant in UTC."""
    starting = _client(monkeypatch, tmp_path, f"sqlite:///{tmp_path / 'empty.db'}")  # no model: the rules
    monkeypatch.setenv("LEADSCORE_DB_URL", db)  # _client points it at SQLite: this test's store instead
    with starting as client:
        body = decision("crm-1", "L-1", mql_at="2026-01-02T09:00:00+05:30", decided_at="2026-01-02T10:30:00+05:30")
        assert client.post("/feedback", json={"feedback": body}, headers=AUTH).status_code == 200
    for name in ("outcomes.csv", "outcomes.parquet"):
        code, out, _ = run(capsys, "feedback", "export", "--out", str(tmp_path / name), "--db", db)
        assert code in (0, None) and out.startswith("1 outcome(s) from") and "outcomes." in out
    text = list(csv.reader((tmp_path / "outcomes.csv").read_text().splitlines()))
    assert text == [
        ["lead_id", "mql_at", "decision", "reason", "decided_at"],
        ["L-1", "2026-01-02T03:30:00Z", "rejected", "no_budget", "2026-01-02T05:00:00Z"],
    ]
    parquet = pd.read_parquet(tmp_path / "outcomes.parquet")
    assert parquet.loc[0, "decided_at"] == pd.Timestamp("2026-01-02T05:00:00Z")
    checked = validate(
        read_table(tmp_path / "outcomes.csv"), outcomes_schema(ContractConfig(), pd.Series(["L-1"])), "x"
    )
    assert checked.loc[0, "decided_at"] == pd.Timestamp("2026-01-02T05:00:00Z")  # the contract reads it back


def test_export_keeps_the_decision_in_force_per_handover(db, capsys, tmp_path):
    """Corrections supersede, a void brings the previous decision back, and a decision without
    mql_at is placed at its lead's latest score at or before it (none: left out and counted)."""
    store = _store(db)
    handover = "2026-01-01T09:00:00+00:00"
    _add(store, "a-1", "L-a", mql_at=handover, decided_at="2026-01-02T10:00:00+00:00")
    _add(store, "a-2", "L-a", mql_at=handover, decision="accepted", reason=None, decided_at="2026-01-02T11:00:00+00:00")
    _add(store, "b-1", "L-b", mql_at=handover, decision="accepted", reason=None, decided_at="2026-01-02T10:00:00+00:00")
    _add(store, "b-2", "L-b", mql_at=handover, reason="not_now", decided_at="2026-01-02T12:00:00+00:00")
    store.void("b-2", "entered on the wrong lead")
    rows = score_rows(3)  # L0, L1, L2
    at = [datetime(2026, 1, 1, h, tzinfo=UTC) for h in (8, 12, 20)]
    store.log_scores([dict(rows[0], scored_at=when) for when in at] + [dict(rows[1], scored_at=at[2])])
    _add(store, "c-1", "L0", decided_at="2026-01-01T15:00:00+00:00")  # scored at 08 and 12 before: 12
    _add(store, "d-1", "L1", decided_at="2026-01-01T15:00:00+00:00")  # scored only after: left out
    store.engine.dispose()
    code, out, _ = run(capsys, "feedback", "export", "--out", str(tmp_path / "o.csv"), "--db", db)
    assert code in (0, None)
    assert (
        "3 outcome(s)" in out and "1 without mql_at left out: their lead has no hand-over or score at or before" in out
    )
    table = read_table(tmp_path / "o.csv")
    table = table.astype(object).where(table.notna(), None)
    assert table.to_dict("records") == [
        {"lead_id": "L-a", "mql_at": "2026-01-01T09:00:00Z", "decision": "accepted", "reason": None,
         "decided_at": "2026-01-02T11:00:00Z"},
        {"lead_id": "L-b", "mql_at": "2026-01-01T09:00:00Z", "decision": "accepted", "reason": None,
         "decided_at": "2026-01-02T10:00:00Z"},
        {"lead_id": "L0", "mql_at": "2026-01-01T12:00:00Z", "decision": "rejected", "reason": "no_budget",
         "decided_at": "2026-01-01T15:00:00Z"},
    ]  # fmt: skip


def test_list_shows_the_history_with_filters(db, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # the table's values on one line each
    store = _store(db)
    _add(store, "a-1", "L-a", mql_at="2026-01-01T09:00:00+00:00", decided_at="2026-01-02T10:00:00+00:00")
    _add(store, "a-2", "L-a", mql_at="2026-01-01T09:00:00+00:00", decided_at="2026-01-02T11:00:00+00:00",
         decision="accepted", reason=None)  # fmt: skip
    _add(store, "b-1", "L-b", reason="not_now", decision="recycled")
    store.void("b-1", "test lead")
    store.engine.dispose()
    code, out, _ = run(capsys, "feedback", "list", "--db", db)
    assert code in (0, None) and "superseded by a-2" in out and "voided: test lead" in out
    assert "3 decision(s) in" in out and ": 1 in force, 1 superseded, 1 voided" in out
    code, out, _ = run(capsys, "feedback", "list", "--lead", "L-a", "--decision", "rejected", "--db", db)
    assert "a-1" in out and "accepted" not in out and "1 decision(s)" in out  # a-2 (accepted) filtered out
    code, out, _ = run(capsys, "feedback", "list", "--since", "2999-01-01", "--db", db)
    assert "0 decision(s)" in out
    code, out, _ = run(
        capsys, "feedback", "list", "--reason", "not_now", "--out", str(tmp_path / "l.parquet"), "--db", db
    )
    listed = pd.read_parquet(tmp_path / "l.parquet")
    assert listed["feedback_id"].tolist() == ["b-1"] and listed.loc[0, "status"] == "voided"
    assert str(listed["received_at"].dtype) == "datetime64[us, UTC]"


def test_void_names_what_is_in_force_again_and_refuses_unknown_ids(db, capsys):
    store = _store(db)
    _add(store, "a-1", "L-a", mql_at="2026-01-01T09:00:00+00:00", decided_at="2026-01-02T10:00:00+00:00")
    _add(store, "a-2", "L-a", mql_at="2026-01-01T09:00:00+00:00", decided_at="2026-01-02T11:00:00+00:00")
    store.engine.dispose()
    code, out, _ = run(capsys, "feedback", "void", "a-2", "--why", "wrong lead", "--db", db)
    assert code in (0, None) and out == (
        "a-2 voided: left out of training, kept in the history; a-1 (rejected) is in force for this hand-over again"
    )
    code, _, err = run(capsys, "feedback", "void", "a-2", "--why", "again", "--db", db)
    assert code == 2 and "feedback_id 'a-2' was already voided" in err
    code, _, err = run(capsys, "feedback", "void", "nope", "--why", "x", "--db", db)
    assert code == 2 and err == "error: feedback_id 'nope': no such decision in the feedback store"


def test_errors_are_one_clear_line(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    closed = f"postgresql+psycopg://scorer:pw-s3cret@127.0.0.1:{free_port()}/leads"
    code, _, err = run(capsys, "feedback", "list", "--db", closed)
    assert code == 2 and err.startswith("error: feedback store unavailable: ") and "s3cret" not in err
    assert "127.0.0.1" in err and "Connection refused" in err
    code, _, err = run(capsys, "feedback", "list")  # default: ./leadscore.db, absent
    assert code == 2 and "leadscore.db: no feedback store there" in err
    assert not (tmp_path / "leadscore.db").exists()  # a typo does not create an empty store
    url = f"sqlite:///{tmp_path / 'f.db'}"
    assert FeedbackStore(url).open()
    code, _, err = run(capsys, "feedback", "list", "--since", "last week", "--db", url)
    assert code == 2 and err.startswith("error: --since 'last week': not a date or time (ISO 8601")
    code, _, err = run(capsys, "feedback", "list", "--decision", "maybe", "--db", url)
    assert code == 2 and err == "error: --decision 'maybe': one of accepted, rejected, recycled"
    code, _, err = run(capsys, "feedback", "export", "--out", "o.xlsx", "--db", url)
    assert code == 2 and err == "error: --out o.xlsx: use a .csv or .parquet file name"


def test_a_correction_without_mql_at_supersedes_the_decision_it_corrects(db, capsys, tmp_path, monkeypatch):
    """Placed first, then the latest per hand-over: a decision naming its hand-over and a correction
    of it that does not are one hand-over in `list` and `export`; a decision on the lead's later
    hand-over (no mql_at either) stays in force beside it."""
    monkeypatch.setenv("COLUMNS", "250")
    store = _store(db)
    _add(store, "x-1", "L-x", mql_at="2026-01-01T09:00:00+00:00", decided_at="2026-01-02T10:00:00+00:00")
    _add(store, "x-2", "L-x", decision="accepted", reason=None, decided_at="2026-01-03T10:00:00+00:00")
    _add(store, "x-3", "L-x", mql_at="2026-02-01T09:00:00+00:00", decided_at="2026-02-02T10:00:00+00:00")
    _add(store, "x-4", "L-x", reason="not_now", decision="recycled", decided_at="2026-02-03T10:00:00+00:00")
    store.engine.dispose()
    code, out, _ = run(capsys, "feedback", "list", "--db", db)
    assert code in (0, None) and "superseded by x-2" in out and "superseded by x-4" in out
    assert "2026-01-01 09:00Z (placed)" in out and ": 2 in force, 2 superseded, 0 voided" in out
    code, out, _ = run(capsys, "feedback", "export", "--out", str(tmp_path / "o.csv"), "--db", db)
    assert code in (0, None) and out.startswith("2 outcome(s) from")
    table = read_table(tmp_path / "o.csv")
    assert table[["mql_at", "decision"]].values.tolist() == [
        ["2026-01-01T09:00:00Z", "accepted"],
        ["2026-02-01T09:00:00Z", "recycled"],
    ]
    code, out, _ = run(capsys, "feedback", "void", "x-2", "--why", "wrong lead", "--db", db)
    assert out.endswith("x-1 (rejected) is in force for this hand-over again")


def test_a_since_past_the_last_utc_instant_is_one_line(db, capsys):
    code, _, err = run(capsys, "feedback", "list", "--since", "9999-12-31T23:59:59-14:00", "--db", db)
    assert code == 2 and err == "error: --since '9999-12-31T23:59:59-14:00': beyond the year 9999 in UTC"
