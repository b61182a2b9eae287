"""The report's Accounts section on hand-written hand-overs: an account counts once a week however
many of its leads were handed over, sales accepted it when it accepted one of them, the buying
groups of the MQAs, and the section's own sentences when there are no accounts to speak of or the
model gave no account answer."""

from __future__ import annotations

from html import escape

import numpy as np
import pandas as pd

from reports import account_page, accounts, compare

T0 = pd.Timestamp("2025-03-03", tz="UTC")  # a Monday
NO_BOSS, NO_FINANCE = "no decision maker known yet", "no one from finance or procurement known yet"
COLUMNS = [
    "lead_id",
    "account_id",
    "days",
    "account_is_mqa",
    "account_rule_mql",
    "decision",
    "account_completeness",
    "account_missing_roles",
]


def _frame(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["handed_over_at"] = T0 + pd.to_timedelta(frame.pop("days"), unit="D")
    frame["account_probability"] = np.where(frame["account_is_mqa"], 0.7, 0.2)
    frame["probability"], frame["is_mql"], frame["rule_score"], frame["rule_is_mql"] = 0.5, False, 50.0, False
    frame["segment"], frame["source"], frame["reason"] = "smb", "webinar", None
    return compare.prepare(frame)


FRAME = _frame(
    [
        # acme, week 1: two hand-overs, both MQA by the model only; one rejected, one accepted
        ("a1", "acme", 0, True, False, "rejected", 0.25, f"{NO_BOSS}; {NO_FINANCE}"),
        ("a2", "acme", 2, True, False, "accepted", 0.5, NO_FINANCE),
        # beta, week 1: the rules only, rejected
        ("b1", "beta", 1, False, True, "rejected", 0.0, NO_BOSS),
        # gamma, week 1: both would send it, still open: out of every rate
        ("g1", "gamma", 3, True, True, "open", 0.25, f"{NO_BOSS}; {NO_FINANCE}"),
        # acme again in week 2: both now (its first contact's rule MQL), rejected; its latest MQA answer
        ("a3", "acme", 8, True, True, "rejected", 1.0, None),
        # delta, week 2: neither would send it (sales took it anyway): an account handed over, in no group
        ("d1", "delta", 9, False, False, "accepted", 0.0, NO_BOSS),
    ]
)


def test_an_account_with_two_hand_overs_in_a_week_counts_once_and_is_accepted_when_one_is():
    weekly, k = accounts.weekly(FRAME)
    assert k == 1
    first = weekly[weekly["week"] == pd.Timestamp("2025-03-03")].set_index("who")
    assert first.loc[accounts.ALL, "accounts"] == 3  # acme, beta, gamma: acme's two hand-overs once
    assert first.loc["model only", ["accounts", "decided", "accepted", "rate"]].tolist() == [1, 1, 1, 1.0]
    assert first.loc[accounts.MQAS, ["accounts", "decided"]].tolist() == [2, 1]  # gamma is open
    assert first.loc["rules only", ["accounts", "accepted"]].tolist() == [1, 0]
    second = weekly[weekly["week"] == pd.Timestamp("2025-03-10")].set_index("who")
    assert second.loc["both", ["accounts", "accepted"]].tolist() == [1, 0]  # acme, rejected that week
    assert second.loc[accounts.ALL, "accounts"] == 2 and second.loc[accounts.MQAS, "accounts"] == 1


def test_the_whole_period_counts_each_account_once():
    totals = accounts.totals(FRAME)
    assert totals.loc[accounts.ALL, "accounts"] == 4
    # acme was an MQA and had a rule MQL in the period: both, accepted (one of its three hand-overs)
    assert totals.loc["both", ["accounts", "decided", "accepted"]].tolist() == [2, 1, 1]
    assert totals.loc["model only", "accounts"] == 0 and totals.loc[accounts.RULED, "accounts"] == 3


def test_the_buying_groups_of_the_mqas_as_of_their_latest_hand_over():
    group = accounts.buying_group(FRAME)
    assert group["accounts"] == 2  # acme (as of a3: complete) and gamma (a quarter)
    bands = group["completeness"].set_index("band")
    assert bands.loc["Every role", ["accounts", "share", "accepted"]].tolist() == [1, 0.5, 1]
    assert bands.loc["Under half of its roles", ["accounts", "decided"]].tolist() == [1, 0]
    assert "Not known" not in bands.index
    missing = group["missing"].set_index("role")
    assert missing.loc[NO_FINANCE, ["accounts", "share"]].tolist() == [1, 0.5]  # gamma's; acme's was filled
    rules = accounts.buying_group(FRAME, model=False)
    assert rules["accounts"] == 3 and rules["missing"].iloc[0]["role"] == NO_BOSS  # beta, gamma: most often


def test_the_section_shows_the_weeks_the_groups_and_the_buying_group():
    html = account_page.section(FRAME, dated=True)
    assert 'id="accounts-weekly"' in html and "Week starting" in html and "Whole period" in html
    assert escape("The model's MQAs") in html and "Accounts with a rule MQL" in html
    assert 'id="accounts-overlap"' in html and "Only the rules" in html  # where the two differ
    assert "from <b>4 accounts</b>" in html and "too few to say" in html
    assert 'id="account-completeness"' in html and "No one from finance or procurement known yet" in html
    flat = account_page.section(FRAME, dated=False)  # a snapshot without hand-over dates: no weekly rows
    assert "Whole snapshot" in flat and "Week starting" not in flat and "2025" not in flat


def test_each_lead_its_own_account_is_said_in_one_sentence_without_a_table():
    own = FRAME.assign(account_id=FRAME["lead_id"])
    html = account_page.section(own, dated=True)
    assert "Each lead in this data is its own account" in html and "<table" not in html


def test_a_model_without_an_account_answer_still_shows_the_rules_accounts():
    older = FRAME.assign(account_probability=np.nan, account_is_mqa=None)
    html = account_page.section(older, dated=True)
    assert "train a newer model" in html and "Accounts with a rule MQL" in html
    assert escape("The model's MQAs") not in html and "Only the model" not in html and "accounts-overlap" not in html
    assert "The buying groups of the accounts with a rule MQL" in html
