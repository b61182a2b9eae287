"""The buying group: which of its roles each person fills, and an account's missing roles in words.

A role's state at an account as of a time (`buying_<role>`, computed by
`features.engagement.AccountActivity`) is 0 when no one with the role is known yet, 1 when someone
is known but did nothing in the last `engaged_window_days`, and 2 when someone known is engaged
(exactly as `account_engaged_contacts_<N>d` counts); `buying_completeness` is the share of roles in
state 2. These columns are context for sales and marketing, not model features.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

import numpy as np

from features import names
from features.arrays import Columns, is_missing, per_row
from features.fit import normal, normalise, seniority_of
from features.settings import FeatureConfig, derived

UNKNOWN, QUIET, ENGAGED = 0, 1, 2  # a role's states


def columns(config: FeatureConfig) -> list[str]:
    """The buying-group columns of a feature table, in order: one per role, then the completeness."""
    return [*(names.role(role.name) for role in config.buying_group.roles), names.COMPLETENESS]


@lru_cache(maxsize=64)
def _title_test(patterns: tuple[str, ...]) -> Callable[[object], bool]:
    """Whether a job title matches one of `patterns` (case-insensitive); never, without patterns."""
    if not patterns:
        return lambda _title: False
    pattern = re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)
    return lambda title: pattern.search(str(title)) is not None


@derived
def _fills(config: FeatureConfig) -> Callable[[object, object, object], int]:
    """Which roles of the config's buying group a person (seniority level, department, job title)
    fills, as bits (bit j: role j), worked out once per distinct person."""
    tests = [
        (
            frozenset(r.seniorities),
            frozenset(d for d in normalise(np.asarray(r.departments, dtype=object)) if d),
            _title_test(tuple(r.titles)),
            not (r.departments or r.titles),
        )
        for r in config.buying_group.roles
    ]

    @lru_cache(maxsize=1 << 16)
    def fills(level, department, title) -> int:
        department = None if is_missing(department) else normal(department)
        bits = 0
        for j, (seniorities, departments, titled, anyone) in enumerate(tests):
            if seniorities and level not in seniorities:
                continue
            if anyone or department in departments or (not is_missing(title) and titled(title)):
                bits |= 1 << j
        return bits

    return fills


def role_members(people: Columns, config: FeatureConfig, seniority: np.ndarray | None = None) -> np.ndarray:
    """(people x roles) whether each person fills each role of the buying group: a seniority the role
    names (any when it names none) and, when the role names departments or titles, a department it
    names or a job title one of its patterns matches. `seniority`: `seniority_of(people)` when known."""
    level = seniority_of(people, config) if seniority is None else seniority
    bits = per_row([level, people["department"], people["job_title"]], _fills(config)).astype(np.int64)
    return ((bits[:, None] >> np.arange(len(config.buying_group.roles))) & 1).astype(bool)


def describe(states: Columns, config: FeatureConfig) -> tuple[list[list[str]], list[str]]:
    """Per row of `states` (columns `buying_<role>`), the roles not yet known and engaged in words,
    and the next step: the first such role's step, else the group's `complete_step`."""
    group, window = config.buying_group, config.engaged_window_days
    values = np.column_stack([np.asarray(states[names.role(r.name)], dtype=float) for r in group.roles])
    values = np.where((values == QUIET) | (values == ENGAGED), values, UNKNOWN).astype(np.int64)
    quiet = f"known but not engaged in the last {window} days"
    said: dict[tuple, tuple[list[str], str]] = {}  # at most 3^roles distinct rows, each worded once
    words, steps = [], []
    for combo in map(tuple, values.tolist()):
        known = said.get(combo)
        if known is None:
            missing = [(role, s) for role, s in zip(group.roles, combo, strict=True) if s != ENGAGED]
            text = [role.missing if s == UNKNOWN else f"{role.label}: {quiet}" for role, s in missing]
            known = said[combo] = (text, missing[0][0].step if missing else group.complete_step)
        words.append(list(known[0]))
        steps.append(known[1])
    return words, steps
