"""`leadscore recalibrate`: when sales start accepting twice as many leads, the calibration follows
the decisions since the change, gated on the newest of them, without a retrain."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from features.build import build_features
from features.contract import load_dataset
from synthetic.generate import generate, write_dataset
from tests.code.test_cli import run
from training.answer import predict
from training.labels import label_outcomes
from training.metrics import expected_calibration_error
from training.registry import CHAMPION, connect, load_model, version_of
from training.settings import LabelPolicy


def _doubled(outcomes: pd.DataFrame, change: pd.Timestamp, seed: int = 0) -> pd.DataFrame:
    """From `change` on, sales accept twice the share of hand-overs they used to: rejections turned
    into acceptances at random, so the leads' features predict as well as before, only more often
    'yes' (a market or policy shift, which only the calibration has to follow)."""
    out = outcomes.copy()
    decided = out["decision"].isin(["accepted", "rejected"])
    before = out.loc[decided & (out["mql_at"] < change), "decision"].eq("accepted").mean()
    flip_share = before / (1 - before)  # r + (1 - r) * f = 2r
    after = decided & (out["mql_at"] >= change) & out["decision"].eq("rejected")
    flip = after & (np.random.default_rng(seed).random(len(out)) < flip_share)
    out.loc[flip, "decision"] = "accepted"
    out.loc[flip, "reason"] = None
    return out


def _decided(model, data, since: pd.Timestamp) -> tuple[pd.DataFrame, np.ndarray]:
    """The decided hand-overs from `since`: their features as of the hand-over, and their labels."""
    dataset = load_dataset(data)
    rows = label_outcomes(dataset.outcomes, LabelPolicy(mature_after_days=0))
    rows = rows[rows["mql_at"] >= since].merge(dataset.leads, on="lead_id").reset_index(drop=True)
    features = build_features(
        rows, dataset.events, "mql_at", model.feature_config, model.contract, population=dataset.leads
    )
    return features, rows["label"].to_numpy()


def _ece(model, data, since: pd.Timestamp) -> tuple[float, float, int]:
    """ECE, mean probability minus acceptance, and rows, on the decided hand-overs from `since`."""
    features, y = _decided(model, data, since)
    p = model.probability(features)
    return expected_calibration_error(y, p), float(p.mean() - y.mean()), len(y)


@pytest.fixture(scope="module")
def shifted(tmp_path_factory):
    """History whose acceptance doubles from the 60% point in time; the model is trained on the
    hand-overs before it, recalibration sees the next 20%, the newest 20% is the 'following period'."""
    root = tmp_path_factory.mktemp("shift")
    tables = generate(20_000, seed=5)
    mql = pd.to_datetime(tables["outcomes"].column("mql_at").to_pandas(), utc=True)
    change, following = mql.quantile(0.6), mql.quantile(0.8)
    outcomes = _doubled(tables["outcomes"].to_pandas(), change)
    folders = {}
    for name, keep in (("before", mql < change), ("recent", mql < following), ("all", mql == mql)):
        folders[name] = root / name
        part = pa.Table.from_pandas(outcomes[keep.to_numpy()], schema=tables["outcomes"].schema, preserve_index=False)
        write_dataset({**tables, "outcomes": part}, folders[name], "parquet")
    return folders, change, following


@pytest.fixture
def uri(tmp_path) -> str:
    """Each test's own registry: a recalibrated champion must not leak into another test."""
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def test_recalibrate_follows_doubled_acceptance(capsys, shifted, uri):
    folders, change, following = shifted
    code, _, err = run(capsys, "train", "--data", str(folders["before"]), "--tracking-uri", uri)
    assert code == 0, err
    client = connect(uri)
    old = load_model(f"models:/leadscore@{CHAMPION}", client)
    ece_before, gap_before, rows = _ece(old, folders["all"], following)
    assert rows > 1000 and ece_before > 0.1 and gap_before < -0.1  # the model says far less than sales now do

    code, out, err = run(
        capsys, "recalibrate", "--data", str(folders["recent"]), "--since", change.isoformat(), "--tracking-uri", uri
    )
    assert code == 0, err
    assert "promoted to @champion" in out and "lowers the log-loss" in out
    champion = version_of(client, "leadscore", CHAMPION)
    assert str(champion.version) == "2"
    assert champion.tags["recalibration.rows"] and float(champion.tags["recalibration.later_rows"]) >= 50
    new = load_model(f"models:/leadscore@{CHAMPION}", client)
    ece_after, gap_after, _ = _ece(new, folders["all"], following)
    assert ece_after <= 0.05 and abs(gap_after) <= 0.05, (ece_before, ece_after, gap_after)
    # only the calibration moved: the ranking of the leads is the booster's, unchanged
    assert new.booster.model_to_string() == old.booster.model_to_string()
    # and sales get the same leads as MQLs (capacity thresholds follow the map): no sudden flood
    features, _ = _decided(old, folders["all"], following)
    assert (predict(new, features)["is_mql"] == predict(old, features)["is_mql"]).all()


