"""Retraining on the sales decisions the service stored: the latest decision per hand-over, bad
stored rows skipped by feedback_id (never an abort), and what was merged recorded on the run."""

from __future__ import annotations

import shutil
from datetime import timedelta

import pandas as pd
import pytest

from features.contract import ContractConfig, Dataset, empty_events, load_dataset
from tests.code.test_cli import run
from training.feedback import FeedbackSummary, decisions_as_outcomes, log_feedback, skipped_lines

T0 = pd.Timestamp("2025-03-01T09:00:00Z")
STORED = [
    "feedback_id", "lead_id", "mql_at", "decision", "reason", "decided_at", "rep_id", "note",
    "received_at", "voided_at", "void_reason", "status", "superseded_by",
]  # fmt: skip


def _history() -> Dataset:
    """Three leads: A handed over twice, B once, C never."""
    leads = pd.DataFrame({"lead_id": ["A", "B", "C"]})
    outcomes = pd.DataFrame(
        {
            "lead_id": ["A", "A", "B"],
            "mql_at": [T0, T0 + timedelta(days=30), T0],
            "decision": ["rejected", "open", "open"],
            "reason": ["no_need", None, None],
            "decided_at": [T0 + timedelta(days=2), pd.NaT, pd.NaT],
        }
    )
    return Dataset(leads=leads, events=empty_events(), outcomes=outcomes)


def _latest(*rows: tuple) -> pd.DataFrame:
    """A frame shaped like `FeedbackStore.latest_decisions()` from (feedback_id, lead_id, mql_at,
    decision, reason, decided_at) tuples."""
    full = [
        (*row, "rep-1", None, row[5] + timedelta(minutes=1), None, None, "latest", None)  # received after deciding
        for row in rows
    ]
    return pd.DataFrame(full, columns=STORED)


def test_decisions_land_on_their_handover_and_bad_rows_are_skipped_by_id():
    day = timedelta(days=1)
    latest = _latest(
        ("fb-1", "B", T0, "accepted", None, T0 + day),  # names its hand-over
        ("fb-2", "A", None, "recycled", "not_now", T0 + 31 * day),  # A's second hand-over
        ("fb-3", "A", None, "accepted", None, T0 + 3 * day),  # A's first (the later one is after it)
        ("fb-4", "ghost", T0, "accepted", None, T0 + day),  # a lead not in the history
        ("fb-5", "C", None, "accepted", None, T0 + day),  # a lead never handed over
        ("fb-6", "B", T0 + day, "rejected", None, T0 + 2 * day),  # no reason
        ("fb-7", "B", T0 + 30 * day, "accepted", None, T0 + 29 * day),  # decided before its hand-over
    )
    summary = decisions_as_outcomes(latest, _history(), ContractConfig(), source="sqlite:///x.db")
    merged = summary.decisions.set_index("feedback_id")
    assert sorted(merged.index) == ["fb-1", "fb-2", "fb-3"]
    assert merged.loc["fb-2", "mql_at"] == T0 + 30 * day and merged.loc["fb-3", "mql_at"] == T0
    assert set(summary.skipped) == {"fb-6", "fb-7"}
    assert summary.skipped["fb-6"].startswith("reason:") and summary.skipped["fb-7"].startswith("decided_at:")
    assert (summary.unknown_lead, summary.no_handover, summary.stored) == (1, 1, 7)
    assert summary.metrics() == {
        "feedback_read": 7.0,  # every stored row, whatever its status
        "feedback_merged": 3.0,
        "feedback_superseded": 0.0,
        "feedback_skipped": 2.0,
    }
    assert list(summary.outcomes.columns) == ["lead_id", "mql_at", "decision", "reason", "decided_at"]


def test_two_decisions_resolved_to_one_handover_keep_the_later_one():
    day = timedelta(days=1)
    latest = _latest(
        ("fb-early", "A", T0, "rejected", "bad_fit", T0 + day),  # names the hand-over
        ("fb-late", "A", None, "accepted", None, T0 + 2 * day),  # resolved to the same one
    )
    summary = decisions_as_outcomes(latest, _history(), ContractConfig())
    assert summary.decisions["feedback_id"].tolist() == ["fb-late"]
    assert summary.superseded == 1 and summary.merged == 1


def test_at_most_twenty_skipped_ids_are_listed_then_a_count():
    skipped = {f"fb-{i}": "reason: required for a rejected decision" for i in range(25)}
    summary = FeedbackSummary("sqlite:///x.db", pd.DataFrame(), stored=25, superseded=0, skipped=skipped)
    lines = skipped_lines(summary)
    assert len(lines) == 21 and lines[0] == "skipped feedback_id 'fb-0': reason: required for a rejected decision"
    assert lines[-1] == "and 5 more skipped decision(s)"


