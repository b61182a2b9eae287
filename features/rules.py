"""The rule-based lead score: the points model marketers run today (Marketo / HubSpot style).

Points per activity (decayed with the feature half-life, capped per rule), points and penalties
per fit attribute, the total clipped to [floor, cap], and an MQL threshold per segment. It is
computed from the same feature rows as the model, it is the service's fallback and it is the
baseline the model must beat. Every rule is data (`configs/rules.yaml`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from features.errors import LeadscoreError


class Rule(BaseModel):
    """One line of the points model.

    Either `per_unit` (points times the feature's value, e.g. decayed pricing-page visits,
    capped at `max_points`) or a condition (`in`, `at_least`, `at_most`) worth `points` once.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str
    feature: str
    points: float
    description: str = Field(description="What the rule means, in words a sales rep understands.")
    per_unit: bool = False
    max_points: float | None = None
    in_: list[str] | None = Field(default=None, alias="in")
    at_least: float | None = None
    at_most: float | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Rule:
        conditions = [self.in_ is not None, self.at_least is not None or self.at_most is not None]
        if self.per_unit == any(conditions) or sum(conditions) > 1:
            raise ValueError(
                f"rule '{self.name}': give either per_unit: true, or one condition (in / at_least / at_most)"
            )
        return self

    def apply(self, features: pd.DataFrame) -> np.ndarray:
        value = features[self.feature]
        if self.per_unit:
            points = pd.to_numeric(value, errors="coerce").fillna(0).to_numpy(dtype=float) * self.points
            return np.clip(points, None, self.max_points) if self.max_points is not None else points
        if self.in_ is not None:
            hit = value.astype(object).isin(self.in_).to_numpy()
        else:
            number = pd.to_numeric(value, errors="coerce").to_numpy(dtype=float)
            with np.errstate(invalid="ignore"):
                hit = ~np.isnan(number)
                if self.at_least is not None:
                    hit = hit & (number >= self.at_least)
                if self.at_most is not None:
                    hit = hit & (number <= self.at_most)
        return np.where(hit, self.points, 0.0)


class RuleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[Rule]
    cap: float = 100.0
    floor: float = 0.0
    segment_feature: str = "segment"
    thresholds: dict[str, float] = Field(
        default={"default": 75.0}, description="MQL threshold per segment; 'default' for any other segment."
    )

    @model_validator(mode="after")
    def _sane(self) -> RuleConfig:
        if "default" not in self.thresholds:
            raise ValueError("thresholds: a 'default' threshold is required")
        names = [r.name for r in self.rules]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"rules: duplicate rule names {dupes}")
        return self


@dataclass(frozen=True)
class RuleResult:
    """Scores, MQL flags and thresholds per row, and the points each rule gave each row."""

    score: pd.Series
    is_mql: pd.Series
    threshold: pd.Series
    points: pd.DataFrame

    def fired(self, row: int) -> list[tuple[str, float]]:
        """The rules that gave row `row` (by position) points, largest first."""
        values = self.points.iloc[row]
        hits = values[values != 0]
        return [(name, float(p)) for name, p in hits.sort_values(key=np.abs, ascending=False).items()]


def rule_score(features: pd.DataFrame, config: RuleConfig) -> RuleResult:
    """Score feature rows with the points model: (score, is_mql, the rules that fired)."""
    needed = {r.feature for r in config.rules} | {config.segment_feature}
    missing = sorted(needed - set(features.columns))
    if missing:
        users = [r.name for r in config.rules if r.feature in missing]
        raise LeadscoreError(
            f"rule score: feature(s) {', '.join(missing)} not in the feature table "
            f"(used by rules: {', '.join(users) or 'segment'})"
        )
    points = pd.DataFrame({rule.name: rule.apply(features) for rule in config.rules}, index=features.index)
    score = points.sum(axis=1).clip(config.floor, config.cap)
    segment = features[config.segment_feature].astype(object)
    default = config.thresholds["default"]
    threshold = segment.map(config.thresholds).astype(float).fillna(default)
    return RuleResult(score=score, is_mql=score >= threshold, threshold=threshold, points=points)
