"""The parts every answer carries (issue 18): the trend against the score log, the warnings for what
a request sent that was not read, and the serving config's levels, quadrants and widths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from pydantic import ValidationError

from core.store import FeedbackStore, LastScores
from serving.parts import Cutoffs, PartsConfig, interval, quadrant, rule_parts
from serving.schemas import Contact, Event, Lead
from serving.trend import LOG_DOWN, History, trend
from serving.unread import unread

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)
LAST = LastScores(score=60, score_at=T0, rule_score=40.0, rule_at=T0 + timedelta(hours=1))


@pytest.mark.parametrize(
    ("scored_by", "now", "direction", "change", "previous", "at"),
    [
        ("model", 66, "rising", 6, 60, T0),
        ("model", 64, "steady", 4, 60, T0),
        ("model", 55, "falling", -5, 60, T0),
        ("rules", 52.5, "rising", 12.5, 40.0, T0 + timedelta(hours=1)),  # rule score against rule score
        ("rules", 38.0, "steady", -2, 40.0, T0 + timedelta(hours=1)),
    ],
)
def test_a_trend_compares_like_with_like_and_says_when(scored_by, now, direction, change, previous, at):
    got = trend(scored_by, now, LAST, steady=5)
    assert (got.direction, got.change, got.previous_score, got.previous_at, got.reason) == (
        direction,
        change,
        previous,
        at,
        None,
    )


def test_a_first_answer_has_no_trend_and_says_why():
    assert trend("model", 50, None, 5).reason == "no earlier model score for this lead in the score log"
    only_rules = LastScores(rule_score=10.0, rule_at=T0)
    assert trend("model", 50, only_rules, 5).direction is None  # a rule score is no model score
    assert trend("rules", 20.0, only_rules, 5).direction == "rising"


def _row(lead_id: str, at: datetime, score: int | None, rule: float) -> dict:
    return dict(
        lead_id=lead_id,
        scored_at=at,
        score=score,
        probability=None if score is None else score / 100,
        grade="B",
        is_mql=False,
        rule_score=rule,
        rule_is_mql=False,
        rule_threshold=60.0,
        segment="smb",
        scored_by="rules" if score is None else "model",
    )


@pytest.fixture
def store(tmp_path):
    store = FeedbackStore(f"sqlite:///{tmp_path / 'log.db'}")
    assert store.open()
    yield store
    store.engine.dispose()


def test_the_history_reads_the_log_and_remembers_what_it_has_not_written_yet(store):
    store.log_scores([_row("A", T0, 30, 20.0), _row("A", T0 + timedelta(hours=2), None, 25.0), _row("B", T0, 70, 5)])
    history = History(store)
    last = history.last(["A", "B", "C"])
    assert set(last) == {"A", "B"}  # C was never scored
    assert (last["A"].score, last["A"].score_at) == (30, T0)  # the newest model score, not the rules' row
    assert (last["A"].rule_score, last["A"].rule_at) == (25.0, T0 + timedelta(hours=2))
    answer = type("Answer", (), {"lead_id": "C", "score": 44, "rule_score": 12.0})()
    history.remember([answer], T0 + timedelta(hours=3))  # answered, not yet in the log
    assert history.last(["C"])["C"] == LastScores(44, T0 + timedelta(hours=3), 12.0, T0 + timedelta(hours=3))


def test_the_history_never_waits_for_a_store_that_is_down(tmp_path):
    down = FeedbackStore(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'log.db'}")  # cannot be opened
    assert History(down).last(["A"]) == LOG_DOWN


def test_warnings_name_what_was_not_read_and_nothing_a_lead_typed():
    now = datetime(2026, 1, 5, 12, tzinfo=UTC)
    lead = Lead(
        lead_id="L",
        extra={"visits": 3.0, "industry": "software", "x" * 100: 1.0},
        events=[
            Event(ts=now - timedelta(hours=1), type="hologram_call", detail="secret detail"),
            Event(ts=now - timedelta(hours=2), type="hologram_call"),
            Event(ts=now - timedelta(hours=3), type="page_view"),
            Event(ts=now + timedelta(minutes=1), type="page_view"),  # after the time scored as of
        ],
        contacts=[Contact(lead_id="C", created_at=now, events=[Event(ts=now, type="fax_sent")])],
    )
    said = unread(lead, {"page_view"}, {"visits"}, now)
    assert said == [
        "extra.industry: not read: send it as the lead's own field industry",
        f"extra.{'x' * 61}...: not read: not an extra fit column or counter of the served model (it reads: visits)",
        "events: 2 events of a type outside the contract not read: 'hologram_call' (2)",
        "events: 1 event after the time scored as of (as_of) not read",
        "contacts[0].events: 1 event of a type outside the contract not read: 'fax_sent' (1)",
    ]
    assert not any("secret" in line for line in said)
    assert unread(Lead(lead_id="L", events=[]), {"page_view"}, set(), now) == []
    assert unread(Lead(lead_id="L", extra={"visits": 1.0}), set(), set(), now) == [
        "extra.visits: not read: the served model reads no extra columns"
    ]
    # a CRM sending its whole record in extra gets one line, not one per key
    many = unread(Lead(lead_id="L", extra={f"k{i}": 1.0 for i in range(100)}), set(), {"visits"}, now)
    assert len(many) == 1 and many[0].startswith("extra.k0, extra.k1, extra.k2, extra.k3, extra.k4 and 95 more: ")


def test_levels_quadrants_and_confidence_follow_the_config():
    config = PartsConfig()
    fit, intent = rule_parts([30.0, 5.0], config)
    assert (fit.level, intent.level) == ("high", "low")
    assert quadrant(fit, intent, config) == "strong fit, low intent: nurture"
    fit, intent = rule_parts([-30.0, 55.0], config)
    assert quadrant(fit, intent, config) == "weak fit, high intent: check the fit before sales spends time"
    fit, intent = rule_parts([10.0, 0.0], config, intent_unknown="no engagement data")
    assert intent.level is None and intent.reason == "no engagement data" and quadrant(fit, intent, config) is None
    assert interval(0.40, 0.45, config)[1] == "high" and interval(0.40, 0.55, config)[1] == "low"
    assert interval(0.40, 0.55, PartsConfig(max_interval_width=0.2))[1] == "high"
    spread, confidence = interval(None, None, config, "no interval data")
    assert (spread.low, spread.reason, confidence) == (None, "no interval data", None)


def test_a_serving_config_with_a_bad_level_or_quadrant_is_refused_naming_it():
    with pytest.raises(ValidationError, match=r"low .* must be below high"):
        Cutoffs(high=0.1, low=0.2)
    with pytest.raises(ValidationError, match=r"quadrants: .*missing: \['high/high'"):
        PartsConfig(quadrants={"high/low": "nurture"})


def test_the_readmes_answer_is_a_whole_answer_of_this_release():
    import json
    import re

    from serving.schemas import Score
    from tests.conftest import PROJECT

    readme = (PROJECT / "README.md").read_text()
    shown = re.search(r"### The answer\n.*?```json\n(.*?)```", readme, re.S).group(1)
    answer = Score.model_validate(json.loads(shown))
    assert list(json.loads(shown)) == list(Score.model_fields)  # every field, in the API's order
    assert answer.scored_by == "model" and answer.trend.direction == "rising" and answer.interval.reason is None


def test_a_counter_sent_as_text_is_read_as_its_number_or_as_missing_and_said():
    from features.contract import ContractConfig
    from features.defaults import load_rules
    from features.settings import FeatureConfig
    from serving.scorer import Scorer

    scorer = Scorer(None, load_rules(), FeatureConfig(), ContractConfig(counter_columns=["visits", "minutes"]))
    leads = [Lead(lead_id="x", extra={"visits": "many", "minutes": "12.5"}), Lead(lead_id="y", extra={"visits": 3.0})]
    columns = scorer.features(leads, T0)
    assert columns["minutes"][0] == 12.5 and columns["visits"][1] == 3.0 and np.isnan(columns["visits"][0])
    first, second = scorer.score(leads, T0)  # never a 500 for a word where a count belongs
    assert first.warnings == ["extra.visits: not a number >= 0, read as missing"] and second.warnings == []
