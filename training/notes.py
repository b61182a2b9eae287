"""What a training run warns about, in words for the console and the run: a random split, a rule
score that is the same for every lead, a threshold that could not follow the rules' volume, a
calendar month on too short a history, early stopping that kept almost no boosting round, and a
model that gives nearly every lead the same probability (which the gate, `training/gate.py`, will
not promote)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

FEW_ROUNDS = 5  # boosting rounds kept by early stopping at or below which the run says why it may be
FLAT_SPREAD = 0.01  # the middle 80% of the test period's probabilities within this: near-constant

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


def few_rounds(rounds: int, max_rounds: int, outcomes: Mapping[str, np.ndarray]) -> str | None:
    """A note when early stopping kept at most `FEW_ROUNDS` boosting rounds: what it means and what
    to try, with the acceptance of each period (`outcomes`: the labels of train, calibrate, test)."""
    if rounds > FEW_ROUNDS or rounds >= max_rounds:
        return None
    rates = ", ".join(f"{name} {np.mean(y):.1%}" for name, y in outcomes.items())
    return (
        f"early stopping kept {rounds} boosting round(s) of up to {max_rounds}: what the model learnt on the "
        "training period stopped lowering the log-loss on the calibration period almost at once, so it knows "
        "little more than the average. Usually what sales accept changed between the periods (acceptance by "
        f"period: {rates}; the run's tables/reasons_by_month.csv shows how the reasons moved), or a feature tells "
        "the periods apart rather than "
        "the leads (a calendar month, a date, a counter that only grows with time), which a time split "
        "punishes. Try: drop such features (calendar: month on less than a year and a month), train on a "
        "history long enough to hold the change on both sides, or wait for more decisions after it"
    )


def near_constant(probability: np.ndarray) -> str | None:
    """A note when the model gives nearly every test hand-over the same probability (the middle
    80% of them within `FLAT_SPREAD`): it cannot rank them, and its MQLs are nearly all or none."""
    p = np.asarray(probability, dtype=float)
    if len(p) == 0:
        return None
    low, high = np.quantile(p, [0.1, 0.9])
    if high - low > FLAT_SPREAD:
        return None
    values, counts = np.unique(p, return_counts=True)
    common = counts.argmax()
    return (
        f"the model is near-constant: 80% of the test hand-overs get a probability between {low:.1%} and "
        f"{high:.1%} ({counts[common] / len(p):.0%} exactly {values[common]:.1%}), so it cannot tell leads apart "
        "and its MQLs are close to all or none. It learnt nothing that holds on later leads: see the other notes "
        "(few boosting rounds, drift between periods), check with `leadscore audit` that the columns carry "
        "signal, and keep the rules (or the current champion) serving until a model ranks"
    )


def training_notes(split_kind: str, rule_scores: np.ndarray, *others: str | None) -> list[str]:
    """Every note that applies to a run, most important first: a random split, rules that never
    fire, then `others` (each a note or None) in their order."""
    notes = [RANDOM_SPLIT if split_kind == "random" else None, constant_rules(rule_scores), *others]
    return [note for note in notes if note]
