"""Leakage audit of a flat CRM export: which columns know the outcome?

Three signals per column, each computed against the label:

- strength: the ROC AUC of the column alone (out-of-fold target encoding, so a column with many
  values cannot score by memorising; numbers and times are binned, a value most rows share in a bin
  of its own so its rare neighbours are not lost in it). A status that sales sets after the decision
  predicts it far better than anything known at hand-over.
- missingness: whether emptiness depends on the label, by Fisher's exact test on filled x label
  (Bonferroni over the columns audited), however few rows are filled. A column filled (or left empty)
  only for one outcome is the strongest leak there is; a gap of >= 25 points in acceptance between
  empty and filled rows is suspect.
- one-outcome values: the share of rows whose value occurs with one outcome only (acceptance <= 2% or
  >= 98%), counting a value only when an exact binomial test against the base rate says it is no
  chance (Benjamini-Hochberg over all values of the column): at a 10% base rate a date with ten leads
  and no win is chance, "Closed by X" on 300 wins is not.

Verdict: `leak` (strength >= 0.85, filled or empty for one outcome only, or one-outcome share >= 0.10),
`suspect` (strength >= 0.75, missingness gap >= 0.25, or one-outcome share >= 0.03), else `ok`.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pandas as pd
from scipy.stats import binom, false_discovery_control, fisher_exact
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import TargetEncoder


@dataclass(frozen=True)
class Thresholds:
    leak_auc: float = 0.85
    suspect_auc: float = 0.75
    missing_gap: float = 0.25
    leak_pure: float = 0.10
    suspect_pure: float = 0.03
    pure: float = 0.02  # a value is "one outcome" when its acceptance is within this of 0 or 1
    alpha: float = 0.01  # significance of the exact tests, after correction


MISSING = "(missing)"


def _as_number(values: pd.Series) -> tuple[pd.Series | None, bool]:
    """The column as numbers (times as seconds since 1970), or None when it is text; and whether
    it holds times."""
    given = values.notna().sum()
    number = pd.to_numeric(values, errors="coerce")
    if given and number.notna().sum() >= 0.95 * given:
        return number, False
    if values.dtype == object or pd.api.types.is_string_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        when = pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
        if given and when.notna().sum() >= 0.95 * given:
            seconds = (when - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
            return pd.Series(seconds, index=values.index), True
    return None, False


def _edge_names(edges: np.ndarray, is_time: bool) -> list[str]:
    """Names of the bins between `edges`: numbers as they are, times as dates (with the minute
    when two edges fall on one day)."""
    if not is_time:
        return [f"({a:g}, {b:g}]" for a, b in pairwise(edges)]
    when = pd.to_datetime(edges, unit="s", utc=True)
    days = when.strftime("%Y-%m-%d")
    shown = days if len(set(days)) == len(days) else when.strftime("%Y-%m-%d %H:%M")
    return [f"{a} to {b}" for a, b in pairwise(shown)]


def _categories(values: pd.Series, bins: int = 20) -> pd.Series:
    """A column as categories: numbers and times in quantile bins (times named by their dates), a
    value shared by many rows in a bin of its own, text as is, missing as its own value."""
    number, is_time = _as_number(values)
    if number is None or values.nunique() <= bins:
        return values.astype(object).where(values.notna(), MISSING).astype(str)
    codes = pd.Series(MISSING, index=values.index, dtype=object)
    mode = number.mode().iloc[0]
    alone = (number == mode) & ((number == mode).sum() >= number.notna().sum() / bins)
    codes[alone] = f"= {pd.Timestamp(mode, unit='s', tz='UTC'):%Y-%m-%d %H:%M}" if is_time else f"= {mode:g}"
    rest = number.notna() & ~alone
    if rest.any():
        cut, edges = pd.qcut(number[rest], bins, duplicates="drop", retbins=True)
        codes[rest] = np.asarray(_edge_names(edges, is_time), dtype=object)[cut.cat.codes.to_numpy()]
    return codes


def _strength(codes: pd.Series, y: np.ndarray, random_state: int) -> float:
    if codes.nunique() < 2:
        return 0.5
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=random_state)
    encoder = TargetEncoder(target_type="binary", cv=folds)
    encoded = encoder.fit_transform(codes.to_frame(), y)[:, 0]
    auc = roc_auc_score(y, encoded)
    return max(auc, 1 - auc)


def _missingness(missing: np.ndarray, y: np.ndarray, limits: Thresholds, alpha: float) -> tuple[float, str]:
    """The acceptance gap between empty and filled rows (nan when not significant), and 'empty' or
    'filled' when the rows on that side all have one outcome."""
    if missing.all() or not missing.any():
        return np.nan, ""
    table = [
        [int((y & missing).sum()), int((~y & missing).sum())],
        [int((y & ~missing).sum()), int((~y & ~missing).sum())],
    ]
    if fisher_exact(table).pvalue >= alpha:
        return np.nan, ""
    for side, rows in (("filled", ~missing), ("empty", missing)):
        rate = y[rows].mean()
        if rate <= limits.pure or rate >= 1 - limits.pure:
            return abs(y[missing].mean() - y[~missing].mean()), side
    return abs(y[missing].mean() - y[~missing].mean()), ""


def _one_outcome_values(codes: pd.Series, y: np.ndarray, limits: Thresholds) -> pd.DataFrame:
    """The values seen with one outcome only that chance does not explain: acceptance within
    `limits.pure` of 0 or 1 and an exact binomial test against the base rate, corrected over all
    values of the column (Benjamini-Hochberg)."""
    stats = pd.Series(y.astype(int)).groupby(codes.to_numpy()).agg(["sum", "size"])
    stats = stats.drop(index=MISSING, errors="ignore")
    if stats.empty:
        return stats
    base = y.mean()
    high = binom.sf(stats["sum"] - 1, stats["size"], base)  # P(at least this many accepted)
    low = binom.cdf(stats["sum"], stats["size"], base)  # P(at most this many accepted)
    p = false_discovery_control(np.minimum(1.0, 2 * np.minimum(high, low)))
    rate = stats["sum"] / stats["size"]
    return stats[((rate <= limits.pure) | (rate >= 1 - limits.pure)) & (p < limits.alpha)]


def _verdict(row: dict, limits: Thresholds) -> tuple[str, str]:
    """The verdict on one column's signals, and why."""
    why = []
    if row["auc"] >= limits.suspect_auc:
        why.append(f"alone it predicts the label with AUC {row['auc']:.2f}")
    if row["one_side"]:
        why.append(f"{row['one_side']} only for one outcome (exact test)")
    elif not np.isnan(row["missing_gap"]) and row["missing_gap"] >= limits.missing_gap:
        why.append(f"acceptance differs by {row['missing_gap']:.0%} between empty and filled rows")
    if row["one_outcome_share"] >= limits.suspect_pure:
        why.append(f"{row['one_outcome_share']:.0%} of rows hold values seen with one outcome only ({row['examples']})")
    leak = row["auc"] >= limits.leak_auc or row["one_side"] or row["one_outcome_share"] >= limits.leak_pure
    return ("leak" if leak else "suspect" if why else "ok"), "; ".join(why)


