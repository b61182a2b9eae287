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
from features.settings import derived


class Rule(BaseModel):
    """One line of the points model.

    Either `per_unit` (points times the feature's value, e.g. decayed pricing-page visits,
    capped at `max_points`) or a condition (`in`, `at_least`, `at_most`) worth `points` once.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

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
    model_config = ConfigDict(extra="forbid", frozen=True)  # read once, kept (`_plan`)

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


@dataclass(frozen=True)
class _Plan:
    """A points model as arrays, worked out once per config: the features read as numbers (the
    columns of one matrix), the per-unit and the threshold rules as vectors over it, and the rules
    with an `in` list apart. `Rule.apply` defines every rule; the plan computes the same points
    for all rules of a kind in one array operation, which is what one lead's request costs."""

    numeric: tuple[str, ...]
    unit: np.ndarray  # rule positions
    unit_column: np.ndarray
    unit_points: np.ndarray
    unit_max: np.ndarray  # inf: no cap
    bound: np.ndarray
    bound_column: np.ndarray
    bound_points: np.ndarray
    low: np.ndarray  # -inf: no at_least
    high: np.ndarray  # inf: no at_most
    listed: tuple[int, ...]


@derived
def _plan(config: RuleConfig) -> _Plan:
    numeric = tuple(dict.fromkeys(r.feature for r in config.rules if r.in_ is None))
    column = {name: k for k, name in enumerate(numeric)}
    unit = [j for j, r in enumerate(config.rules) if r.per_unit]
    bound = [j for j, r in enumerate(config.rules) if not r.per_unit and r.in_ is None]
    rules = config.rules

    def vector(positions: list[int], read, dtype=float) -> np.ndarray:
        return np.array([read(rules[j]) for j in positions], dtype=dtype)

    return _Plan(
        numeric=numeric,
        unit=np.array(unit, dtype=np.intp),
        unit_column=vector(unit, lambda r: column[r.feature], np.intp),
        unit_points=vector(unit, lambda r: r.points),
        unit_max=vector(unit, lambda r: np.inf if r.max_points is None else r.max_points),
        bound=np.array(bound, dtype=np.intp),
        bound_column=vector(bound, lambda r: column[r.feature], np.intp),
        bound_points=vector(bound, lambda r: r.points),
        low=vector(bound, lambda r: -np.inf if r.at_least is None else r.at_least),
        high=vector(bound, lambda r: np.inf if r.at_most is None else r.at_most),
        listed=tuple(j for j, r in enumerate(rules) if r.in_ is not None),
    )


def _points(features: Mapping, config: RuleConfig, n: int) -> np.ndarray:
    """(rows x rules) the points each rule gives each row, as `Rule.apply` gives them."""
    plan, points = _plan(config), np.zeros((n, len(config.rules)))
    if plan.numeric:
        values = np.empty((n, len(plan.numeric)))
        for k, name in enumerate(plan.numeric):
            values[:, k] = numbers(features[name])
        with np.errstate(invalid="ignore"):
            given = values[:, plan.unit_column]
            earned = np.where(np.isnan(given), 0.0, given * plan.unit_points)
            points[:, plan.unit] = np.minimum(earned, plan.unit_max)
            given = values[:, plan.bound_column]
            hit = ~np.isnan(given) & (given >= plan.low) & (given <= plan.high)
            points[:, plan.bound] = np.where(hit, plan.bound_points, 0.0)
    for j in plan.listed:
        points[:, j] = config.rules[j].apply(features)
    return points


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
    points = _points(features, config, len(segments))
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
