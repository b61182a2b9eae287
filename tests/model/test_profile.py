"""The reference profile a model version keeps (`training/profile.py`): built when it is trained,
read back by version and alias, its bins right, compact and free of personal data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from features.build import build_features
from features.contract import load_dataset
from training.labels import label_outcomes
from training.profile import ARTIFACT, SCORE, Profile, build_profile
from training.settings import LabelPolicy


@pytest.fixture(scope="module")
def profile(trained) -> Profile:
    return Profile.load(trained["result"].version, trained["client"])


def _four_rows(trained) -> pd.DataFrame:
    """Four hand-overs of the session's data as the model reads them, with hand-set values."""
    dataset = load_dataset(trained["data"])
    rows = label_outcomes(dataset.outcomes, LabelPolicy()).head(4).merge(dataset.leads, on="lead_id")
    model = trained["model"]
    features = build_features(
        rows, dataset.events, "mql_at", model.feature_config, model.contract, population=dataset.leads
    )
    features["company_size"] = [10.0, 10.0, 20.0, np.nan]
    features["industry"] = ["software", "software", "retail", None]
    features["segment"] = ["smb", "smb", "smb", "enterprise"]
    return features


def test_bins_and_categories_on_four_hand_made_rows(trained):
    model = trained["model"]
    features = _four_rows(trained)
    y, evaluated = np.array([1, 0, 0, 1]), np.array([0.05, 0.05, 0.35, 0.95])
    built = build_profile(model, features, y, evaluated)
    assert built.segments == ["all", "enterprise", "smb"]

    # company_size: the deciles of (10, 10, 20) are 10 up to the 30th percentile, then 12, 14, 16,
    # 18: edges 10..18, right-closed; both 10s in "<= 10", 20 in "> 18", the NaN in "missing"
    assert built.inputs["company_size"].edges == pytest.approx([10.0, 12.0, 14.0, 16.0, 18.0])
    assert built.labels("company_size") == ["<= 10", "(10, 12]", "(12, 14]", "(14, 16]", "(16, 18]", "> 18", "missing"]
    assert built.reference_counts("company_size").tolist() == [2, 0, 0, 0, 0, 1, 1]
    assert built.reference_counts("company_size", "enterprise").tolist() == [0, 0, 0, 0, 0, 0, 1]  # the NaN row
    # industry: seen fewer than 5 times, no value is named (a rare value could single a lead out);
    # both are in the model's vocabulary, so they count as "other", the None as "missing"
    assert built.inputs["industry"].categories == []
    assert built.reference_counts("industry").tolist() == [3, 0, 1]
    # counting new values into the reference's slots: a value the model never learnt is "unseen"
    assert built.bin_counts("industry", pd.Series(["retail", "space_mining", None, None])).tolist() == [1, 1, 2]
    assert built.bin_counts("company_size", pd.Series([5.0, 11.0, 1e6])).tolist() == [1, 1, 0, 0, 0, 1, 0]
    assert built.kind("industry") == "categorical" and built.kind("company_size") == "numeric"
    # the score: 10 fixed-width bins of the served model's probability, and a missing slot
    assert built.labels(SCORE)[:2] == ["<= 0.1", "(0.1, 0.2]"] and built.reference_counts(SCORE).sum() == 4
    # calibration on the evaluated model's probabilities: bin 0 holds 0.05 twice (one accepted)
    smb = built.calibration["smb"]
    assert smb.n == 3 and smb.counts[0] == 2 and smb.observed[0] == 0.5 and smb.predicted[0] == pytest.approx(0.05)
    # ROC AUC: the accepted 0.05 ties the rejected 0.05 (half a pair) and is below 0.35: 0.25
    assert smb.acceptance_rate == pytest.approx(1 / 3) and smb.roc_auc == pytest.approx(0.25)
    assert built.calibration["enterprise"].roc_auc is None  # one row, one outcome: no ROC AUC
    assert smb.threshold == pytest.approx(model.thresholds.get("smb", model.thresholds["__all__"]))


