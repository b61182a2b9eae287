"""Time-ordered split with no lead and no account in two parts.

Rows are cut by hand-over time into train (oldest), calibrate and test (newest). An account
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

from features.errors import LeadscoreError
from training.settings import SplitConfig

PARTS = ("train", "calibrate", "test")


@dataclass(frozen=True)
class Split:
    part: np.ndarray  # "train" / "calibrate" / "test" / "" (dropped), one per row
    calibrate_from: pd.Timestamp
    test_from: pd.Timestamp

    def mask(self, name: str) -> np.ndarray:
        return self.part == name

    def sizes(self) -> dict[str, int]:
        return {name: int(self.mask(name).sum()) for name in (*PARTS, "")}


def time_split(mql_at: pd.Series, account_id: pd.Series, config: SplitConfig) -> Split:
    """Assign each row to train, calibrate, test, or drop it (an account seen in a newer part)."""
    if len(mql_at) < 50:
        raise LeadscoreError(f"training: only {len(mql_at)} labelled hand-overs; at least 50 are needed")
    test_from = mql_at.quantile(1 - config.test_fraction)
    calibrate_from = mql_at.quantile(1 - config.test_fraction - config.calibrate_fraction)
    index = np.where(mql_at >= test_from, 2, np.where(mql_at >= calibrate_from, 1, 0))
    first = pd.Series(index).groupby(account_id.to_numpy()).transform("min").to_numpy()
    part = np.where(index == first, np.asarray(PARTS, dtype=object)[index], "")
    return Split(part=part.astype(object), calibrate_from=calibrate_from, test_from=test_from)