def audit(
    frame: pd.DataFrame, label: np.ndarray, thresholds: Thresholds | None = None, random_state: int = 0
) -> pd.DataFrame:
    """One row per column of `frame`: the three signals, a verdict and why."""
    limits = thresholds or Thresholds()
    y = np.asarray(label, dtype=bool)
    alpha = limits.alpha / max(1, frame.shape[1])
    rows = []
    for column in frame.columns:
        codes = _categories(frame[column])
        missing = (codes == MISSING).to_numpy()
        gap, one_side = _missingness(missing, y, limits, alpha)
        pure = _one_outcome_values(codes, y, limits)
        row = {
            "column": column,
            "auc": _strength(codes, y.astype(int), random_state),
            "missing": missing.mean(),
            "missing_gap": gap,
            "one_side": one_side,
            "one_outcome_share": pure["size"].sum() / len(y),
            "examples": ", ".join(repr(v) for v in pure.sort_values("size", ascending=False).index[:2]),
        }
        row["verdict"], row["why"] = _verdict(row, limits)
        rows.append(row)
    order = {"leak": 0, "suspect": 1, "ok": 2}
    result = pd.DataFrame(rows).drop(columns="examples")
    return result.sort_values(["verdict", "auc"], key=lambda s: s.map(order) if s.name == "verdict" else -s)


# words CRMs and forms use for "not given"; a value in this list shared by two columns is proposed,
# any other value only when it fills three or more columns that share no other value
PLACEHOLDER_WORDS = frozenset(
    {"select", "please select", "--none--", "none", "(none)", "null", "nil", "n/a", "na", "#n/a", "nan", "-", "--",
     "?", "unknown", "not provided", "not specified", "not available", "(not set)", "undefined", "missing", "blank"}
)  # fmt: skip


@dataclass(frozen=True)
class Placeholder:
    """A value that fills several columns the way an untouched form field does."""

    value: str
    columns: tuple[str, ...]
    share: float  # of the filled cells of those columns


def placeholders(frame: pd.DataFrame, min_share: float = 0.01) -> list[Placeholder]:
    """Text values that look like 'not given' across columns: each frequent (>= `min_share` of the
    rows, at least 5) in every column it is counted for, beside other frequent values there (a
    constant column says nothing), and either a word for 'not given' in two or more columns or
    any text in three or more columns that share no other frequent value (unlike Yes / No)."""
    floor = max(5, min_share * len(frame))
    frequent: dict[str, set[str]] = {}
    for column in frame.columns:
        counts = frame[column].dropna().astype(str).str.strip().value_counts()
        common = set(counts.index[counts >= floor])
        if len(common) >= 2 and pd.to_numeric(frame[column], errors="coerce").isna().mean() > 0.5:
            frequent[column] = common
    found = []
    for value in sorted(set().union(*frequent.values()) if frequent else set()):
        if not pd.isna(pd.to_numeric(value, errors="coerce")):
            continue
        columns = [c for c, common in frequent.items() if value in common]
        shared = set.intersection(*(frequent[c] - {value} for c in columns)) if len(columns) > 1 else set()
        if (value.lower() in PLACEHOLDER_WORDS and len(columns) >= 2) or (len(columns) >= 3 and not shared):
            cells = frame[columns].astype(str).apply(lambda s: s.str.strip())
            share = float((cells == value).to_numpy().sum() / max(1, frame[columns].notna().to_numpy().sum()))
            found.append(Placeholder(value, tuple(columns), share))
    return sorted(found, key=lambda p: -len(p.columns))
