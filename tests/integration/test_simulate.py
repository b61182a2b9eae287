"""`leadscore simulate` against the service (its ASGI app, the session's trained model): the
score log holds the simulated weeks' times (as_of throughout), /feedback holds the decisions with
duplicates and corrections handled, the data folder grew and the truth is written."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from core.errors import LeadscoreError
from core.store import FeedbackStore
from synthetic.crm import CRM
from synthetic.drift import parse
from synthetic.simulate import Options, simulate
from tests.conftest import KEY
from tests.waiting import wait_for


@pytest.fixture
def world(trained, tmp_path):
    """A copy of the trained model's world (tests/conftest.py WORLD), its manifest included."""
    folder = tmp_path / "world"
    shutil.copytree(trained["data"], folder)
    return folder


def test_a_simulated_month_reaches_the_score_log_and_the_feedback_store(client, world, tmp_path):
    leads_before = len(pd.read_parquet(world / "leads.parquet"))
    options = Options(weeks=3, drain_weeks=1, leads_per_week=120, seed=4)
    summary = simulate(world, CRM("http://testserver", KEY, http=client), options, parse(None))
    # 360 arrivals in the 3 weeks, and leads of the weeks before that raise their hand in the run
    assert summary["leads"] > 360 and 0 < summary["handed"] < summary["scored"] < summary["leads"]

    truth = pd.read_parquet(world / "simulation" / "truth.parquet")
    start, end = pd.Timestamp(summary["start"]), pd.Timestamp(summary["end"])
    assert len(truth) == summary["leads"] and (truth["scored"] == truth["candidate"]).all()  # hand-raisers
    assert truth.loc[truth["scored"], "scored_at"].between(start, end).all()
    store = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.db'}")
    wait_for(lambda: len(store.read_scores()) >= summary["scored"], 20, every=0.2)
    scores = store.read_scores()
    # as_of, not the clock (H3)
    assert len(scores) == summary["scored"] and scores["scored_at"].between(start, end).all()

    decisions = store.decisions()
    posted = truth[truth["posted"]]
    assert summary["posted"] == len(decisions) > 0 and set(decisions["lead_id"]) == set(posted["lead_id"])
    assert summary["duplicates"] >= 0 and (decisions["status"] == "superseded").sum() == summary["corrections"]
    assert (pd.to_datetime(decisions["decided_at"], utc=True) >= pd.to_datetime(decisions["mql_at"], utc=True)).all()

    leads = pd.read_parquet(world / "leads.parquet")
    outcomes = pd.read_parquet(world / "outcomes.parquet")
    assert len(leads) == leads_before + summary["leads"] and leads["lead_id"].is_unique
    assert (leads["created_at"] >= start).sum() == 360
    assert set(outcomes.loc[outcomes["mql_at"] >= start, "lead_id"]) == set(truth.loc[truth["handed"], "lead_id"])

    again = simulate(
        world, CRM("http://testserver", KEY, http=client), Options(weeks=1, leads_per_week=50), parse(None)
    )
    assert pd.Timestamp(again["start"]) >= end and pd.read_parquet(world / "leads.parquet")["lead_id"].is_unique


def test_a_wrong_key_is_one_line_naming_the_url_and_the_week(client, world):
    with pytest.raises(LeadscoreError, match=r"http://testserver/score_batch: 401 in week 1 of 1"):
        simulate(
            world, CRM("http://testserver", "wrong", http=client), Options(weeks=1, leads_per_week=20), parse(None)
        )
    assert not (world / "simulation").exists()
