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
