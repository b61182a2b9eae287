"""The feature spec, generated from the feature config and the contract: it lists exactly the
features the feature code builds, whatever the windows and extra columns, and every config that
names a feature is checked against it."""

from __future__ import annotations

import pandas as pd
import pytest

from core.errors import LeadscoreError
from features import buying
from features.build import KEYS, build_features, row_columns
from features.contract import ContractConfig
from features.defaults import load_rules
from features.settings import FeatureConfig
from features.spec import FeatureSpec

NOW = pd.Timestamp("2025-10-01T12:00:00Z")
OTHER_WINDOWS = FeatureConfig(windows_days=[14, 60], active_days_window_days=45, engaged_window_days=10)
FLAT = ContractConfig(
    extra_event_types=["sales_call"], extra_fit_columns={"plan": "categorical"}, counter_columns=["visits"]
)


def _built(config: FeatureConfig, contract: ContractConfig) -> list[str]:
    """The columns the feature code really builds for one lead with two pricing-page visits."""
    leads = pd.DataFrame(
        {
            "lead_id": ["L1"],
            "account_id": ["A1"],
            "created_at": [NOW - pd.Timedelta(days=20)],
            "job_title": ["VP Sales"],
            "company_size": [300],
            "plan": ["pro"],
            "visits": [3.0],
        }
    )
    events = pd.DataFrame(
        {"lead_id": ["L1", "L1"], "ts": [NOW - pd.Timedelta(days=d) for d in (2, 9)], "type": ["pricing_page_view"] * 2}
    )
    for name in row_columns(contract):
        if name not in leads:
            leads[name] = None
    frame = build_features(leads, events, NOW, config, contract)
    return [c for c in frame.columns if c not in (*KEYS, *buying.columns(config))], frame


@pytest.mark.parametrize(
    ("config", "contract"),
    [(FeatureConfig(), ContractConfig()), (OTHER_WINDOWS, ContractConfig()), (FeatureConfig(), FLAT)],
)
def test_the_spec_lists_what_the_feature_code_builds_in_order(config, contract):
    built, _ = _built(config, contract)
    assert FeatureSpec(config, contract).names == built


def test_reasons_read_the_configured_windows():
    """With 14- and 60-day windows the pricing reason counts the two visits of the last 14 days; it
    used to read the absent 7-day count as 0."""
    spec = FeatureSpec(OTHER_WINDOWS, ContractConfig())
    _, frame = _built(OTHER_WINDOWS, ContractConfig())
    row = frame.iloc[0].to_dict()
    assert spec.words("pricing", row) == "visited the pricing page 2 times in the last 14 days"
    assert "in the last 45 days" in spec.words("activity", row)
    assert spec.words("account", row).endswith("active in the last 10 days")


def test_every_feature_has_a_group_and_a_concept():
    spec = FeatureSpec(FeatureConfig(), FLAT)
    assert {f.group for f in spec.features.values()} == {"fit", "engagement", "account"}
    assert spec["plan"].kind == "category" and spec["visits"].group == "engagement"
    assert spec["account_engaged_contacts_30d"].group == "account"
    assert spec["n_sales_call_7d"].concept == "sales_call"
    assert spec["days_since_last_activity"].kind == "days" and spec["has_demo_request"].kind == "flag"


def test_monotone_directions_are_the_intent_signals():
    spec = FeatureSpec()
    up = {n for n in spec.names if spec[n].monotone == 1}
    down = {n for n in spec.names if spec[n].monotone == -1}
    assert {"n_pricing_page_view_7d", "decay_demo_request", "has_demo_request", "n_events_90d"} <= up
    assert {"account_engaged_contacts_30d", "account_top_engaged_seniority", "active_days_90d"} <= up
    assert down == {"days_since_pricing_page_view", "days_since_demo_request", "days_since_last_activity"}
    assert spec["n_page_view_7d"].monotone == 0 and spec["company_size"].monotone == 0


def test_monotone_patterns_that_name_nothing_are_refused():
    spec = FeatureSpec(OTHER_WINDOWS)
    assert spec.monotone(["n_pricing_page_view_14d", "company_size"], ["n_pricing_page_view_*"], []) == [1, 0]
    with pytest.raises(LeadscoreError, match="monotone_increasing: 'n_pricing_page_view_7d' is not a feature"):
        spec.monotone(["company_size"], ["n_pricing_page_view_7d"], None)


def test_a_scorer_with_a_next_step_flag_the_features_lack_does_not_start():
    from serving.scorer import NextStep, Scorer, ServingConfig

    config = ServingConfig(next_steps=[NextStep(grades=["A"], requires=["has_demo_requested"], step="call")])
    with pytest.raises(LeadscoreError, match="requires: 'has_demo_requested' is not a flag feature"):
        Scorer(None, load_rules(), FeatureConfig(), ContractConfig(), config)


def test_a_rule_on_a_feature_the_windows_do_not_make_is_refused():
    from features.rules import RuleConfig
    from serving.scorer import Scorer

    rules = load_rules().model_dump(by_alias=True)
    rules["rules"].append(
        {"name": "pricing_week", "feature": "n_pricing_page_view_7d", "at_least": 1, "points": 5, "description": "x"}
    )
    Scorer(None, RuleConfig.model_validate(rules), FeatureConfig(), ContractConfig())  # 7-day window: fine
    with pytest.raises(LeadscoreError, match="rules: feature: 'n_pricing_page_view_7d' is not a feature"):
        Scorer(None, RuleConfig.model_validate(rules), OTHER_WINDOWS, ContractConfig())


def test_training_refuses_configs_naming_absent_features_before_any_work():
    from features.rules import RuleConfig
    from training.settings import TrainingConfig
    from training.train import check_names

    check_names(TrainingConfig(), FeatureConfig(), load_rules(), ContractConfig())  # the shipped configs agree
    monotone = TrainingConfig.model_validate({"model": {"monotone_increasing": ["n_demo_requests_*"]}})
    with pytest.raises(LeadscoreError, match="monotone_increasing: 'n_demo_requests_\\*' is not a feature"):
        check_names(monotone, FeatureConfig(), load_rules(), ContractConfig())
    rules = load_rules().model_dump(by_alias=True)
    rules["rules"][0]["feature"] = "decay_demo_requests"
    with pytest.raises(LeadscoreError, match="rules: feature: 'decay_demo_requests' is not a feature"):
        check_names(TrainingConfig(), FeatureConfig(), RuleConfig.model_validate(rules), ContractConfig())