def test_recalibrate_refuses_too_few_decisions_in_one_line(capsys, shifted, uri):
    folders, _, _ = shifted
    run(capsys, "train", "--data", str(folders["before"]), "--tracking-uri", uri)
    late = pd.Timestamp("2100-01-01", tz="UTC").isoformat()
    code, _, err = run(capsys, "recalibrate", "--data", str(folders["recent"]), "--since", late, "--tracking-uri", uri)
    assert code == 2 and "no decided hand-overs" in err and "Traceback" not in err
    code, _, err = run(capsys, "recalibrate", "--tracking-uri", uri)
    assert code == 2 and "--data DIR or --feedback-db URL" in err
    # the decisions the model learnt from are no test of its calibration: left out
    code, _, err = run(capsys, "recalibrate", "--data", str(folders["before"]), "--tracking-uri", uri)
    assert code == 2 and "the newest the model learnt from" in err and "Traceback" not in err


def test_recalibrate_from_the_service_store(capsys, shifted, uri, tmp_path):
    """From the store: each decision the CRM posted back meets the probability the same model
    version gave its lead at or before the hand-over (the score log), whatever else was logged."""
    from core.store import FeedbackStore

    folders, change, following = shifted
    run(capsys, "train", "--data", str(folders["before"]), "--tracking-uri", uri)
    client = connect(uri)
    model = load_model(f"models:/leadscore@{CHAMPION}", client)
    data = load_dataset(folders["recent"])
    rows = label_outcomes(data.outcomes, LabelPolicy(mature_after_days=0))
    rows = rows[rows["mql_at"] >= change].merge(data.leads, on="lead_id").reset_index(drop=True)
    features = build_features(rows, data.events, "mql_at", model.feature_config, model.contract, population=data.leads)
    p = model.probability(features)
    db = f"sqlite:///{tmp_path / 'leadscore.db'}"
    store = FeedbackStore(db)
    logged = []
    for i, r in rows.iterrows():
        at = r["mql_at"].to_pydatetime()
        common = dict(lead_id=r["lead_id"], scored_by="model", is_mql=False, rule_score=0.0, rule_is_mql=False)
        # the score at hand-over, and two that must not be used: another version's, and a later one
        logged.append({**common, "scored_at": at, "model_version": model.version, "probability": float(p[i])})
        logged.append({**common, "scored_at": at, "model_version": "leadscore/99", "probability": 0.99})
        later = at + pd.Timedelta(days=1)
        logged.append({**common, "scored_at": later, "model_version": model.version, "probability": 0.01})
        decided_at = at + pd.Timedelta(hours=2)  # no mql_at posted: placed by decided_at
        reason = None if r["decision"] == "accepted" else (r["reason"] or "no_need")
        store.add_decision(f"F{i}", r["lead_id"], r["decision"], reason, decided_at)
    assert store.log_scores(logged).written == len(logged)
    code, out, err = run(
        capsys, "recalibrate", "--feedback-db", db, "--since", change.isoformat(), "--tracking-uri", uri
    )
    assert code == 0, err
    # every decision (the label policy's matured ones) met its own score, none another version's
    assert re.search(rf"\(([\d,]+) of \1 decisions have a score by {model.version}\)", " ".join(out.split()))
    assert "promoted to @champion" in out
    new = load_model(f"models:/leadscore@{CHAMPION}", client)
    ece_after, gap_after, _ = _ece(new, folders["all"], following)
    assert ece_after <= 0.05 and abs(gap_after) <= 0.05


