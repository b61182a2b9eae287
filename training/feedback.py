"""Sales decisions from the service's feedback store, as outcomes rows for retraining."""

from __future__ import annotations

import pandas as pd

from features.contract import ContractConfig, outcomes_schema, validate


def decisions_as_outcomes(
    decisions: pd.DataFrame, history: pd.DataFrame, leads: pd.DataFrame, contract: ContractConfig
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Outcomes rows for stored decisions; a decision without `mql_at` belongs to its lead's latest
    hand-over at or before the decision. Returns the rows and what was kept or left out, and why."""
    counts = {"decisions": len(decisions)}
    known = decisions[decisions["lead_id"].isin(leads["lead_id"])].copy()
    counts["unknown_lead"] = len(decisions) - len(known)
    missing = known["mql_at"].isna()
    if missing.any():
        handovers = history[["lead_id", "mql_at"]].sort_values("mql_at")
        asked = known[missing].reset_index().sort_values("decided_at")
        matched = pd.merge_asof(
            asked,
            handovers.rename(columns={"mql_at": "handover"}),
            left_on="decided_at",
            right_on="handover",
            by="lead_id",
            direction="backward",
        ).set_index("index")
        known.loc[matched.index, "mql_at"] = matched["handover"]
    counts["no_handover"] = int(known["mql_at"].isna().sum())
    known = known[known["mql_at"].notna()]
    rows = known[["lead_id", "mql_at", "decision", "reason", "decided_at"]].reset_index(drop=True)
    rows = validate(rows, outcomes_schema(contract, leads["lead_id"]), "feedback store")
    counts["merged"] = len(rows)
    return rows, counts
