"""Recalibration by segment: when sales accept twice as many leads in one segment only, one map for
all cannot follow it; a map of its own for that segment can, and the others stay as they were."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.metrics import expected_calibration_error
from training.model import ALL, recalibrated
from training.recalibrate import Decided, recalibrate
from training.settings import RecalibrationConfig

SEGMENTS = ("smb", "mid_market", "enterprise")


def _world(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Calibrated probabilities per segment, and decisions drawn from them, except in enterprise,
    where the odds of acceptance doubled (a policy change in that segment only)."""
    rng = np.random.default_rng(seed)
    segment = rng.choice(SEGMENTS, n, p=[0.45, 0.3, 0.25])
    p = rng.beta(2, 5, n)
    odds = p / (1 - p) * np.where(segment == "enterprise", 2.0, 1.0)
    y = (rng.random(n) < odds / (1 + odds)).astype(int)
    return p, y, segment


def _decided(n: int, seed: int) -> Decided:
    p, y, segment = _world(n, seed)
    when = pd.Series(pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(np.arange(n), unit="min"))
    return Decided(when, p, y, "a test", segment=segment)


def test_one_segment_doubled_is_fixed_and_the_others_stay():
    result = recalibrate(_decided(30_000, seed=1))
    # every segment has enough of both outcomes: the largest is the base the others shift from
    assert set(result.own) == {"mid_market", "enterprise"}
    assert result.promote
    p, y, segment = _world(60_000, seed=2)  # later decisions none of the maps saw
    after = recalibrated(p, (result.map,), segment)
    for name in SEGMENTS:
        rows = segment == name
        before_ece, after_ece = (expected_calibration_error(y[rows], q[rows]) for q in (p, after))
        if name == "enterprise":
            assert before_ece > 0.08 and after_ece < 0.03, (before_ece, after_ece)
        else:  # already calibrated: they stay as they were
            assert after_ece < 0.02 and abs(after_ece - before_ece) < 0.01, (name, before_ece, after_ece)
    fits = {f.segment: f for f in result.segments}  # what the console and the run report
    assert fits["enterprise"].own and fits["enterprise"].ece_after < fits["enterprise"].ece_before


def test_one_map_for_all_cannot_fix_it():
    """The same decisions with the per-segment maps switched off: one map moves every segment."""
    result = recalibrate(_decided(30_000, seed=1), config=RecalibrationConfig(per_segment=False))
    assert not result.own and isinstance(result.map, tuple)
    p, y, segment = _world(60_000, seed=2)
    after = recalibrated(p, (result.map,), segment)
    enterprise, smb = segment == "enterprise", segment == "smb"
    assert expected_calibration_error(y[enterprise], after[enterprise]) > 0.04
    assert expected_calibration_error(y[smb], after[smb]) > expected_calibration_error(y[smb], p[smb])


def test_a_segment_with_too_few_decisions_shares_the_map():
    """200 decided and 30 of each outcome by default: a segment below either shares the map."""
    p, y, segment = _world(3_000, seed=3)
    segment = np.where(np.arange(len(p)) < 150, "unknown", segment)  # 150 rows: too few for a map
    when = pd.Series(pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(np.arange(len(p)), unit="min"))
    result = recalibrate(Decided(when, p, y, "a test", segment=segment))
    assert "unknown" not in result.own and set(result.own) <= set(SEGMENTS)
    probability = np.array([0.3, 0.3])
    shared = recalibrated(probability, ((result.slope, result.intercept),))
    assert recalibrated(probability, (result.map,), ["unknown", "nowhere"]) == pytest.approx(shared)
    assert ALL in result.map
