"""The model's MQL threshold per segment, chosen on the calibration period.

`capacity`: sales can take K leads a week; the threshold passes the K x weeks most likely leads
(by default K is the rule MQL volume, so model and rules send sales the same number of leads).
`target_rate`: per segment, the lowest threshold whose model MQLs were accepted at least at the
target rate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.model import ALL
from training.settings import ThresholdConfig


def choose_thresholds(
    probability: np.ndarray,
    y: np.ndarray,
    segments: np.ndarray,
    mql_at: pd.Series,
    rule_mql: np.ndarray,
    config: ThresholdConfig,
) -> dict[str, float]:
    if config.mode == "capacity":
        weeks = max((mql_at.max() - mql_at.min()) / pd.Timedelta(days=7), 1.0)
        per_week = config.capacity_per_week or rule_mql.sum() / weeks
        k = int(np.clip(round(per_week * weeks), 1, len(probability)))
        cut = float(np.sort(probability)[::-1][k - 1])
        return {ALL: cut, **{str(s): cut for s in np.unique(segments.astype(str))}}
    thresholds = {ALL: lowest_meeting(probability, y, config.target_rate)}
    for segment in np.unique(segments.astype(str)):
        rows = segments.astype(str) == segment
        thresholds[segment] = lowest_meeting(probability[rows], y[rows], config.target_rate)
    return thresholds


def lowest_meeting(probability: np.ndarray, y: np.ndarray, rate: float) -> float:
    """The lowest threshold t such that leads with probability >= t were accepted at >= rate."""
    order = np.argsort(-probability)
    precision = np.cumsum(y[order]) / np.arange(1, len(order) + 1)
    meeting = np.flatnonzero(precision >= rate)
    if len(meeting) == 0:
        return 1.0  # no threshold reaches the rate: send nobody
    return float(probability[order][meeting[-1]])
