"""The feature log never keeps the text of an imported export's extra columns (they may hold names
or notes): only whether one was given, as the reference profile keeps only their missing share."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import numpy as np

from features.contract import ContractConfig
from serving.schemas import Lead
from serving.scorer import Scorer

NOW = datetime(2026, 2, 2, 9, tzinfo=UTC)


def test_extra_text_columns_are_logged_as_given_or_missing_never_their_value():
    contract = ContractConfig(extra_fit_columns={"rep_comment": "categorical", "employees_band": "numeric"})
    scorer = SimpleNamespace(
        model=SimpleNamespace(feature_names=["rep_comment", "employees_band", "industry"]), contract=contract
    )
    leads = [Lead(lead_id=f"L{i}", created_at=NOW) for i in range(3)]
    answers = [
        SimpleNamespace(lead_id=f"L{i}", model_version="leadscore/1", segment="smb", scored_by="model")
        for i in range(3)
    ]
    columns = {
        "rep_comment": np.array(["call Jane Doe on Monday", None, np.nan], dtype=object),
        "employees_band": np.array([3.0, np.nan, 1.0]),
        "industry": np.array(["software", None, "retail"], dtype=object),
    }
    rows = Scorer._feature_rows(scorer, columns, leads, answers, NOW, 1.0)
    assert [r["features"]["rep_comment"] for r in rows] == ["given", None, None]
    assert "Jane" not in repr(rows)
    assert [r["features"]["industry"] for r in rows] == ["software", None, "retail"]  # a model's own category: kept


def test_feature_rows_hold_plain_values_of_the_sampled_model_answers_only():
    """Each column is read once for every sampled answer: the values must still be the lead's own,
    as Python keeps them (what `read_feature_rows` and JSON take), for exactly those answers."""
    scorer = SimpleNamespace(
        model=SimpleNamespace(feature_names=["visits", "is_demo", "industry", "size"]), contract=ContractConfig()
    )
    leads = [Lead(lead_id=f"L{i}", created_at=NOW) for i in range(3)]
    answers = [
        SimpleNamespace(lead_id=f"L{i}", model_version="leadscore/1", segment="smb", scored_by=by)
        for i, by in enumerate(["model", "rules", "model"])  # L1 answered by the rules: no feature row
    ]
    columns = {  # a fourth row (an account contact after the leads) is never read
        "visits": np.array([2.0, 5.0, np.nan, 9.0]),
        "is_demo": np.array([True, False, True, False]),
        "industry": np.array(["software", "retail", None, "x"], dtype=object),
        "size": np.array([np.float64(50.0), None, np.int64(7), 1], dtype=object),
    }
    rows = Scorer._feature_rows(scorer, columns, leads, answers, NOW, 1.0)
    assert [r["lead_id"] for r in rows] == ["L0", "L2"]
    first, third = (r["features"] for r in rows)
    assert first == {"visits": 2.0, "is_demo": True, "industry": "software", "size": 50.0}
    assert third["visits"] != third["visits"] and third["is_demo"] is True and third["industry"] is None
    assert third["size"] == 7
    assert {type(v) for r in rows for v in r["features"].values()} <= {float, bool, str, int, type(None)}
    assert all(r["scored_at"] == NOW and r["model_version"] == "leadscore/1" for r in rows)