def test_built_at_training_and_loaded_by_version_and_alias(trained, profile):
    client, version = trained["client"], trained["result"].version
    assert Profile.load(f"models:/leadscore/{version}", client) == profile
    assert Profile.load("models:/leadscore@champion", client) == profile
    model = trained["model"]
    assert profile.features == model.feature_names
    assert profile.segments[0] == "all" and {"smb", "mid_market", "enterprise"} <= set(profile.segments)
    # the test period: every segment's rows add up to "all", in every feature
    for name in ("company_size", "industry", SCORE):
        total = sum(profile.reference_counts(name, s) for s in profile.segments[1:])
        assert (total == profile.reference_counts(name)).all()
    assert profile.period["rows"] == profile.reference_counts(SCORE).sum()
    # calibration on the evaluated model's test part (accounts new in the period) ...
    assert profile.calibration["all"].n == trained["result"].split["test"] < profile.period["rows"]
    figures = trained["result"].metrics  # the run's own test-period figures, on the same rows
    assert profile.calibration["all"].roc_auc == pytest.approx(figures["model_roc_auc"])
    with pytest.raises(Exception, match="no registered model version"):
        Profile.load("models:/leadscore/99", client)


def test_distributions_are_of_every_hand_over_of_the_test_period(trained, profile):
    """... the distributions on every hand-over from the split's test_from (what the service
    scores): the accounts first seen earlier, the spam, the duplicates and the open ones too. The
    test part alone holds about half of them, and its account features (and the seniority of spam
    leads' junk job titles) would look drifted against live traffic of the very same weeks."""
    client, model = trained["client"], trained["model"]
    run = client.get_run(client.get_model_version("leadscore", trained["result"].version).run_id)
    test_from = pd.Timestamp(run.data.tags["split.test_from"])
    dataset = load_dataset(trained["data"])
    rows = dataset.outcomes[dataset.outcomes["mql_at"] >= test_from].merge(dataset.leads, on="lead_id")
    assert rows["decision"].eq("open").any() and len(rows) > len(label_outcomes(rows, LabelPolicy()))
    features = build_features(
        rows, dataset.events, "mql_at", model.feature_config, model.contract, population=dataset.leads
    )
    assert profile.period["rows"] == len(features) > 1.5 * trained["result"].split["test"]
    assert pd.Timestamp(profile.period["first"]) >= test_from
    for name in ("account_contacts", "account_engaged_contacts_30d", "lead_age_days", "seniority", "source"):
        assert profile.bin_counts(name, features[name]).tolist() == profile.reference_counts(name).tolist(), name
    # the MQL volume the thresholds promise: the served model's share at/above them on those rows
    answers = model.answers(features)
    assert profile.calibration["all"].expected_mql_share == pytest.approx(
        (answers.probability >= answers.threshold).mean()
    )


def _strings(value) -> set[str]:
    """Every text (keys and values) in a JSON document."""
    if isinstance(value, dict):
        return set(value) | set().union(*(_strings(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_strings(v) for v in value))
    return {value} if isinstance(value, str) else set()


def test_compact_and_without_personal_data(trained, profile):
    raw = profile.to_json()
    assert len(raw.encode()) < 200_000  # bins only: no rows
    texts = _strings(json.loads(raw))
    leads = load_dataset(trained["data"]).leads
    assert not texts & set(leads["lead_id"]), "a lead id in the profile"
    assert not texts & set(leads["email_domain"].dropna()), "an email domain in the profile"
    assert not texts & set(leads["job_title"].dropna()), "a job title in the profile"
    # what it does name: the product's own vocabularies (email type, seniority level)
    assert {"business", "personal"} <= set(profile.inputs["email_type"].categories)
    assert ARTIFACT == "monitoring/profile.json"
