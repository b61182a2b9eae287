"""Code and behaviour tests for the rule-based points score."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from core.errors import LeadscoreError
from features.defaults import load_rules
from features.rules import Rule, RuleConfig, rule_score


def _config(**overrides) -> RuleConfig:
    base = dict(
        rules=[
            Rule(
                name="pricing",
                feature="decay_pricing_page_view",
                per_unit=True,
                points=10,
                max_points=30,
                description="visited pricing",
            ),
            Rule(name="senior", feature="seniority", points=20, description="senior", **{"in": ["vp", "c_level"]}),
            Rule(name="student", feature="is_student", at_least=1, points=-50, description="student"),
        ],
        thresholds={"default": 40, "enterprise": 25},
    )
    base.update(overrides)
    return RuleConfig(**base)


def _rows(**columns) -> pd.DataFrame:
    columns.setdefault("segment", "smb")
    return pd.DataFrame(columns)


def test_points_add_up_cap_and_floor():
    rows = _rows(decay_pricing_page_view=[0.5, 10.0, 1.0], seniority=["vp", "vp", None], is_student=[0, 0, 1])
    result = rule_score(rows, _config(cap=45))
    assert result.score.tolist() == [25.0, 45.0, 0.0]  # 5+20; 30+20 capped at 45; 10-50 floored at 0
    assert result.fired(0) == [("senior", 20.0), ("pricing", 5.0)]
    assert result.fired(2) == [("student", -50.0), ("pricing", 10.0)]


def test_threshold_depends_on_segment():
    rows = _rows(
        decay_pricing_page_view=[3.0, 3.0], seniority=[None, None], is_student=[0, 0], segment=["enterprise", "unknown"]
    )
    result = rule_score(rows, _config())
    assert result.threshold.tolist() == [25.0, 40.0]
    assert result.is_mql.tolist() == [True, False]


def test_more_pricing_visits_never_lower_the_rule_score():
    visits = [0.0, 0.5, 1.0, 2.0, 5.0, 50.0]
    rows = _rows(decay_pricing_page_view=visits, seniority=["manager"] * 6, is_student=[0] * 6)
    scores = rule_score(rows, _config()).score
    assert (np.diff(scores) >= 0).all()


def test_missing_feature_names_the_rule():
    with pytest.raises(
        LeadscoreError, match=r"feature\(s\) seniority not in the feature table \(used by rules: senior\)"
    ):
        rule_score(_rows(decay_pricing_page_view=[1.0], is_student=[0]), _config())


def test_a_rule_needs_exactly_one_kind():
    with pytest.raises(ValidationError, match="either per_unit"):
        Rule(name="x", feature="f", points=1, description="d")
    with pytest.raises(ValidationError, match="either per_unit"):
        Rule(name="x", feature="f", points=1, per_unit=True, at_least=1, description="d")


def test_config_needs_a_default_threshold_and_unique_names():
    with pytest.raises(ValidationError, match="'default' threshold"):
        _config(thresholds={"smb": 10})
    rule = _config().rules[0]
    with pytest.raises(ValidationError, match="duplicate rule names"):
        _config(rules=[rule, rule])


def test_default_rules_score_the_demo_features(demo_tables):
    from features.build import build_features

    leads, events, outcomes = demo_tables["leads"], demo_tables["events"], demo_tables["outcomes"]
    decided = outcomes[outcomes["decision"].isin(["accepted", "rejected"])].head(3_000)
    rows = decided[["lead_id", "mql_at", "decision"]].merge(leads, on="lead_id")
    result = rule_score(build_features(rows, events, "mql_at", population=leads), load_rules())
    accepted = rows["decision"].eq("accepted").to_numpy()
    assert 0.05 < result.is_mql.mean() < 0.5
    assert result.score[accepted].mean() > result.score[~accepted].mean() + 5
    assert all(rule.description for rule in load_rules().rules)


@pytest.mark.parametrize("n", [1, 3, 5_000])
def test_all_rules_at_once_give_each_rules_own_points(n):
    """The score computes every rule of a kind in one array operation (one lead's request costs a
    few calls, not one per rule); each rule's points must equal its own `Rule.apply`, on numbers,
    missing values, infinities and text where a number is expected."""
    rng = np.random.default_rng(n)
    rules = [
        Rule(name="unit", feature="a", per_unit=True, points=3.5, max_points=20, description="."),
        Rule(name="uncapped", feature="b", per_unit=True, points=-2, description="."),
        Rule(name="low", feature="a", at_least=2, points=7, description="."),
        Rule(name="high", feature="b", at_most=1.5, points=-4, description="."),
        Rule(name="band", feature="c", at_least=-1, at_most=1, points=5, description="."),
        Rule(name="listed", feature="kind", points=9, description=".", **{"in": ["x", "y"]}),
    ]
    config = RuleConfig(rules=rules, floor=-100, cap=100)
    pool = np.array([np.nan, np.inf, -np.inf, 0.0, 1.0, 1.5, 2.0, -1.0, 7.25], dtype=float)
    texts = np.array([None, "3", "many", 2.0, 1, np.nan], dtype=object)
    table = {
        "a": rng.choice(pool, n),
        "b": rng.normal(0, 3, n),
        "c": rng.choice(texts, n),  # a column of objects: numbers, numerals and text
        "kind": rng.choice(np.array(["x", "y", "z", None], dtype=object), n),
        "segment": np.full(n, "smb", dtype=object),
    }
    result = rule_score(table, config)
    for j, rule in enumerate(rules):
        np.testing.assert_array_equal(result.points[:, j], rule.apply(table), err_msg=rule.name)
    np.testing.assert_array_equal(result.score, np.clip(result.points.sum(axis=1), -100, 100))
