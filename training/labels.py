"""Training labels from sales decisions, by the label policy.

Every rule that keeps a decided hand-over from becoming a label lives here once (`fates`), and
everything that counts what became of decisions (`training/feedback.py`: retrain and recalibrate)
reads the same fates: "excluded" (the policy's `exclude`, or no decision yet), "too_young"
(younger than `mature_after_days` before the newest decision) or "labelled".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.settings import LabelPolicy, Target

LABELLED, EXCLUDED, TOO_YOUNG = "labelled", "excluded", "too_young"


def _target(decision: str, reason, policy: LabelPolicy) -> Target | str:
    if decision == "open":
        return "exclude"  # no decision yet: nothing to learn
    if decision in ("rejected", "recycled") and isinstance(reason, str) and reason in policy.reasons:
        return policy.reasons[reason]
    return getattr(policy, decision)


def maturity_cutoff(outcomes: pd.DataFrame, policy: LabelPolicy) -> pd.Timestamp | None:
    """The newest hand-over time that is mature: `mature_after_days` before the newest decision
    (None: everything is mature, as in a flat snapshot, whose hand-overs all carry the export time)."""
    if outcomes.empty:
        return None
    newest = outcomes["decided_at"].max()
    snapshot = outcomes["mql_at"].nunique() <= 1  # a flat export: no timeline to mature on
    return None if snapshot or pd.isna(newest) else newest - pd.Timedelta(days=policy.mature_after_days)


def fates(outcomes: pd.DataFrame, policy: LabelPolicy) -> pd.DataFrame:
    """Per outcome row (same index): `fate` (labelled, excluded, too_young), `label`, `weight`."""
    targets = [_target(d, r, policy) for d, r in zip(outcomes["decision"], outcomes["reason"], strict=True)]
    excluded = np.array([t == "exclude" for t in targets], dtype=bool)
    cutoff = maturity_cutoff(outcomes, policy)
    young = np.zeros(len(outcomes), bool) if cutoff is None else (outcomes["mql_at"] > cutoff).to_numpy()
    fate = np.where(excluded, EXCLUDED, np.where(young, TOO_YOUNG, LABELLED))
    label = [t.label if not isinstance(t, str) else -1 for t in targets]
    weight = [t.weight if not isinstance(t, str) else 0.0 for t in targets]
    return pd.DataFrame({"fate": fate, "label": label, "weight": weight}, index=outcomes.index)


def label_outcomes(outcomes: pd.DataFrame, policy: LabelPolicy) -> pd.DataFrame:
    """Decided, mature hand-overs with `label` and `weight` columns; excluded rows are left out
    (`fates`: the policy's `exclude`, and hand-overs younger than `mature_after_days` before the
    newest decision, not applied to a flat snapshot)."""
    if outcomes.empty:
        return outcomes.assign(label=pd.Series(dtype=int), weight=pd.Series(dtype=float))
    fate = fates(outcomes, policy)
    keep = (fate["fate"] == LABELLED).to_numpy()
    kept = outcomes[keep].copy()
    kept["label"] = fate.loc[keep, "label"].to_numpy(dtype=int)
    kept["weight"] = fate.loc[keep, "weight"].to_numpy(dtype=float)
    return kept


def label_summary(outcomes: pd.DataFrame, labelled: pd.DataFrame) -> dict[str, float]:
    """Counts for the run's record: decisions in, rows kept, acceptance among them."""
    return {
        "outcomes": float(len(outcomes)),
        "labelled": float(len(labelled)),
        "excluded": float(len(outcomes) - len(labelled)),
        "acceptance_rate": float(labelled["label"].mean()) if len(labelled) else float("nan"),
    }
