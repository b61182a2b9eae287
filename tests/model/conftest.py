"""Fixtures of the model-behaviour tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def scorer(trained):
    """The service's scorer around the session's trained model, with the default rules and configs."""
    from features.contract import ContractConfig
    from features.defaults import load_rules
    from features.settings import FeatureConfig
    from serving.scorer import Scorer

    return Scorer(trained["model"], load_rules(), FeatureConfig(), ContractConfig())
