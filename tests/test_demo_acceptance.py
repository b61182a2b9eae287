"""Acceptance on the demo data `make demo` trains on (100,000 leads, seed 7): slow, run apart
with `make test-slow` (CI runs it)."""

from __future__ import annotations

import pytest

from features.generate import generate, write_dataset

pytestmark = pytest.mark.slow


def test_demo_model_beats_the_rules_and_is_calibrated(tmp_path):
    from features.defaults import load_rules
    from features.settings import FeatureConfig
    from training.settings import TrainingConfig
    from training.train import train

    write_dataset(generate(100_000, seed=7), tmp_path / "demo", "parquet")
    result = train(
        tmp_path / "demo",
        TrainingConfig(),
        FeatureConfig(),
        load_rules(),
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
    )
    m = result.metrics
    assert m["model_roc_auc"] > m["rule_roc_auc"]
    assert m["equal_volume_model_mql_acceptance"] > m["equal_volume_rule_mql_acceptance"]
    assert m["model_ece"] <= 0.03
    assert result.promoted
