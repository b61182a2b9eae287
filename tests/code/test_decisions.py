"""The rules of a sales decision (core/decisions.py), on hand-written rows that each say why they
are in or out: the same verdict for one decision at the service's door (`Decision`) and for a
table of them (`decision_problems`, what retraining from the store uses)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from core.decisions import (
    Decision,
    bad_text,
    bad_time,
    before_handover,
    context,
    decision_problems,
    missing_reason,
    one_line,
    unknown_reason,
)
from core.errors import LeadscoreError
from features.contract import ContractConfig

BASE = {
    "feedback_id": "crm-1",
    "lead_id": "L-1",
    "decision": "rejected",
    "reason": "no_budget",
    "decided_at": "2026-01-02T10:00:00Z",
    "mql_at": "2026-01-01T09:00:00Z",
}
SOON = (datetime.now(UTC) + timedelta(minutes=2)).isoformat()  # inside the 5 minutes of skew
H4 = "2026-01-01T04:00:00Z"
LATER = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()

# (why, the fields changed from BASE, the problem or None)
ROWS = [
    ("a rejection with its reason", {}, None),
    ("accepted needs no reason", {"decision": "accepted", "reason": None}, None),
    ("no mql_at: the lead's latest hand-over", {"mql_at": None}, None),
    ("decided at the hand-over itself", {"decided_at": "2026-01-01T09:00:00Z"}, None),
    ("+05:30: 04:30 UTC, after a 04:00Z hand-over", {"mql_at": H4, "decided_at": "2026-01-01T10:00:00+05:30"}, None),
    ("a CRM clock 2 minutes ahead", {"decided_at": SOON, "mql_at": None}, None),
    ("poisoned: rejected without a reason", {"reason": None}, "reason: required for a rejected decision"),
    ("poisoned: recycled with an empty reason", {"decision": "recycled", "reason": ""}, "reason: required for a"),
    ("poisoned: decided before the hand-over", {"decided_at": "2025-12-31T00:00:00Z"}, "decided_at: before mql_at"),
    (
        "+05:30: 03:30 UTC, before a 04:00Z hand-over",
        {"mql_at": H4, "decided_at": "2026-01-01T09:00:00+05:30"},
        "before",
    ),
    ("a reason outside the codes", {"reason": "bad_vibes"}, "reason: not one of bad_fit, "),
    ("NUL in the note (PostgreSQL refuses it)", {"note": "called\x00back"}, "note: contains a NUL character"),
    ("NUL in the feedback id", {"feedback_id": "crm\x00-1"}, "feedback_id: contains a NUL character"),
    ("a lone surrogate in the rep id", {"rep_id": "rep-\ud800"}, "rep_id: "),
    ("year 9999", {"decided_at": "9999-12-31T00:00:00Z"}, "decided_at: in the future"),
    ("year 9999 at -05:00 (past datetime's range in UTC)", {"decided_at": "9999-12-31T23:00:00-05:00"}, "future"),
    ("1900", {"mql_at": "1900-01-01T00:00:00Z"}, "mql_at: before 1970"),
    ("1970-01-01T00:00+05:30 is 1969 in UTC", {"mql_at": "1970-01-01T00:00:00+05:30"}, "mql_at: before 1970"),
    ("10 minutes ahead: past the skew", {"decided_at": LATER, "mql_at": None}, "decided_at: in the future"),
]


def _door(fields: dict, contract=None) -> str | None:
    try:
        Decision.model_validate({**BASE, **fields}, context=context(contract))
    except ValidationError as exc:
        return one_line(exc)
    return None


@pytest.mark.parametrize(("why", "fields", "problem"), ROWS, ids=[r[0] for r in ROWS])
def test_the_door_takes_or_refuses_each_row(why, fields, problem):
    found = _door(fields)
    if problem is None:
        assert found is None, why
    else:
        assert found is not None and problem in found and "\n" not in found, (why, found)


def test_a_table_gets_the_same_verdict_as_the_door():
    """`decision_problems` (retraining from the store) refuses exactly the rows the door refuses
    (the lone surrogate excepted: no table can hold one once pandas stores it as UTF-8 text)."""
    rows = [r for r in ROWS if "surrogate" not in r[0]]
    table = pd.DataFrame([{**BASE, "rep_id": None, "note": None, **fields} for _, fields, _ in rows], dtype=object)
    problems = decision_problems(table)
    for (why, fields, problem), found in zip(rows, problems, strict=True):
        if problem is None:
            assert found is None, why
        else:
            assert found is not None and found.split(" (")[0] in (_door(fields) or ""), (why, found)


def test_a_second_decision_for_the_same_handover_is_a_correction_not_an_error():
    """Two decisions for one hand-over: both valid; the later one supersedes (the store's job)."""
    table = pd.DataFrame(
        [
            {**BASE, "feedback_id": "crm-1", "decision": "rejected", "reason": "no_budget"},
            {**BASE, "feedback_id": "crm-2", "decision": "accepted", "reason": None, "decided_at": "2026-01-03"},
        ]
    )
    assert decision_problems(table).isna().all()


def test_the_contracts_reason_codes_and_reasons_not_required():
    custom = ContractConfig(reasons=["price"], require_reasons=False)
    assert _door({"reason": "price"}, custom) is None
    assert _door({"reason": None}, custom) is None  # this CRM records no reasons
    assert _door({"reason": "no_budget"}, custom) == "reason: not one of price"
    table = pd.DataFrame([{**BASE, "reason": "price"}, {**BASE, "reason": None}, {**BASE, "reason": "no_budget"}])
    assert decision_problems(table, custom).tolist() == [None, None, "reason: not one of price"]


def test_messages_name_the_field_never_the_text():
    secret = "jane.doe@example.com"
    message = _door({"note": f"{secret}\x00", "lead_id": f"{secret}\x00"})
    assert "note: contains a NUL" in message and "lead_id: contains a NUL" in message and secret not in message
    table = pd.DataFrame([{**BASE, "note": f"{secret}\x00"}])
    assert decision_problems(table).tolist() == ["note: contains a NUL character"]


def test_times_are_utc_instants():
    decision = Decision.model_validate({**BASE, "decided_at": "2026-01-02T10:30:00+05:30", "mql_at": None})
    assert decision.decided_at == datetime(2026, 1, 2, 5, tzinfo=UTC) and decision.decided_at.utcoffset() == timedelta(
        0
    )
    naive = Decision.model_validate({**BASE, "decided_at": "2026-01-02T10:30:00", "mql_at": None})
    assert naive.decided_at == datetime(2026, 1, 2, 10, 30, tzinfo=UTC)  # no offset means UTC


def test_the_rules_on_columns_and_on_single_values_agree():
    texts = pd.Series(["fine", "nul\x00", None, "\ud800", 7], dtype=object)
    assert bad_text(texts).tolist() == [False, True, False, True, False]
    assert [bad_text(v) for v in texts] == [False, True, False, True, False]
    assert bad_text(pd.Series(["a", "b\x00", None])).tolist() == [False, True, False]  # Arrow strings
    assert isinstance(bad_text(["a"]), np.ndarray)
    times = ["2026-01-01T00:00:00Z", "9999-12-31T00:00:00Z", "1900-01-01T00:00:00Z", None]
    assert bad_time(pd.Series(times)).tolist() == [False, True, True, False]
    assert [bad_time(None if t is None else pd.Timestamp(t)) for t in times] == [False, True, True, False]
    assert missing_reason(pd.Series(["rejected", "recycled", "accepted"]), [None, "", None]).tolist() == [
        True,
        True,
        False,
    ]
    assert missing_reason("rejected", None) and not missing_reason("rejected", None, required=False)
    assert unknown_reason(pd.Series(["no_need", "x", None]), ["no_need"]).tolist() == [False, True, False]
    mql = pd.Series(pd.to_datetime(["2026-01-02", "2026-01-02", None], utc=True))
    decided = pd.Series(["2026-01-01T23:00:00Z", "2026-01-02T05:30:00+05:30", "2020-01-01T00:00:00Z"])
    assert before_handover(mql, decided).tolist() == [True, False, False]


def test_a_table_without_the_needed_columns_is_one_clear_error():
    with pytest.raises(LeadscoreError, match=r"^decisions: missing column\(s\) decision, decided_at$"):
        decision_problems(pd.DataFrame({"lead_id": ["L"]}))


def test_a_decision_is_placed_on_its_leads_latest_score_at_or_before_its_handover():
    """core.decisions.placed, the one rule for where a decision belongs (hand-written rows)."""
    import pandas as pd

    from core.decisions import placed

    scores = pd.DataFrame(
        {
            "lead_id": ["a", "a", "a", "b"],
            "scored_at": pd.to_datetime(["2025-01-01", "2025-01-05", None, "2025-01-02"], utc=True),
            "id": [1, 2, 3, 4],
        }
    )
    decisions = pd.DataFrame(
        {
            "lead_id": ["a", "a", "b", "c"],
            "at": pd.to_datetime(["2025-01-05", "2025-01-04", "2025-01-01", "2025-01-09"], utc=True),
        },
        index=[10, 11, 12, 13],
    )
    on = placed(decisions["lead_id"], decisions["at"], scores, "scored_at")
    assert list(on.index) == [10, 11, 12, 13]
    assert on.loc[10, "id"] == 2  # at the same instant counts: the score of 5 January itself
    assert on.loc[11, "id"] == 1  # the later score (5 January) is after the hand-over: not it
    assert pd.isna(on.loc[12, "id"])  # b was first scored after its hand-over: nowhere to place it
    assert pd.isna(on.loc[13, "id"])  # c was never scored; a score without a time (id 3) is never used


def test_decisions_are_placed_on_their_handover_before_the_latest_is_chosen():
    """core.decisions.with_status: a decision without mql_at is placed on its lead's latest hand-over
    at or before it (named by the lead's decisions not voided, or `known`), then each placed
    hand-over keeps its latest decision in force."""
    import pandas as pd

    from core.decisions import with_status

    def at(day: int, hour: int = 9):
        return pd.Timestamp(f"2026-01-{day:02d}T{hour:02d}:00:00Z")

    rows = [
        # feedback_id, lead, mql_at, decided_at, voided_at
        ("a", "L", at(1), at(2), None),  # names the first hand-over
        ("b", "L", None, at(3), None),  # corrects a without naming it
        ("c", "L", None, at(11), None),  # decides the second hand-over, which only `known` holds
        ("d", "M", at(5), at(6), at(7)),  # voided: the time it names is no hand-over to place on
        ("e", "M", None, at(8), None),  # nowhere to place it: in force on its own
        ("f", "M", None, at(9), None),  # ... and superseded by a later one just as unplaced
    ]
    frame = pd.DataFrame(rows, columns=["feedback_id", "lead_id", "mql_at", "decided_at", "voided_at"])
    frame["received_at"] = frame["decided_at"]
    known = pd.DataFrame({"lead_id": ["L"], "mql_at": [at(10)]})
    out = with_status(frame, known).set_index("feedback_id")
    assert out["status"].to_dict() == {
        "a": "superseded", "b": "latest", "c": "latest", "d": "voided", "e": "superseded", "f": "latest"
    }  # fmt: skip
    assert out.loc["a", "superseded_by"] == "b" and out.loc["e", "superseded_by"] == "f"
    assert out.loc["b", "handover"] == at(1) and out.loc["c", "handover"] == at(10)
    assert out["handover"][["e", "f"]].isna().all()
    without_known = with_status(frame).set_index("feedback_id")  # c then lands on the first hand-over too
    assert without_known.loc["c", "status"] == "latest" and without_known.loc["b", "superseded_by"] == "c"