def test_the_run_records_the_merged_decisions_so_that_it_can_be_rebuilt(tmp_path):
    import mlflow

    from training import registry

    day = timedelta(days=1)
    latest = _latest(("fb-1", "B", T0, "accepted", None, T0 + day), ("fb-2", "A", T0, "rejected", "no_need", T0 + day))
    latest = pd.concat([latest, _latest(("fb-0", "B", T0, "rejected", "no_need", T0))])  # fb-1 corrects it
    summary = decisions_as_outcomes(latest, _history(), ContractConfig(), source="sqlite:///fb.db")
    client = registry.connect(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = registry.experiment_id(client, "feedback")
    with registry.logging_to(client), mlflow.start_run(experiment_id=experiment) as active:
        log_feedback(summary, tmp_path)
    recorded = client.get_run(active.info.run_id)
    assert recorded.data.metrics == {
        "feedback_read": 3.0,
        "feedback_merged": 2.0,
        "feedback_superseded": 1.0,
        "feedback_skipped": 0.0,
    }
    (logged,) = recorded.inputs.dataset_inputs
    assert logged.dataset.name == "feedback" and logged.dataset.digest
    assert {tag.key: tag.value for tag in logged.tags}["mlflow.data.context"] == "feedback"
    source = mlflow.data.get_source(logged)  # the artifact: loading it back gives the same decisions
    back = pd.read_csv(source.load(), dtype={"reason": "str"}, parse_dates=["mql_at", "decided_at"])
    pd.testing.assert_frame_equal(back, summary.decisions, check_dtype=False)


# acceptance: the trained model's history, decisions in a real store, `leadscore retrain --feedback-db`
@pytest.fixture
def tracking(trained, tmp_path) -> str:
    """A private copy of the trained MLflow store."""
    shutil.copy(trained["root"] / "mlflow.db", tmp_path / "mlflow.db")
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def _decisions(data, n: int = 200, corrected: int = 10) -> tuple[list[dict], list[dict], pd.DataFrame]:
    """`n` new decisions for existing hand-overs (decided a day after mql_at), `corrected` of
    them corrected a day later under new feedback ids, and the hand-overs not yet decided on."""
    outcomes = load_dataset(data).outcomes.sort_values(["mql_at", "lead_id"]).reset_index(drop=True)
    chosen, rest = outcomes.iloc[::5].head(n), outcomes.drop(outcomes.index[::5][:n])
    first = []
    for i, row in enumerate(chosen.itertuples()):
        accepted = i % 3 == 0
        first.append(
            dict(
                feedback_id=f"fb-{i}",
                lead_id=row.lead_id,
                mql_at=row.mql_at.to_pydatetime(),
                decision="accepted" if accepted else "rejected",
                reason=None if accepted else "no_budget",
                decided_at=(row.mql_at + timedelta(days=1, minutes=i)).to_pydatetime(),
                rep_id="rep-7",
            )
        )
    corrections = [
        {**body, "feedback_id": f"fb-{i}-fix", "decision": "recycled", "reason": "not_now",
         "decided_at": body["decided_at"] + timedelta(days=1)}
        for i, body in enumerate(first[:corrected])
    ]  # fmt: skip
    return first, corrections, rest


def _poisoned(rest: pd.DataFrame, third: dict) -> list[dict]:
    """Three decisions retraining must refuse, for hand-overs nobody else decided on: a rejection
    without reason, a decision before its hand-over, and `third`'s fault."""
    bodies = [
        dict(
            lead_id=row.lead_id,
            mql_at=row.mql_at.to_pydatetime(),
            decision="accepted",
            reason=None,
            decided_at=(row.mql_at + timedelta(days=1)).to_pydatetime(),
            rep_id="rep-9",
        )
        for row in rest.head(3).itertuples()
    ]
    bodies[0].update(feedback_id="bad-no-reason", decision="rejected")
    bodies[1].update(feedback_id="bad-before-handover", decided_at=bodies[1]["mql_at"] - timedelta(days=1))
    bodies[2].update(third)
    return bodies


def _latest_run(uri: str):
    from training.registry import connect

    client = connect(uri)
    experiment = client.get_experiment_by_name("leadscore").experiment_id
    return client, client.search_runs([experiment], order_by=["attributes.start_time DESC"])[0]


def _retrain(capsys, data, db_url: str, uri: str):
    code, out, err = run(capsys, "retrain", "--data", str(data), "--feedback-db", db_url, "--tracking-uri", uri)
    assert code == 0, err
    return out, err


def _retrain_on_a_store(capsys, trained, db_url: str, uri: str, third: dict, problem: str) -> None:
    """200 decisions and 10 corrections stored, 3 bad rows forced into the store: the retrain
    merges 200, counts 10 superseded, skips the 3 naming their ids, and records them on the run."""
    from core.store import FeedbackStore

    first, corrections, rest = _decisions(trained["data"])
    store = FeedbackStore(db_url)
    for body in first + corrections + _poisoned(rest, third):  # the store keeps what it is given
        store.add_decision(**body)
    out, err = _retrain(capsys, trained["data"], db_url, uri)
    assert "200 of 203 stored decision(s)" in out
    for name, said in (
        ("bad-no-reason", "reason: required for a rejected decision"),
        ("bad-before-handover", "decided_at: before mql_at"),
        (third["feedback_id"], problem),
    ):
        assert f"skipped feedback_id '{name}': {said}" in err
    client, latest = _latest_run(uri)
    assert latest.data.metrics["feedback_merged"] == 200
    assert latest.data.metrics["feedback_superseded"] == 10
    assert latest.data.metrics["feedback_skipped"] == 3
    (dataset,) = latest.inputs.dataset_inputs
    assert dataset.dataset.name == "feedback" and dataset.dataset.digest
    logged = pd.read_csv(client.download_artifacts(latest.info.run_id, "feedback/decisions.csv"))
    fixed = {body["feedback_id"] for body in corrections}
    assert len(logged) == 200 and fixed <= set(logged["feedback_id"]) and "fb-0" not in set(logged["feedback_id"])


def test_retrain_skips_bad_stored_decisions_by_id_and_records_what_it_merged(capsys, trained, tracking, tmp_path):
    url, nul = f"sqlite:///{tmp_path / 'feedback.db'}", {"feedback_id": "bad-nul-note", "note": "called\x00back"}
    _retrain_on_a_store(capsys, trained, url, tracking, nul, "note: contains a NUL character")


@pytest.mark.integration
def test_retrain_on_postgresql(capsys, trained, tracking):
    from tests.live import postgres_database

    with postgres_database("leadscore_retrain") as database:
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
        code = {
            "feedback_id": "bad-reason-code",
            "decision": "rejected",
            "reason": "no_such_code",
        }  # PostgreSQL refuses NUL
        _retrain_on_a_store(capsys, trained, url, tracking, code, "reason: not one of")


def _posted(body: dict) -> dict:
    """A decision as the CRM posts it to /feedback: times in ISO 8601."""
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in body.items() if v is not None}


