"""Acceptance on the whole funnel, not only on what sales saw: inverse propensity weighting.

Sales decides only the leads it is sent, and the policy sends the leads it already likes, so the
acceptance of handed-over leads says little about the leads held back. With the exploration
hold-out a known share of the leads below both thresholds is sent anyway, each with its
propensity (the chance the policy sends it: 1 for leads a threshold sends, the hold-out's share
for leads below both, 0 for leads the policy never sends). Weighting each decided lead by
1 / propensity stands it in for the leads like it that were not sent. The estimate is the
self-normalised (Hájek) one, sum(w * accepted) / sum(w) over the decided leads, steadier than
dividing by the group's size when few are decided; its 95% interval is a percentile bootstrap
over the group's leads (seeded). Leads with propensity 0 cannot be stood in for: the estimate
covers the rest of the group, and says so. Decided leads are taken as a random part of the
handed-over ones (a decision's delay does not depend on its outcome).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

CELLS = 4_000_000  # bootstrap counts held at once
COLUMNS = ["group", "n", "covered", "handed", "decided", "accepted", "naive", "estimate", "low", "high", "note"]


def hajek(accepted: np.ndarray, weight: np.ndarray) -> float:
    """sum(w * accepted) / sum(w) (NaN when no weight)."""
    total = weight.sum()
    return float((weight * accepted).sum() / total) if total > 0 else float("nan")


def bootstrap(accepted: np.ndarray, weight: np.ndarray, n: int, rng, n_boot: int) -> tuple[float, float]:
    """The 2.5% and 97.5% percentiles of the Hájek estimate over `n_boot` resamples of the group's
    `n` leads, of which the `len(weight)` decided ones carry weight. Resampling n leads with
    replacement gives each decided lead a multinomial count: drawn directly, the other leads
    pooled in one cell (the same distribution, without drawing every lead)."""
    m = len(weight)
    if m == 0:
        return (np.nan, np.nan)
    # decided leads alike in (weight, accepted) share one cell: a multinomial's cells may be merged
    # without changing the distribution of their sums, and a group holds few distinct weights
    alike, size = np.unique(np.c_[weight, accepted], axis=0, return_counts=True)
    w, a = alike[:, 0], alike[:, 1]
    cells = np.r_[size / n, max(0.0, (n - m) / n)]
    cells /= cells.sum()
    k = len(w)
    block = max(1, CELLS // (k + 1))  # resamples drawn at once: memory stays bounded for big groups
    estimates = []
    for start in range(0, n_boot, block):
        counts = rng.multinomial(n, cells, size=min(block, n_boot - start))[:, :k]
        totals = counts @ w
        ok = totals > 0
        estimates.append((counts[ok] @ (w * a)) / totals[ok])
    estimates = np.concatenate(estimates)
    if len(estimates) == 0:
        return (np.nan, np.nan)
    low, high = np.percentile(estimates, [2.5, 97.5])
    return (float(low), float(high))


def _coverage(group: str, n: int, zero: int, zero_handed: int) -> str:
    """The words for the part of a group the estimate cannot cover."""
    if zero == 0:
        return ""
    if zero == n:
        return f"Not one of the {n:,} {group} had a chance of being sent (propensity 0): no estimate."
    note = f"{zero:,} of the {n:,} {group} had no chance of being sent (propensity 0): "
    note += f"the estimate covers the {n - zero:,} that had"
    if zero_handed:
        note += f"; {zero_handed:,} of them were sent all the same and are left out of it"
    return note + "."


def acceptance(
    frame: pd.DataFrame, groups: Mapping[str, str] | Sequence[str], seed: int, n_boot: int = 1_000
) -> pd.DataFrame:
    """Per group (`groups`: names of boolean columns of `frame`, or {name: column}; groups may
    overlap): leads `n`, `covered` (propensity > 0), `handed`, `decided`, `accepted`, the `naive`
    rate (accepted of decided handed-over leads), the IPW `estimate` with its bootstrap interval
    (`low`, `high`) and a coverage `note`. `frame` has one row per scored lead (the latest answer
    per lead and week) with `handed` (bool), `accepted` (1/0, NaN while undecided or not handed)
    and `propensity` (NaN read as 0)."""
    named = dict(groups) if isinstance(groups, Mapping) else {g: g for g in groups}
    rng = np.random.default_rng(seed)
    handed = frame["handed"].fillna(False).to_numpy(dtype=bool)
    accepted = frame["accepted"].to_numpy(dtype=float)
    propensity = frame["propensity"].to_numpy(dtype=float)
    propensity = np.where(np.isnan(propensity), 0.0, propensity)
    decided = handed & ~np.isnan(accepted)
    rows = []
    for name, column in named.items():
        member = frame[column].fillna(False).to_numpy(dtype=bool)
        covered = member & (propensity > 0)
        used = covered & decided
        y, w = accepted[used], 1.0 / propensity[used]
        naive = accepted[member & decided]
        low, high = bootstrap(y, w, int(covered.sum()), rng, n_boot) if covered.any() else (np.nan, np.nan)
        zero = int((member & ~covered).sum())
        rows.append(
            {
                "group": name,
                "n": int(member.sum()),
                "covered": int(covered.sum()),
                "handed": int((member & handed).sum()),
                "decided": len(naive),
                "accepted": int(naive.sum()),
                "naive": float(naive.mean()) if len(naive) else np.nan,
                "estimate": hajek(y, w),
                "low": low,
                "high": high,
                "note": _coverage(name, int(member.sum()), zero, int((member & ~covered & handed).sum())),
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


BELOW = "leads below both thresholds"
GROUPS = {"model MQLs": "is_mql", "rule MQLs": "rule_is_mql", BELOW: "below_both"}
OVERLAP = {"both": (True, True), "model only": (True, False), "rules only": (False, True)}


def policy_propensity(is_mql: np.ndarray, rule_is_mql: np.ndarray, handed: np.ndarray) -> np.ndarray:
    """The chance the CRM's policy sends a lead at or above a threshold, read from what it did: the
    leads both thresholds send are sent under any policy; the leads only one threshold sends get 1
    when they were handed over at least half as often as those (the policy follows that
    threshold), else 0 (a policy that never sends them). NaN below both thresholds."""
    out = np.full(len(is_mql), np.nan)
    masks = {g: (is_mql == m) & (rule_is_mql == r) for g, (m, r) in OVERLAP.items()}
    sent = {g: handed[mask].mean() if mask.any() else np.nan for g, mask in masks.items()}
    reference = sent["both"] if not np.isnan(sent["both"]) else np.nanmax([sent["model only"], sent["rules only"], 0])
    for group, mask in masks.items():
        follows = group == "both" or reference == 0 or sent[group] >= reference / 2
        out[mask] = 1.0 if follows else 0.0
    return out


def funnel(scores: pd.DataFrame, placed: pd.Series, by: str = "period") -> pd.DataFrame:
    """The rows `acceptance` takes, from model answers of the score log (`id`, `lead_id`,
    `scored_at`, `is_mql`, `rule_is_mql`, optional `explore` and `propensity`, and the period
    column `by`) and the decisions placed on them (`placed`: accepted 1/0, NaN while open, indexed
    by score id): one row per lead and period, its answer with a decision when one has, else its
    latest; handed over when a decision sits on it or the hold-out sent it; the propensity of a
    lead below both thresholds is the logged hold-out share (0 when exploration was off), of the
    others `policy_propensity`'s."""
    frame = scores.assign(
        is_mql=scores["is_mql"].astype(bool),
        rule_is_mql=scores["rule_is_mql"].astype(bool),
        accepted=scores["id"].map(placed).astype(float),
        decision=scores["id"].isin(placed.index),
    )
    explore = frame["explore"].fillna(False).astype(bool) if "explore" in frame else False
    frame["handed"] = frame["decision"] | explore
    frame = frame.sort_values(["decision", "scored_at", "id"], kind="stable")
    frame = frame.drop_duplicates(["lead_id", by], keep="last").sort_values(["scored_at", "id"], kind="stable")
    mql, rule, handed = (frame[c].to_numpy(dtype=bool) for c in ("is_mql", "rule_is_mql", "handed"))
    logged = frame["propensity"].astype(float).fillna(0.0) if "propensity" in frame else 0.0
    frame["below_both"] = ~mql & ~rule
    frame["propensity"] = np.where(mql | rule, policy_propensity(mql, rule, handed), logged)
    return frame.drop(columns="decision").reset_index(drop=True)
