"""Training labels from sales decisions, by the label policy."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.settings import LabelPolicy, Target


def _target(decision: str, reason, policy: LabelPolicy) -> Target | str:
    if decision == "open":
        return "exclude"  # no decision yet: nothing to learn
    if decision in ("rejected", "recycled") and isinstance(reason, str) and reason in policy.reasons:
        return policy.reasons[reason]
    return getattr(policy, decision)


def label_outcomes(outcomes: pd.DataFrame, policy: LabelPolicy) -> pd.DataFrame:
    """Decided, mature hand-overs with `label` and `weight` columns; excluded rows are left out.

    A hand-over is mature when it is at least `mature_after_days` older than the newest decision
    (not applied to a flat snapshot, whose hand-overs all carry the export time).
    """
    if outcomes.empty:
        return outcomes.assign(label=pd.Series(dtype=int), weight=pd.Series(dtype=float))
    newest = outcomes["decided_at"].max()
    snapshot = outcomes["mql_at"].nunique() <= 1  # a flat export: no timeline to mature on
    cutoff = None if snapshot or pd.isna(newest) else newest - pd.Timedelta(days=policy.mature_after_days)
    targets = [_target(d, r, policy) for d, r in zip(outcomes["decision"], outcomes["reason"], strict=True)]
    keep = np.array([t != "exclude" for t in targets])
    if cutoff is not None:
        keep &= (outcomes["mql_at"] <= cutoff).to_numpy()
    kept = outcomes[keep].copy()
    chosen = [t for t, k in zip(targets, keep, strict=True) if k]
    kept["label"] = np.array([t.label for t in chosen], dtype=int)
    kept["weight"] = np.array([t.weight for t in chosen], dtype=float)
    return kept


def label_summary(outcomes: pd.DataFrame, labelled: pd.DataFrame) -> dict[str, float]:
    """Counts for the run's record: decisions in, rows kept, acceptance among them."""
    return {
        "outcomes": float(len(outcomes)),
        "labelled": float(len(labelled)),
        "excluded": float(len(outcomes) - len(labelled)),
        "acceptance_rate": float(labelled["label"].mean()) if len(labelled) else float("nan"),
    }
