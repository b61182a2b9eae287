"""Fit and intent side by side, the probability's interval and the answer's confidence.

Fit is who the lead is (the feature spec's `fit` group); intent is what the lead and the other
contacts of its account did (the `engagement` and `account` groups). When the model answers, each
part's level comes from its share of the model's log-odds (LightGBM's SHAP contributions, the same
ones as the reasons); when the rules answer, from its points in the rule score (each rule's part is
its feature's group). The two levels name a quadrant, as HubSpot (Fit / Engagement) and MadKudu
(Customer Fit / Likelihood to Buy) show it: "strong fit, low intent: nurture".
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.schema import LEVELS, Interval, Part

FIT_WORDS = {"high": "strong fit", "medium": "moderate fit", "low": "weak fit"}
INTENT_WORDS = {"high": "high intent", "medium": "some intent", "low": "low intent"}
QUADRANTS = {  # "fit/intent" -> what to do
    "high/high": "route to sales now",
    "high/medium": "sales outreach to warm up",
    "high/low": "nurture",
    "medium/high": "qualify, then route to sales",
    "medium/medium": "nurture",
    "medium/low": "nurture",
    "low/high": "check the fit before sales spends time",
    "low/medium": "low touch (self-serve, marketing)",
    "low/low": "recycle",
}
NO_CONTRIBUTIONS = "left out with reasons: false (the model's contributions were not computed)"


class Cutoffs(BaseModel):
    """A value at or above `high` is high, at or below `low` is low, anything between medium."""

    model_config = ConfigDict(extra="forbid")
    high: float
    low: float

    @model_validator(mode="after")
    def _ordered(self) -> Cutoffs:
        if self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        return self

    def level(self, value: float) -> str:
        return "high" if value >= self.high else "low" if value <= self.low else "medium"


class Levels(BaseModel):
    """Where fit and intent become high, medium or low."""

    model_config = ConfigDict(extra="forbid")
    log_odds: Cutoffs = Field(
        default=Cutoffs(high=0.3, low=-0.3),
        description="Model answers, both parts: the part's log-odds (+0.3 raises the odds by a third)",
    )
    fit_points: Cutoffs = Field(
        default=Cutoffs(high=25, low=0),
        description="Rules answers: fit points (senior title + target industry = 25; nothing or penalties <= 0)",
    )
    intent_points: Cutoffs = Field(
        default=Cutoffs(high=40, low=10),
        description="Rules answers: activity points (a recent demo request = 40; a few page views < 10)",
    )


class PartsConfig(BaseModel):
    """The serving config's settings for fit, intent, the quadrant, the interval and the trend."""

    model_config = ConfigDict(extra="forbid")
    levels: Levels = Levels()
    quadrants: dict[str, str] = Field(
        default=QUADRANTS, description="What to do in each 'fit/intent' quadrant (all nine: high/low, ...)"
    )
    max_interval_width: float = Field(
        default=0.1, gt=0, le=1, description="An interval wider than this (high - low) says confidence: low"
    )
    steady_points: float = Field(
        default=5, gt=0, description="A score change smaller than this, either way, is a steady trend"
    )

    @model_validator(mode="after")
    def _every_quadrant(self) -> PartsConfig:
        wanted = [f"{fit}/{intent}" for fit in LEVELS for intent in LEVELS]
        missing, unknown = [k for k in wanted if k not in self.quadrants], sorted(set(self.quadrants) - set(wanted))
        if missing or unknown:
            raise ValueError(f"quadrants: give each of {', '.join(wanted)} (missing: {missing}, unknown: {unknown})")
        return self


def model_parts(log_odds: np.ndarray | None, points: np.ndarray, config: PartsConfig) -> tuple[Part, Part]:
    """Fit and intent of a model answer from its (fit, intent) log-odds (None: not computed) and
    (fit, intent) rule points."""
    cut = config.levels.log_odds
    if log_odds is None:
        return tuple(Part(level=None, log_odds=None, points=_round(p), reason=NO_CONTRIBUTIONS) for p in points)
    return tuple(
        Part(level=cut.level(x), log_odds=_round(x, 4), points=_round(p)) for x, p in zip(log_odds, points, strict=True)
    )


def rule_parts(points: np.ndarray, config: PartsConfig, intent_unknown: str | None = None) -> tuple[Part, Part]:
    """Fit and intent of a rules answer from its (fit, intent) points; the intent's level is
    unknown (null, with why) when the lead's activity was not sent."""
    fit = Part(level=config.levels.fit_points.level(points[0]), log_odds=None, points=_round(points[0]))
    if intent_unknown:
        return fit, Part(level=None, log_odds=None, points=_round(points[1]), reason=intent_unknown)
    return fit, Part(level=config.levels.intent_points.level(points[1]), log_odds=None, points=_round(points[1]))


def quadrant(fit: Part, intent: Part, config: PartsConfig) -> str | None:
    """ "strong fit, low intent: nurture"; None when a level is not known."""
    if fit.level is None or intent.level is None:
        return None
    action = config.quadrants[f"{fit.level}/{intent.level}"]
    return f"{FIT_WORDS[fit.level]}, {INTENT_WORDS[intent.level]}: {action}"


def interval(low: float | None, high: float | None, config: PartsConfig, why: str = "") -> tuple[Interval, str | None]:
    """The answer's interval and confidence: high unless wider than `max_interval_width`; with no
    bounds, an interval of nulls saying `why` and no confidence."""
    if low is None or high is None:
        return Interval(low=None, high=None, width=None, reason=why), None
    width = high - low
    confidence = "low" if width > config.max_interval_width else "high"
    return Interval(low=round(low, 6), high=round(high, 6), width=round(width, 6)), confidence


def _round(value: float, digits: int = 2) -> float:
    return round(float(value), digits)
