"""The rule-based lead score: the points model marketers run today (Marketo / HubSpot style).

Points per activity (decayed with the feature half-life, capped per rule), points and penalties
per fit attribute, the total clipped to [floor, cap], and an MQL threshold per segment. It is
computed from the same feature rows as the model, it is the service's fallback and it is the
baseline the model must beat. Every rule is data (`configs/rules.yaml`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.errors import LeadscoreError


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

    def apply(self, features: Mapping) -> np.ndarray:
        """Points for each row of `features` (a DataFrame or a dict of column arrays)."""
        if self.per_unit:
            value = numbers(features[self.feature])
            points = np.where(np.isnan(value), 0.0, value * self.points)
            return np.minimum(points, self.max_points) if self.max_points is not None else points
        if self.in_ is not None:
            wanted = set(self.in_)
            values = np.asarray(features[self.feature], dtype=object)
            hit = np.fromiter((v in wanted for v in values), dtype=bool, count=len(values))
        else:
            number = numbers(features[self.feature])
            with np.errstate(invalid="ignore"):
                hit = ~np.isnan(number)
                if self.at_least is not None:
                    hit = hit & (number >= self.at_least)
                if self.at_most is not None:
                    hit = hit & (number <= self.at_most)
        return np.where(hit, self.points, 0.0)


def numbers(values) -> np.ndarray:
    """A column as floats; anything that is not a number (None, text) as NaN."""
    values = np.asarray(values)
    if values.dtype.kind in "biuf":
        return values.astype(float, copy=False)
    return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=float)


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
    """Scores, MQL flags and thresholds per row, and the points each rule gave each row
    (`points[:, j]` for rule `names[j]`)."""

    score: np.ndarray
    is_mql: np.ndarray
    threshold: np.ndarray
    points: np.ndarray
    names: tuple[str, ...]

    def fired(self, row: int) -> list[tuple[str, float]]:
        """The rules that gave row `row` (by position) points, largest first."""
        values = self.points[row]
        hits = [j for j in np.argsort(-np.abs(values), kind="stable") if values[j] != 0]
        return [(self.names[j], float(values[j])) for j in hits]


def rule_score(features: Mapping, config: RuleConfig) -> RuleResult:
    """Score feature rows (a DataFrame or a dict of column arrays) with the points model."""
    needed = {r.feature for r in config.rules} | {config.segment_feature}
    missing = sorted(needed - set(features.keys()))
    if missing:
        users = [r.name for r in config.rules if r.feature in missing]
        raise LeadscoreError(
            f"rule score: feature(s) {', '.join(missing)} not in the feature table "
            f"(used by rules: {', '.join(users) or 'segment'})"
        )
    segments = np.asarray(features[config.segment_feature], dtype=object)
    points = np.zeros((len(segments), len(config.rules)))
    for j, rule in enumerate(config.rules):
        points[:, j] = rule.apply(features)
    score = np.clip(points.sum(axis=1), config.floor, config.cap)
    default = config.thresholds["default"]
    threshold = np.array([config.thresholds.get(s, default) for s in segments], dtype=float)
    return RuleResult(
        score=score,
        is_mql=score >= threshold,
        threshold=threshold,
        points=points,
        names=tuple(r.name for r in config.rules),
    )
