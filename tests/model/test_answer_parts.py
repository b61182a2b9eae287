"""What every answer of a trained model carries (issue 18): fit and intent side by side from the
same contributions as the reasons, their quadrant, the probability's Venn-Abers interval and its
confidence, and the same parts when the rules answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.build import build_features
from features.contract import ContractConfig, Dataset
from features.defaults import load_rules
from features.rules import rule_score
from features.settings import FeatureConfig
from serving.parts import NO_CONTRIBUTIONS
from serving.scorer import Scorer, ServingConfig
from synthetic.generate import generate
from tests.model.test_scorer import NOW, _lead
from training.labels import label_outcomes
from training.settings import TrainingConfig

HOT = [
    (1, "demo_request"),
    (2, "pricing_page_view"),
    (3, "pricing_page_view"),
    (20, "page_view"),
    (30, "webinar_attended"),
]
STUDENT = dict(job_title="PhD student", email_domain="gmail.com", company_size=None, industry=None)


def test_fit_and_intent_are_the_contributions_of_who_the_lead_is_and_what_it_did(scorer, trained):
    leads = [
        _lead("vp-idle"),
        _lead("vp-hot", HOT),
        _lead("student-hot", HOT, **STUDENT),
        _lead("student-idle", **STUDENT),
    ]
    answers = {a.lead_id: a for a in scorer.score(leads, now=NOW)}
    assert all(a.scored_by == "model" for a in answers.values())
    assert answers["vp-idle"].quadrant == "strong fit, low intent: nurture"
    assert answers["vp-hot"].quadrant == "strong fit, high intent: route to sales now"
    # a student's activity counts for less (the model learnt it), but it still counts
    assert answers["student-hot"].fit.level == "low" and answers["student-hot"].intent.level != "low"
    assert answers["student-hot"].intent.log_odds > answers["student-idle"].intent.log_odds + 0.3
    assert answers["student-idle"].quadrant == "weak fit, low intent: recycle"
    # the same contributions as the reasons: fit + intent + the base value = the booster's log-odds
    columns = scorer.features(leads, NOW)
    contributions = trained["model"].answers(columns, contributions=True).contributions
    points = rule_score(columns, scorer.rules).points.sum(axis=1)  # every rule, fit and activity
    for i, lead in enumerate(leads):
        answer = answers[lead.lead_id]
        total = answer.fit.log_odds + answer.intent.log_odds + contributions[i, -1]
        assert total == pytest.approx(contributions[i].sum(), abs=1e-3)
        assert answer.fit.points + answer.intent.points == pytest.approx(points[i], abs=0.02)


def test_levels_follow_the_configured_log_odds(trained):
    lead = _lead("vp-idle")
    strict = ServingConfig(levels={"log_odds": {"high": 5.0, "low": -5.0}})
    [answer] = Scorer(trained["model"], load_rules(), FeatureConfig(), ContractConfig(), strict).score([lead], now=NOW)
    assert (answer.fit.level, answer.intent.level) == ("medium", "medium")
    assert answer.quadrant == "moderate fit, some intent: nurture"


def test_without_reasons_the_parts_keep_their_points_and_say_why_they_have_no_level(scorer):
    [answer] = scorer.score([_lead("vp-hot", HOT)], now=NOW, reasons=False)
    assert answer.scored_by == "model" and answer.top_reasons == []
    for part in (answer.fit, answer.intent):
        assert part.level is None and part.log_odds is None and part.reason == NO_CONTRIBUTIONS and part.points > 0
    assert answer.quadrant is None and answer.interval.low is not None  # the interval needs no contributions


def test_rules_answers_carry_the_rule_scores_fit_and_activity_points(trained):
    rules_only = Scorer(None, load_rules(), FeatureConfig(), ContractConfig(), unavailable="no champion registered")
    hot, idle = rules_only.score([_lead("vp-hot", HOT), _lead("student-idle", **STUDENT)], now=NOW)
    assert hot.scored_by == "rules" and hot.fit.points == 40.0  # senior 15, industry 10, region 5, 200+ 10
    assert hot.intent.points > 40 and (hot.fit.level, hot.intent.level) == ("high", "high")
    assert hot.fit.log_odds is None and hot.intent.log_odds is None
    assert (
        idle.fit.points == -35.0 and idle.quadrant == "weak fit, low intent: recycle"
    )  # student, personal email, region
    assert hot.interval.reason == "the rules answered: there is no probability" and hot.confidence is None


def test_a_lead_without_events_has_unknown_intent_and_one_with_none_has_low_intent(scorer):
    unknown = _lead("unknown")
    unknown.events = None
    without, nothing = scorer.score([unknown, _lead("nothing", [])], now=NOW)
    assert without.scored_by == "rules" and without.fallback_reason.startswith("no engagement data")
    assert without.intent.level is None and without.intent.reason == without.fallback_reason
    assert without.fit.level == "high" and without.quadrant is None
    assert nothing.scored_by == "model" and nothing.intent.level == "low"


def test_every_answer_has_an_interval_around_its_probability(scorer, trained):
    model = trained["model"]
    assert model.intervals is not None and model.intervals.everyone.rows > 1_000  # fitted with the model
    leads = [_lead(f"L{i}", HOT[: i % 6], company_size=10 + 300 * i) for i in range(12)]
    leads += [_lead("student", HOT, **STUDENT)]
    for answer in scorer.score(leads, now=NOW):
        spread = answer.interval
        assert spread.low <= answer.probability <= spread.high and spread.reason is None
        assert spread.width == pytest.approx(spread.high - spread.low, abs=2e-6)
        assert answer.confidence == ("low" if spread.width > 0.1 else "high")
    narrow = Scorer(model, load_rules(), FeatureConfig(), ContractConfig(), ServingConfig(max_interval_width=1e-6))
    assert {a.confidence for a in narrow.score(leads, now=NOW)} == {"low"}


def test_the_interval_holds_the_acceptance_of_leads_the_model_never_saw(trained):
    """Fresh hand-overs (another seed), by fifths of the probability: sales accepted about as many
    as the interval says, within three standard errors."""
    model = trained["model"]
    tables = {name: table.to_pandas() for name, table in generate(8_000, seed=99).items()}
    labelled = label_outcomes(tables["outcomes"], TrainingConfig().labels)
    rows = labelled.merge(tables["leads"], on="lead_id")
    data = Dataset(tables["leads"], tables["events"], tables["outcomes"])
    features = build_features(rows, data.events, "mql_at", model.feature_config, model.contract, population=data.leads)
    answers = model.answers(features)
    frame = pd.DataFrame(
        {"y": labelled["label"].to_numpy(), "low": answers.interval[0], "high": answers.interval[1]}
    ).assign(fifth=pd.qcut(answers.probability, 5, labels=False))
    for _, part in frame.groupby("fifth"):
        rate, margin = part["y"].mean(), 3 * np.sqrt(0.25 / len(part))
        assert part["low"].mean() - margin <= rate <= part["high"].mean() + margin, part.describe()


def test_warnings_list_what_the_model_did_not_read(scorer):
    lead = _lead("odd", [*HOT, (4, "hologram_call")], extra={"visits": 3.0})
    [answer] = scorer.score([lead], now=NOW)
    assert answer.scored_by == "model"
    assert answer.warnings == [
        "extra.visits: not read: the served model reads no extra columns",
        "events: 1 event of a type outside the contract not read: 'hologram_call' (1)",
    ]
    [clean] = scorer.score([_lead("clean", HOT)], now=NOW)
    assert clean.warnings == []
