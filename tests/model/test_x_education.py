"""The real X Education export end to end (skips when ../shared is absent). Asserts only what must
hold whatever the tuning: no excluded column reaches the model, calibration does not worsen
log-loss, the model beats the rule score on the same columns, and nothing scores like a leak."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.code.test_cli import run
from tests.conftest import PROJECT
from tests.data.test_flat import X_EDUCATION, X_MAPPING, needs_x_education

X_RULES = PROJECT / "configs" / "x_education" / "rules.yaml"
pytestmark = needs_x_education


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    from features.flat import import_export, load_mapping

    out = tmp_path_factory.mktemp("x_education") / "data"
    import_export(X_EDUCATION, load_mapping(X_MAPPING), out)
    return out


def test_import_train_score_from_the_cli(capsys, monkeypatch, imported, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code, out, err = run(capsys, "train", "--data", str(imported), "--rules", str(X_RULES), "--tracking-uri", uri)
    assert code == 0, err
    assert "promoted to @champion" in out
    code, out, err = run(
        capsys,
        "score",
        "--data",
        str(imported),
        "--out",
        str(tmp_path / "s.parquet"),
        "--at-handover",
        "--tracking-uri",
        uri,
    )
    assert code == 0, err
    scores = pd.read_parquet(tmp_path / "s.parquet")
    assert len(scores) == 9_240 and scores["probability"].between(0, 1).all()

    from training.registry import connect, load_model

    model = load_model("models:/leadscore@champion", connect(uri))
    from features.flat import load_mapping

    mapping = load_mapping(X_MAPPING)
    excluded = {mapping.target(c) for c, r in mapping.columns.items() if r.role == "exclude"} | {"tags", "lead_quality"}
    assert not excluded & set(model.feature_names)
    _serves_flat_leads(monkeypatch, tmp_path, uri, imported, scores)
    report = tmp_path / "x_education.html"
    code, out, err = run(capsys, "compare", "--data", str(imported), "--tracking-uri", uri, "--out", str(report))
    assert code == 0, err
    text = report.read_text()
    assert "no weekly view" in text and text.count("<table") >= 5 and "data:image/png;base64" in text
    assert "may include ones it trained on" in text


def _flat_request(row: pd.Series) -> dict:
    """A CRM's /score request for one row of the flat export: the contract's own lead fields at
    the top, the export's extra fit columns and counters in `extra`."""
    from serving.schemas import Lead

    lead, extra = {}, {}
    for name, value in row.items():
        value = None if pd.isna(value) else value
        if isinstance(value, pd.Timestamp):
            value = value.isoformat()
        elif hasattr(value, "item"):
            value = value.item()
        (lead if name in Lead.model_fields else extra)[name] = value
    return {**lead, "extra": extra, "as_of": lead["created_at"]}


def _serves_flat_leads(monkeypatch, tmp_path, uri, imported, scores) -> None:
    """The model trained on the import answers the export's flat, counter-style leads through
    /score, from the same service code, with the probability batch scoring gave them."""
    from features.contract import folder_config, load_dataset
    from tests.integration.test_service import AUTH, _client

    leads = load_dataset(imported, folder_config(imported)).leads.head(20)
    expected = scores.set_index("lead_id")["probability"]
    with _client(monkeypatch, tmp_path, uri) as client:
        for _, row in leads.iterrows():
            response = client.post("/score", json={"lead": _flat_request(row)}, headers=AUTH)
            assert response.status_code == 200, response.text
            answer = response.json()
            assert answer["scored_by"] == "model", answer["fallback_reason"]
            assert answer["probability"] == pytest.approx(expected[row["lead_id"]], abs=1e-6)
            assert 1 <= len(answer["top_reasons"]) <= 5


def test_cross_validated_model_is_calibrated_beats_rules_and_shows_no_leak(imported):
    from features.defaults import load_features_config, load_rules
    from training.crossval import cross_validate
    from training.settings import TrainingConfig

    folds = cross_validate(imported, TrainingConfig(), load_features_config(), load_rules(X_RULES), seeds=(0,), folds=3)
    assert folds["model_log_loss"].mean() <= folds["uncalibrated_log_loss"].mean() + 0.005
    assert folds["model_roc_auc"].mean() > folds["rule_roc_auc"].mean()
    assert folds["model_roc_auc"].max() < 0.93  # published: above ~0.93 on this file only with leaky columns
