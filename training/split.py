"""Time-ordered split with no lead and no account in two parts.

Rows are cut by hand-over time into train (oldest), calibrate and test (newest); history without
hand-over times (a flat snapshot, every row at the export time) is split at random by account
instead, stratified by outcome, and the run records which split it got. An account
(and so each of its leads) may sit in one part only: the oldest part it appears in, and its rows
in newer parts are dropped. Every training row is older than every calibration and test row, the
model is never tested on an account it trained on, and calibration and test see the same kind of
population (accounts new in their period). Keeping accounts in their *newest* part instead would
strip the long-lived, busy accounts out of training and calibration and bias both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.errors import LeadscoreError
from training.settings import SplitConfig

PARTS = ("train", "calibrate", "test")


@dataclass(frozen=True)
class Split:
    part: np.ndarray  # "train" / "calibrate" / "test" / "" (dropped), one per row
    calibrate_from: pd.Timestamp
    test_from: pd.Timestamp
    kind: str = "time"  # "time", or "random" for a flat export without hand-over times

    def mask(self, name: str) -> np.ndarray:
        return self.part == name

    def sizes(self) -> dict[str, int]:
        return {name: int(self.mask(name).sum()) for name in (*PARTS, "")}


def random_split(mql_at: pd.Series, account_id: pd.Series, y: np.ndarray | None, config: SplitConfig) -> Split:
    """For history without hand-over times (a flat snapshot): accounts drawn at random into the
    three parts, stratified by outcome, so no account is in two parts."""
    from sklearn.model_selection import StratifiedGroupKFold

    labels = np.zeros(len(mql_at), dtype=int) if y is None else np.asarray(y)
    folds = max(2, round(1 / config.test_fraction))
    part = np.full(len(mql_at), "train", dtype=object)
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=config.random_state)
    rest, test = next(splitter.split(np.zeros(len(labels)), labels, account_id.to_numpy()))
    part[test] = "test"
    share = config.calibrate_fraction / (1 - config.test_fraction)
    inner = StratifiedGroupKFold(n_splits=max(2, round(1 / share)), shuffle=True, random_state=config.random_state)
    _, calibrate = next(inner.split(np.zeros(len(rest)), labels[rest], account_id.to_numpy()[rest]))
    part[rest[calibrate]] = "calibrate"
    when = mql_at.min()
    return Split(part=part, calibrate_from=when, test_from=when, kind="random")


def time_split(mql_at: pd.Series, account_id: pd.Series, config: SplitConfig, y: np.ndarray | None = None) -> Split:
    """Assign each row to train, calibrate, test, or drop it (an account seen in a newer part)."""
    if len(mql_at) < 50:
        raise LeadscoreError(f"training: only {len(mql_at)} labelled hand-overs; at least 50 are needed")
    if mql_at.nunique() < 3:
        return random_split(mql_at, account_id, y, config)
    test_from = mql_at.quantile(1 - config.test_fraction)
    calibrate_from = mql_at.quantile(1 - config.test_fraction - config.calibrate_fraction)
    index = np.where(mql_at >= test_from, 2, np.where(mql_at >= calibrate_from, 1, 0))
    first = pd.Series(index).groupby(account_id.to_numpy()).transform("min").to_numpy()
    part = np.where(index == first, np.asarray(PARTS, dtype=object)[index], "")
    return Split(part=part.astype(object), calibrate_from=calibrate_from, test_from=test_from)
