"""What a training run warns about, in words for the console and the run: a random split, a rule
score that is the same for every lead, a threshold that could not follow the rules' volume."""

from __future__ import annotations

import numpy as np

RANDOM_SPLIT = (
    "no hand-over times (a flat snapshot): train, calibration and test hand-overs were drawn at random "
    "(by account, stratified by outcome), not by time. The test figures say how well the model ranks leads "
    "like those it learnt from, not how it will do on next month's leads: drift, seasonality and new "
    "campaigns go untested, so expect lower figures in use. Map hand-over times (times.mql_at) for a "
    "time-ordered test."
)


def constant_rules(rule_scores: np.ndarray) -> str | None:
    """A note when the rule score is one value for every hand-over (no rule fires on this data)."""
    scores = np.asarray(rule_scores, dtype=float)
    if len(scores) == 0 or np.ptp(scores) > 0:
        return None
    return (
        f"the rule score is {scores[0]:g} for every hand-over: no rule of the rules file fires on this data "
        "(its rules name features this data does not fill). Its figures (ROC AUC 0.5) compare the model "
        "with nothing, and the rules cannot stand in for the model. Write rules for this data, starting "
        "from `leadscore rules init --mapping MAPPING.yaml --out rules.yaml`, and train with --rules"
    )


def short_calendar(calendar: list[str], span_days: float) -> str | None:
    """A note when the month of the hand-over is a feature but the history covers less than a
    year and a month: the test period's months were then never seen in training."""
    if "month" not in calendar or span_days >= 395:
        return None
    return (
        f"handover_month is a feature but the history covers {span_days:.0f} days: the months of the test period "
        "were never seen in training, and the month mostly stands for the drift of those days. Drop 'month' "
        "from the calendar features until the history spans more than a year"
    )


def training_notes(
    split_kind: str, rule_scores: np.ndarray, threshold_fallback: str | None, calendar_note: str | None = None
) -> list[str]:
    """Every note that applies to a run, most important first."""
    notes = [
        RANDOM_SPLIT if split_kind == "random" else None,
        constant_rules(rule_scores),
        threshold_fallback,
        calendar_note,
    ]
    return [note for note in notes if note]
