"""The model's MQL threshold per segment, chosen on the calibration period.

`capacity`: sales can take K leads a week; the threshold passes the K x weeks most likely leads
(by default K is the rule MQL volume, so model and rules send sales the same number of leads).
`target_rate`: per segment, the lowest threshold whose model MQLs were accepted at least at the
target rate. When the rules send no one to sales on the calibration period and no capacity is
set, copying their volume would send no one either: the threshold falls back to `target_rate`
and `capacity_fallback` says so.

A threshold never splits a tie: leads with one probability are all sent or none is (`levels`),
so the acceptance a threshold is chosen for is the acceptance of exactly the leads at or above
it, and a capacity threshold sends the volume nearest K that whole ties allow."""

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
        cut = nearest_volume(probability, per_week * weeks)
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


def levels(probability: np.ndarray, y: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct probabilities, highest first, with the number of leads at or above each and
    how many of those were accepted (zeros without `y`): the only places a threshold can go, since
    `probability >= t` takes every lead of a tie or none of them."""
    values, inverse = np.unique(np.asarray(probability, dtype=float), return_inverse=True)
    weights = None if y is None else np.asarray(y, dtype=float)
    sent = np.bincount(inverse, minlength=len(values))[::-1].cumsum()
    accepted = np.zeros(len(values)) if weights is None else np.bincount(inverse, weights, len(values))[::-1].cumsum()
    return values[::-1], sent, accepted


def lowest_meeting(probability: np.ndarray, y: np.ndarray, rate: float) -> float:
    """The lowest threshold t such that the leads with probability >= t (every lead of a tie at t
    included) were accepted at >= rate; 1.0 (send nobody) when no threshold reaches the rate."""
    values, sent, accepted = levels(probability, y)
    meeting = np.flatnonzero(accepted >= rate * sent)
    if len(meeting) == 0:
        return 1.0
    return float(values[meeting[-1]])


def nearest_volume(probability: np.ndarray, volume: float) -> float:
    """The threshold whose leads at or above it (a tie taken whole) number closest to `volume`,
    the smaller volume when two are as close; at least the leads at the highest probability."""
    values, sent, _ = levels(probability)
    return float(values[int(np.argmin(np.abs(sent - volume)))])
