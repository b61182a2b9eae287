"""The account answer's pieces on hand-written rows: the account windows training learns from, who
counts for an account at a time, the roll-up, and the account rows of `score --accounts`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.schema import ACCOUNT, names
from training.account_fit import windows
from training.accounts import INPUTS, AccountModel, _inputs
from training.answer import ACCOUNT_LEADS, account_rows
from training.members import members
from training.model import ALL

T0 = pd.Timestamp("2025-03-01", tz="UTC")
DAY_US = 86_400 * 1_000_000


def _micros(*days: float) -> np.ndarray:
    return np.array([(T0 + pd.Timedelta(days=d)).value // 1_000 for d in days], dtype=np.int64)


def test_a_window_holds_an_accounts_hand_overs_of_the_next_30_days_and_one_accepted_is_enough():
    rows = pd.DataFrame(
        {
            "account_id": ["A", "A", "A", "B", "C"],
            # A day 0 starts a window; A day 10 is in it (< 30 days); A day 40 starts the next; B day
            # 20 has its own; C day 75 would end after the newest hand-over (day 75): not known, out
            "mql_at": [T0 + pd.Timedelta(days=d) for d in (0, 10, 40, 20, 75)],
            "label": [0, 1, 0, 0, 1],
        }
    )
    parts = np.array(["train", "train", "test", "train", "test"], dtype=object)
    found = windows(rows, parts, 30)
    assert found.first.tolist() == [0, 2, 3]  # A's two windows, then B's (accounts in order)
    assert found.y.tolist() == [1, 0, 0]  # A's first window: its second hand-over was accepted
    assert found.handovers.tolist() == [2, 1, 1]
    assert found.part.tolist() == ["train", "test", "train"]
    assert found.of.tolist() == [0, 0, 1, 2, -1]


def test_an_accounts_members_are_its_people_known_at_the_time():
    people_account = np.array(["A", "A", "A", "B"], dtype=object)
    created = _micros(0, 5, 30, 0)  # A's third person is created after the row's time: not yet known
    found = members(np.array(["A", "B"], dtype=object), _micros(10, 10), people_account, created)
    pairs = sorted(zip(found.of.tolist(), found.person.tolist(), strict=True))
    assert pairs == [(0, 0), (0, 1), (1, 3)]  # B's lead is never A's member


def test_the_roll_up_is_one_minus_the_product_and_the_best_is_the_highest():
    found = members(np.array(["A"], dtype=object), _micros(10), np.array(["A"] * 3, dtype=object), _micros(0, 0, 0))
    p = np.array([0.5, 0.2, np.nan])  # the third member could not be scored: left out of both
    engaged = f"account_engaged_contacts_{30}d"
    features = {
        "lead_id": np.array(["L1"], dtype=object),
        engaged: np.array([2.0]),
        "account_engagement_decayed": np.array([3.0]),
        "buying_completeness": np.array([0.5]),
    }
    config = type("C", (), {"engaged_window_days": 30})()
    matrix, contacts, count = _inputs(found, p, features, config)
    row = dict(zip(INPUTS, matrix[0], strict=True))
    assert np.isclose(1 / (1 + np.exp(-row["rollup_log_odds"])), 1 - 0.5 * 0.8)
    assert np.isclose(1 / (1 + np.exp(-row["best_log_odds"])), 0.5)
    assert contacts.tolist() == [3.0] and count.tolist() == [2.0] and row["completeness"] == 0.5
    rollup = AccountModel("roll-up", 30, {ALL: 0.5}).probability(matrix)
    assert np.isclose(rollup[0], 0.6)


def test_account_rows_are_one_per_account_with_its_best_lead_and_counts():
    scores = pd.DataFrame(
        {
            "lead_id": ["L1", "L2", "L3"],
            "as_of": [T0] * 3,
            "probability": [0.2, 0.7, 0.4],
            "rule_score": [50.0, 10.0, 80.0],
            "is_mql": [False, True, False],
            "rule_is_mql": [False, False, True],
            **{f.name: ["A", "A", "B"] if f.name == "account_id" else [None] * 3 for f in ACCOUNT},
        }
    )
    scores["account_probability"] = [0.75, 0.75, 0.4]
    rows = account_rows(scores)
    assert list(rows.columns) == ["account_id", "as_of", *names(ACCOUNT)[1:], *names(ACCOUNT_LEADS)]
    assert rows["account_id"].tolist() == ["A", "B"]
    assert rows["best_lead_id"].tolist() == ["L2", "L3"]  # A's most likely lead, not its first
    assert rows["leads"].tolist() == [2, 1] and rows["model_mqls"].tolist() == [1, 0]
    assert rows["rule_mqls"].tolist() == [0, 1] and rows["account_probability"].tolist() == [0.75, 0.4]


def test_a_request_is_grouped_as_a_batch_is(monkeypatch):
    """The small-input path of `account_groups` and `pair_keys` (dicts, for a request) numbers
    groups exactly as the large one (np.unique, for a batch) does."""
    import training.members as members

    rng = np.random.default_rng(4)
    account = rng.choice(np.array(["a", "b", None, "c", "d"], dtype=object), 700)
    at = rng.choice([5, -3, 1_700_000_000_000_000, 0], 700).astype(np.int64)
    large = members.account_groups(account, at), members.pair_keys(np.arange(700) % 7, at)
    monkeypatch.setattr(members, "SMALL", 10_000)
    small = members.account_groups(account, at), members.pair_keys(np.arange(700) % 7, at)
    np.testing.assert_array_equal(small[0][0], large[0][0])
    np.testing.assert_array_equal(small[0][1], large[0][1])
    np.testing.assert_array_equal(small[1], large[1])
