"""Code tests for training's parts: label policy, split, thresholds, gate, config."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.config import load_config
from core.errors import LeadscoreError
from training.labels import label_outcomes
from training.model import ALL
from training.registry import gate
from training.settings import GateConfig, LabelPolicy, SplitConfig, ThresholdConfig, TrainingConfig
from training.split import time_split
from training.thresholds import choose_thresholds

T0 = pd.Timestamp("2025-01-01", tz="UTC")


def _outcomes(*rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["lead_id", "days", "decision", "reason"])
    frame["mql_at"] = T0 + pd.to_timedelta(frame.pop("days"), unit="D")
    frame["decided_at"] = np.where(frame["decision"] == "open", pd.NaT, frame["mql_at"] + pd.Timedelta(days=2))
    frame["decided_at"] = pd.to_datetime(frame["decided_at"], utc=True)
    return frame


def test_label_policy_defaults():
    outcomes = _outcomes(
        ("a", 0, "accepted", None),  # label 1, weight 1
        ("b", 0, "rejected", "bad_fit"),  # label 0, weight 1
        ("c", 0, "recycled", "not_now"),  # label 0, weight 0.5 (reason rule)
        ("d", 0, "rejected", "duplicate"),  # excluded: says nothing about intent
        ("e", 0, "rejected", "spam_or_invalid"),  # excluded
        ("f", 0, "open", None),  # excluded: no decision yet
        ("g", 100, "accepted", None),  # excluded: the newest decision (day 102) sets the clock; 2 days old
        ("h", 95, "rejected", "bad_fit"),  # excluded: handed over 7 days before the newest decision
        ("i", 80, "rejected", "no_budget"),  # label 0: 22 days before the newest decision, mature
    )
    labelled = label_outcomes(outcomes, LabelPolicy()).set_index("lead_id")
    assert sorted(labelled.index) == ["a", "b", "c", "i"]
    assert labelled["label"].to_dict() == {"a": 1, "b": 0, "c": 0, "i": 0}
    assert labelled.loc["c", "weight"] == 0.5 and labelled.loc["b", "weight"] == 1.0


def test_label_policy_is_configurable():
    outcomes = _outcomes(
        ("a", 0, "recycled", "not_now"),  # excluded by the custom reason rule
        ("b", 0, "rejected", "unreachable"),  # kept: the custom policy lists no rule for it
        ("c", 0, "recycled", "no_budget"),  # excluded: recycled leads are excluded here
        ("z", 60, "accepted", None),  # the newest: too young to be mature
    )
    policy = LabelPolicy(reasons={"not_now": "exclude"}, recycled="exclude")
    assert list(label_outcomes(outcomes, policy)["lead_id"]) == ["b"]


def test_split_is_time_ordered_and_keeps_accounts_in_one_part():
    rng = np.random.default_rng(0)
    n = 2_000
    mql_at = pd.Series(T0 + pd.to_timedelta(np.sort(rng.uniform(0, 365, n)), unit="D"))
    account = pd.Series(rng.integers(0, 600, n).astype(str))
    split = time_split(mql_at, account, SplitConfig(calibrate_fraction=0.2, test_fraction=0.2))
    train, cal, test = (mql_at[split.mask(p)] for p in ("train", "calibrate", "test"))
    assert train.max() < cal.min() and cal.max() < test.min()
    parts = pd.DataFrame({"account": account, "part": split.part})
    kept = parts[parts["part"] != ""]
    assert (kept.groupby("account")["part"].nunique() == 1).all()
    # an account's rows stay in the oldest part it appears in; newer rows of it are dropped
    first = parts.assign(i=np.arange(n)).groupby("account")["i"].min()
    assert (parts.loc[first.to_numpy(), "part"] != "").all()
    assert split.sizes()["test"] > 0 and split.sizes()[""] > 0


def test_split_needs_enough_rows():
    with pytest.raises(LeadscoreError, match="at least 50 are needed"):
        time_split(pd.Series([T0] * 10), pd.Series(["a"] * 10), SplitConfig())


def test_capacity_threshold_sends_as_many_as_sales_can_take():
    rng = np.random.default_rng(1)
    p = rng.random(700)
    y = (rng.random(700) < p).astype(int)
    mql_at = pd.Series(T0 + pd.to_timedelta(np.linspace(0, 70, 700), unit="D"))  # 10 weeks
    segments = np.array(["smb", "enterprise"] * 350)
    t = choose_thresholds(p, y, segments, mql_at, np.zeros(700, bool), ThresholdConfig(capacity_per_week=12))
    assert (p >= t[ALL]).sum() == 120  # 12 a week for 10 weeks
    assert t["smb"] == t["enterprise"] == t[ALL]


def test_target_rate_threshold_meets_the_rate_per_segment():
    rng = np.random.default_rng(2)
    p = rng.random(4_000)
    y = (rng.random(4_000) < p).astype(int)
    segments = np.where(np.arange(4_000) % 2 == 0, "smb", "enterprise")
    mql_at = pd.Series(T0 + pd.to_timedelta(np.arange(4_000), unit="h"))
    t = choose_thresholds(
        p, y, segments, mql_at, np.zeros(4_000, bool), ThresholdConfig(mode="target_rate", target_rate=0.7)
    )
    for segment in ("smb", "enterprise"):
        chosen = (segments == segment) & (p >= t[segment])
        assert y[chosen].mean() >= 0.7
        assert 0.2 < t[segment] < 0.8  # the lowest such threshold, not a trivially high one


def test_gate():
    config = GateConfig(max_auc_drop=0.01, max_log_loss_rise=0.01)
    assert gate({"roc_auc": 0.7, "log_loss": 0.5}, None, config).promote
    assert gate({"roc_auc": 0.795, "log_loss": 0.505}, {"roc_auc": 0.8, "log_loss": 0.5}, config).promote
    worse = gate({"roc_auc": 0.78, "log_loss": 0.5}, {"roc_auc": 0.8, "log_loss": 0.5}, config)
    assert not worse.promote and "ROC AUC 0.7800 vs champion 0.8000" in worse.reason
    assert not gate({"roc_auc": 0.8, "log_loss": 0.52}, {"roc_auc": 0.8, "log_loss": 0.5}, config).promote


def test_shipped_training_yaml_equals_the_defaults():
    from training.defaults import HERE

    assert load_config(HERE / "training.yaml", TrainingConfig) == TrainingConfig()


def test_split_fractions_must_leave_training_data(tmp_path):
    path = tmp_path / "training.yaml"
    path.write_text("split: {calibrate_fraction: 0.45, test_fraction: 0.45}\n")
    with pytest.raises(LeadscoreError, match="must leave at least 20% to train on"):
        load_config(path, TrainingConfig)


def test_history_without_times_gets_a_random_account_split():
    rng = np.random.default_rng(4)
    n = 3_000
    mql_at = pd.Series([T0] * n)  # a flat snapshot: every hand-over at the export time
    account = pd.Series((np.arange(n) // 2).astype(str))  # two leads per account
    y = (rng.random(n) < 0.4).astype(int)
    split = time_split(mql_at, account, SplitConfig(), y)
    assert split.kind == "random"
    sizes = split.sizes()
    assert sizes[""] == 0 and abs(sizes["test"] / n - 0.2) < 0.03 and abs(sizes["calibrate"] / n - 0.2) < 0.03
    parts = pd.DataFrame({"account": account, "part": split.part})
    assert (parts.groupby("account")["part"].nunique() == 1).all()
    for name in ("train", "calibrate", "test"):
        assert abs(y[split.mask(name)].mean() - y.mean()) < 0.04  # stratified by outcome


@pytest.mark.parametrize("method", ["isotonic", "sigmoid", "none"])
def test_calibrating_the_raw_margin_equals_sklearn_predict_proba(method):
    """The service calibrates the log-odds that `pred_contrib` rows sum to, skipping a second
    booster pass; it must give exactly what the fitted CalibratedClassifierCV gives."""
    import lightgbm as lgb

    from training.calibration import _calibrator
    from training.model import MarginMap

    rng = np.random.default_rng(3)
    X = rng.normal(size=(2_000, 4))
    y = (X[:, 0] + rng.normal(size=2_000) > 0.5).astype(int)
    booster = lgb.LGBMClassifier(n_estimators=30, verbose=-1, random_state=0).fit(X[:1_000], y[:1_000])
    calibrator = _calibrator(booster, method).fit(X[1_000:], y[1_000:])
    margin = booster.booster_.predict(X, raw_score=True)
    np.testing.assert_allclose(MarginMap.of(calibrator)(margin), calibrator.predict_proba(X)[:, 1], rtol=0, atol=1e-12)
