"""Point-in-time tests: what a feature may see as of a time, at every window edge.

Each hand-written row says why it is in or out. as_of is 2024-03-10 12:00:00 UTC throughout;
it is the inclusive upper bound of what a feature may see.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.build import build_features

AS_OF = "2024-03-10T12:00:00Z"


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC") if "+" not in text and "Z" not in text else pd.Timestamp(text)


def _leads(*rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["lead_id", "account_id", "created_at", "job_title", "company_size"])
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    for column in ("email_domain", "seniority", "department", "industry", "country", "region", "source"):
        frame[column] = None
    return frame


def _events(*rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["lead_id", "ts", "type"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True, format="ISO8601")
    return frame


LEADS = _leads(
    ("L1", "A", "2024-01-01T00:00:00Z", "VP Marketing", 500),
    ("L2", "A", "2024-03-01T00:00:00Z", "Marketing Analyst", 500),  # colleague, known before as_of
    ("L3", "A", "2024-03-10T12:00:01Z", "CEO", 500),  # colleague created 1 s after as_of: unknown yet
    ("L4", "B", "2024-02-01T00:00:00Z", "Student", None),  # another account entirely
)


def _one(events: pd.DataFrame, lead: str = "L1", as_of=AS_OF) -> pd.Series:
    frame = build_features(LEADS, events, as_of)
    return frame.set_index("lead_id").loc[lead]


def test_event_exactly_at_as_of_counts_one_second_later_does_not():
    row = _one(
        _events(
            ("L1", "2024-03-10T12:00:00Z", "pricing_page_view"),  # IN: exactly at as_of (inclusive bound)
            ("L1", "2024-03-10T12:00:01Z", "pricing_page_view"),  # OUT: one second after as_of
        )
    )
    assert row["n_pricing_page_view_7d"] == 1
    assert row["days_since_pricing_page_view"] == 0
    assert row["decay_pricing_page_view"] == pytest.approx(1.0)


def test_one_microsecond_after_as_of_is_out():
    row = _one(
        _events(
            ("L1", "2024-03-10T12:00:00.000001Z", "demo_request"),  # OUT: 1 microsecond after as_of
        )
    )
    assert row["has_demo_request"] == 0 and row["n_demo_request_90d"] == 0
    assert np.isnan(row["days_since_demo_request"]) and np.isnan(row["days_since_last_activity"])


def test_window_lower_edge_is_exclusive():
    row = _one(
        _events(
            (
                "L1",
                "2024-03-03T12:00:00Z",
                "page_view",
            ),  # OUT of 7d: exactly 7 days before (window is (as_of-7d, as_of])
            ("L1", "2024-03-03T12:00:01Z", "page_view"),  # IN 7d: 1 s inside the window
            ("L1", "2024-02-09T12:00:00Z", "page_view"),  # IN 90d only: 30 days before is outside (as_of-30d, as_of]
        )
    )
    assert row["n_page_view_7d"] == 1
    assert row["n_page_view_30d"] == 2
    assert row["n_page_view_90d"] == 3


def test_decay_halves_each_half_life():
    row = _one(
        _events(
            ("L1", "2024-02-25T12:00:00Z", "pricing_page_view"),  # IN: 14 days (one half-life) old -> 0.5
            ("L1", "2024-03-11T00:00:00Z", "pricing_page_view"),  # OUT: after as_of, must add nothing
        )
    )
    assert row["decay_pricing_page_view"] == pytest.approx(0.5)
    assert row["engagement_decayed"] == pytest.approx(0.5 * 5.0)  # default weight of a pricing view


def test_account_features_see_only_known_contacts_up_to_as_of():
    events = _events(
        ("L1", "2024-03-05T00:00:00Z", "page_view"),  # IN: the lead itself, engaged in the last 30 days
        ("L2", "2024-03-09T00:00:00Z", "email_click"),  # IN: a known colleague, engaged in the last 30 days
        ("L3", "2024-03-10T11:00:00Z", "demo_request"),  # OUT: L3 only becomes known after as_of
        ("L2", "2024-03-10T12:00:01Z", "demo_request"),  # OUT: after as_of
        ("L4", "2024-03-09T00:00:00Z", "demo_request"),  # OUT: another account
    )
    row = _one(events)
    assert row["account_contacts"] == 2  # L1, L2; not L3 (created after as_of)
    assert row["account_engaged_contacts_30d"] == 2
    assert row["account_top_engaged_seniority"] == 5  # L1 is a VP (rank 5), L2 an analyst
    expected = 1.0 * 0.5 ** (5.5 / 14) + 2.0 * 0.5 ** (1.5 / 14)
    assert row["account_engagement_decayed"] == pytest.approx(expected)


def test_each_row_has_its_own_as_of():
    events = _events(
        ("L1", "2024-03-01T00:00:00Z", "pricing_page_view"),  # IN for both rows
        ("L1", "2024-04-01T00:00:00Z", "pricing_page_view"),  # IN only for the later hand-over
    )
    rows = pd.concat([LEADS.iloc[[0]], LEADS.iloc[[0]]], ignore_index=True)
    rows["mql_at"] = pd.to_datetime(["2024-03-10T12:00:00Z", "2024-04-02T00:00:00Z"], utc=True)
    frame = build_features(rows, events, "mql_at", population=LEADS)
    assert list(frame["n_pricing_page_view_90d"]) == [1, 2]


def test_outcome_columns_are_never_read():
    events = _events(("L1", "2024-03-05T00:00:00Z", "page_view"))
    with_outcome = LEADS.assign(
        decision=["accepted", "rejected", "open", "rejected"],
        reason=[None, "bad_fit", None, "student_or_personal"],
        decided_at=pd.Timestamp("2024-03-12", tz="UTC"),
        Converted=[1, 0, 0, 0],
    )
    plain = build_features(LEADS, events, AS_OF)
    leaky = build_features(with_outcome, events, AS_OF)
    pd.testing.assert_frame_equal(plain, leaky)
    assert not {"decision", "reason", "decided_at", "Converted"} & set(leaky.columns)


def test_offsets_are_compared_in_utc():
    row = _one(
        _events(
            ("L1", "2024-03-10T13:00:00+01:00", "demo_request"),  # IN: 12:00 UTC, exactly at as_of
            ("L1", "2024-03-10T07:00:01-05:00", "pricing_page_view"),  # OUT: 12:00:01 UTC
        )
    )
    assert row["has_demo_request"] == 1 and row["n_pricing_page_view_7d"] == 0


def test_lead_without_any_events_gets_empty_engagement_not_an_error():
    row = _one(_events(("L4", "2024-03-01T00:00:00Z", "page_view")))
    assert row["n_events_90d"] == 0 and row["engagement_decayed"] == 0
    assert np.isnan(row["days_since_last_activity"]) and np.isnan(row["email_ctr_90d"])