def _flat_export(folder, ids: range, accept_shift: float, seed: int):
    """A flat CRM export (no times: every hand-over carries the mapping's `exported_at`) of leads
    `ids` whose job and visits predict the outcome, acceptance moved by `accept_shift` log-odds."""
    rng = np.random.default_rng(seed)
    n = len(ids)
    job = rng.choice(["Student", "Working Professional", "Unemployed"], n)
    visits = rng.poisson(3, n)
    logit = -1.5 + 2.0 * (job == "Working Professional") + 0.3 * visits + accept_shift
    won = rng.random(n) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame(
        {"Id": [f"P{i}" for i in ids], "Won": np.where(won, "Yes", "No"), "Job": job, "Visits": visits}
    )
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / "export.csv", index=False)
    return frame


FLAT_MAPPING = """
source: test export
id_column: Id
label: {column: Won, positive: ["Yes"], negative: ["No"]}
times: {exported_at: "2024-01-01T00:00:00Z"}
columns:
  Job: {role: fit, as: occupation}
  Visits: {role: counter, as: visits}
"""


def test_a_flat_snapshot_model_recalibrates_on_the_new_leads_of_a_later_export(capsys, tmp_path, uri):
    """The later export reuses the mapping (the same `exported_at`): its hand-overs cannot be told
    apart by time, so the leads the model never saw count as new, and only they."""
    first, later = tmp_path / "first", tmp_path / "later"
    old = _flat_export(first, range(3_000), 0.0, seed=1)
    new = _flat_export(tmp_path / "new", range(3_000, 4_500), 1.2, seed=2)  # sales now accept more
    later.mkdir()
    pd.concat([old, new]).to_csv(later / "export.csv", index=False)  # the old leads, decided as before, and the new
    (tmp_path / "mapping.yaml").write_text(FLAT_MAPPING)
    for export in (first, later):
        code, _, err = run(
            capsys, "import", str(export / "export.csv"), "--mapping", str(tmp_path / "mapping.yaml"),
            "--out", str(export / "data"),
        )  # fmt: skip
        assert code == 0, err
    code, out, err = run(capsys, "train", "--data", str(first / "data"), "--tracking-uri", uri)
    assert code == 0 and "promoted to @champion" in out, out + err
    # the export it learnt from holds no lead new to it: refused, with the rule and what would work
    code, _, err = run(capsys, "recalibrate", "--data", str(first / "data"), "--tracking-uri", uri)
    said = " ".join(err.split())
    assert code == 2 and "Traceback" not in err and "of leads the model never saw" in said
    assert "trained on a flat snapshot" in said and "Give a later export of the CRM" in said

    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        code, out, err = run(capsys, "recalibrate", "--data", str(later / "data"), "--tracking-uri", uri)
    assert code == 0, err
    client = connect(uri)
    tags = client.get_model_version("leadscore", "2").tags
    assert int(tags["recalibration.rows"]) == len(new)  # the new leads, none of the 3,000 it saw
    assert "promoted to @champion" in out and "lowers the log-loss" in out
    # MLflow logged the new version with an input example: it used to warn without one, in raw colour codes
    assert not [w for w in warned if "input example" in str(w.message)] and "\x1b[" not in err
    # the recalibrated model learnt from the new leads: a second pass over the same export is refused
    code, _, err = run(capsys, "recalibrate", "--data", str(later / "data"), "--tracking-uri", uri)
    assert code == 2 and "of leads the model never saw" in " ".join(err.split())
