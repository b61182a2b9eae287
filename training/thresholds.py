"""The model's MQL threshold per segment, chosen on the calibration period.

`capacity`: sales can take K leads a week; the threshold passes the K x weeks most likely leads
(by default K is the rule MQL volume, so model and rules send sales the same number of leads).
`target_rate`: per segment, the lowest threshold whose model MQLs were accepted at least at the
target rate. When the rules send no one to sales on the calibration period and no capacity is
set, copying their volume would send no one either: the threshold falls back to `target_rate`
and `capacity_fallback` says so.
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
    """The model's MQL threshold per segment (and for all, `ALL`)."""
    if config.mode == "capacity" and capacity_fallback(rule_mql, config) is None:
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


def capacity_fallback(rule_mql: np.ndarray, config: ThresholdConfig) -> str | None:
    """Why the capacity threshold cannot copy the rules' weekly volume (they flag no lead and no
    capacity is set), in words; None when it can, or when the mode is not capacity."""
    if config.mode != "capacity" or config.capacity_per_week is not None or np.asarray(rule_mql).any():
        return None
    return (
        "the rules flag no lead as MQL on the calibration period, so the model's threshold cannot copy "
        "their weekly volume (that would send no one to sales); it is instead the lowest threshold whose "
        f"model MQLs were accepted at {config.target_rate:.0%} or more (thresholds.target_rate). Set "
        "thresholds.capacity_per_week to send sales a fixed number of leads a week"
    )


def lowest_meeting(probability: np.ndarray, y: np.ndarray, rate: float) -> float:
    """The lowest threshold t such that leads with probability >= t were accepted at >= rate."""
    order = np.argsort(-probability)
    precision = np.cumsum(y[order]) / np.arange(1, len(order) + 1)
    meeting = np.flatnonzero(precision >= rate)
    if len(meeting) == 0:
        return 1.0  # no threshold reaches the rate: send nobody
    return float(probability[order][meeting[-1]])