def test_decisions_posted_to_the_service_retrain_with_none_skipped(capsys, trained, client, tmp_path):
    """The issue's acceptance: 200 decisions posted, 3 poisoned ones refused at the door, 10
    corrected with new ids; the retrain merges 200, counts 10 superseded and skips none."""
    from tests.conftest import AUTH

    first, corrections, rest = _decisions(trained["data"])
    for body in first + corrections:
        answer = client.post("/feedback", json={"feedback": _posted(body)}, headers=AUTH)
        assert answer.status_code == 200 and answer.json()["stored"], answer.text
    nul = {"feedback_id": "bad-nul-note", "note": "called\x00back"}
    for body, field in zip(_poisoned(rest, nul), ("reason", "decided_at", "note"), strict=True):
        answer = client.post("/feedback", json={"feedback": _posted(body)}, headers=AUTH)
        assert answer.status_code == 422 and field in answer.text, answer.text
    out, _ = _retrain(
        capsys, trained["data"], f"sqlite:///{tmp_path / 'feedback.db'}", f"sqlite:///{tmp_path / 'mlflow.db'}"
    )
    assert "200 of 200 stored decision(s)" in out and "10 superseded" in out
    _, latest = _latest_run(f"sqlite:///{tmp_path / 'mlflow.db'}")
    recorded = {k: v for k, v in latest.data.metrics.items() if k.startswith("feedback_")}
    assert recorded["feedback_merged"] == 200.0 and recorded["feedback_superseded"] == 10.0
    assert recorded["feedback_skipped"] == 0.0 and recorded["feedback_read"] == 210.0
    # every merged decision is a label, too young or excluded by the policy: each counted once
    fates = ("feedback_labelled", "feedback_too_young", "feedback_excluded")
    assert sum(recorded[k] for k in fates) == 200.0 and "feedback: 200 merged, " in out


def test_a_retrain_that_merges_no_decision_records_zero(tmp_path):
    """No stored decision matches a lead of the folder: the run records 0 merged and a header-only
    CSV, and no dataset input (MLflow's digest fails on an empty table)."""
    import mlflow

    from training import registry

    day = timedelta(days=1)
    summary = decisions_as_outcomes(
        _latest(("fb-1", "ghost", T0, "accepted", None, T0 + day)), _history(), ContractConfig()
    )
    assert (summary.merged, summary.unknown_lead) == (0, 1)
    client = registry.connect(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = registry.experiment_id(client, "feedback")
    with registry.logging_to(client), mlflow.start_run(experiment_id=experiment) as active:
        log_feedback(summary, tmp_path)
    recorded = client.get_run(active.info.run_id)
    assert recorded.info.status == "FINISHED" and recorded.data.metrics["feedback_merged"] == 0.0
    assert recorded.inputs.dataset_inputs == []
    back = pd.read_csv(client.download_artifacts(active.info.run_id, "feedback/decisions.csv"))
    assert back.empty and list(back.columns) == ["feedback_id", "lead_id", "mql_at", "decision", "reason", "decided_at"]
