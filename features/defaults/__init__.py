"""The shipped default configuration files, documented, and loaders for them."""

from __future__ import annotations

from pathlib import Path

from core.config import load_config
from features.rules import RuleConfig
from features.settings import FeatureConfig

HERE = Path(__file__).resolve().parent


def load_features_config(path: Path | str | None = None) -> FeatureConfig:
    """The feature config at `path`, or the shipped defaults."""
    return load_config(path, FeatureConfig)


def load_rules(path: Path | str | None = None) -> RuleConfig:
    """The rule-score config at `path`, or the shipped default points model."""
    return load_config(path or HERE / "rules.yaml", RuleConfig)
