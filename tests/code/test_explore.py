"""The exploration hold-out: a seeded draw per lead and ISO week that anyone can recompute, only for
leads below both thresholds, off by default; the answer says so and why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from hashlib import blake2b

import numpy as np
import pytest

from core.errors import LeadscoreError
from features.contract import ContractConfig
from features.defaults import load_rules
from features.settings import FeatureConfig
from serving.explore import Exploration, draw, held, sampled, speaks_for, week
from serving.schemas import Lead
from serving.scorer import Scorer
from serving.settings import load_settings

MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # ISO week 2026-W10
COLD = {"company_size": 3, "job_title": "student", "events": []}  # far below the rules' threshold
HOT = {
    "company_size": 800,
    "job_title": "VP of Sales",
    "industry": "software",
    "events": [{"ts": "2026-03-01T10:00:00Z", "type": "demo_request"}] * 3,
}


def _scorer(share: float = 0.0, seed: int = 0) -> Scorer:
    """A rules-only scorer (the hold-out applies when the rules answer too)."""
    exploration = Exploration(share=share, seed=seed)
    return Scorer(None, load_rules(), FeatureConfig(), ContractConfig(), exploration=exploration)


def test_the_draw_is_a_blake2b_hash_of_seed_lead_and_iso_week_that_an_auditor_recomputes():
    digest = blake2b(b"7\x1fL-42\x1f2026-W10", digest_size=8).digest()
    assert draw(7, "L-42", MONDAY) == int.from_bytes(digest, "big") / 2**64
    sunday = MONDAY + timedelta(days=6, hours=14)  # 2026-03-08 23:00 UTC: the same ISO week
    assert draw(7, "L-42", sunday) == draw(7, "L-42", MONDAY)
    assert draw(7, "L-42", MONDAY + timedelta(days=7)) != draw(7, "L-42", MONDAY)  # a new week, a new draw
    assert draw(8, "L-42", MONDAY) != draw(7, "L-42", MONDAY)  # another seed
    assert week(datetime(2027, 1, 1, tzinfo=UTC)) == "2026-W53"  # ISO weeks, not calendar years


def test_the_share_sent_matches_the_setting_within_sampling_error_on_100000_leads():
    share, n = 0.02, 100_000
    sent = np.array([held(Exploration(share=share, seed=3), f"L{i}", MONDAY, True).explore for i in range(n)])
    sd = (share * (1 - share) / n) ** 0.5
    assert abs(sent.mean() - share) < 4 * sd, sent.mean()  # 4 standard errors: fails 1 time in 16,000


def test_never_for_a_lead_at_or_above_a_threshold_and_off_by_default():
    on = Exploration(share=0.2, seed=1)
    assert not any(held(on, f"L{i}", MONDAY, below_both=False).explore for i in range(2_000))
    assert held(on, "L1", MONDAY, below_both=False).propensity is None
    assert Exploration().share == 0 and load_settings(api_key="k").explore_share == 0
    assert not any(held(Exploration(), f"L{i}", MONDAY, True).explore for i in range(2_000))
    assert held(Exploration(), "L1", MONDAY, True).propensity is None  # off: no propensity either


def test_answers_carry_explore_and_propensity_and_the_next_step_says_why():
    leads = [Lead(lead_id=f"C{i}", as_of=MONDAY, **COLD) for i in range(400)] + [Lead(lead_id="H", as_of=MONDAY, **HOT)]
    answers = _scorer(share=0.1, seed=5).score(leads, now=MONDAY)
    cold, hot = answers[:-1], answers[-1]
    assert not any(a.rule_is_mql or a.is_mql for a in cold) and hot.rule_is_mql
    expected = [draw(5, a.lead_id, MONDAY) < 0.1 for a in cold]  # recomputed from the id and the week
    assert [a.explore for a in cold] == expected and 10 < sum(expected) < 80
    assert {a.propensity for a in cold} == {0.1}  # sent or not: the probability of being sent
    sent = next(a for a in cold if a.explore)
    assert sent.next_step.startswith("sent to sales by the exploration hold-out: 10% of leads below both")
    assert all(a.next_step == "recycle: no sales touch" for a in cold if not a.explore)
    assert not hot.explore and hot.propensity is None
    assert {(a.explore, a.propensity) for a in _scorer().score(leads, now=MONDAY)} == {(False, None)}


def test_the_week_is_the_leads_as_of_else_the_time_it_is_answered():
    later = MONDAY + timedelta(days=30)
    lead = Lead(lead_id="C1", **COLD)
    assert speaks_for(lead, later) == later
    assert speaks_for(Lead(lead_id="C1", as_of=MONDAY, **COLD), later) == MONDAY
    share = 0.2
    ids = [f"C{i}" for i in range(300)]
    # the same leads answered a month later with as_of MONDAY get MONDAY's draws, not the month's
    answers = _scorer(share).score([Lead(lead_id=i, as_of=MONDAY, **COLD) for i in ids], now=later)
    assert [a.explore for a in answers] == [draw(0, i, MONDAY) < share for i in ids]
    answers = _scorer(share).score([Lead(lead_id=i, **COLD) for i in ids], now=later)
    assert [a.explore for a in answers] == [draw(0, i, later) < share for i in ids]


@pytest.mark.parametrize(("variable", "value"), [("EXPLORE_SHARE", "0.5"), ("EXPLORE_SHARE", "-0.01")])
def test_a_share_outside_0_to_0_2_stops_the_start_naming_the_variable(monkeypatch, variable, value):
    monkeypatch.setenv(f"LEADSCORE_{variable}", value)
    with pytest.raises(LeadscoreError, match=f"LEADSCORE_{variable}='{value}'"):
        load_settings(api_key="k")


def test_the_feature_log_samples_a_fixed_share_of_lead_ids():
    ids = [f"L{i}" for i in range(20_000)]
    kept = [sampled(i, 0.25) for i in ids]
    assert abs(np.mean(kept) - 0.25) < 0.02
    assert kept == [sampled(i, 0.25) for i in ids]  # the same leads every time
    assert all(sampled(i, 1.0) for i in ids[:100]) and not any(sampled(i, 0.0) for i in ids[:100])
