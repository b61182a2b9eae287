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
from features.arrays import Columns, per_value
from features.fit import normalise, seniority_of
from features.settings import FeatureConfig

UNKNOWN, QUIET, ENGAGED = 0, 1, 2  # a role's states


def columns(config: FeatureConfig) -> list[str]:
    """The buying-group columns of a feature table, in order: one per role, then the completeness."""
    return [*(names.role(role.name) for role in config.buying_group.roles), names.COMPLETENESS]


def _per_distinct(values: np.ndarray, tests: list[Callable[[object], bool]]) -> np.ndarray:
    """(values x tests): whether each test holds for each value, each test run once per distinct
    value (`per_value`'s strategy for one value or a million); a missing value passes none."""
    uniques: list = []

    def intern(value) -> int:
        uniques.append(value)
        return len(uniques) - 1

    ids = per_value(values, intern)
    ids[ids == None] = len(uniques)  # noqa: E711 - elementwise comparison on an object array
    table = np.zeros((len(uniques) + 1, len(tests)), dtype=bool)
    for i, value in enumerate(uniques):
        table[i] = [test(value) for test in tests]
    return table[ids.astype(np.int64)]


@lru_cache(maxsize=64)
def _title_test(patterns: tuple[str, ...]) -> Callable[[object], bool]:
    """Whether a job title matches one of `patterns` (case-insensitive); never, without patterns."""
    if not patterns:
        return lambda _title: False
    pattern = re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)
    return lambda title: pattern.search(str(title)) is not None


def role_members(people: Columns, config: FeatureConfig, seniority: np.ndarray | None = None) -> np.ndarray:
    """(people x roles) whether each person fills each role of the buying group: a seniority the role
    names (any when it names none) and, when the role names departments or titles, a department it
    names or a job title one of its patterns matches. `seniority`: `seniority_of(people)` when known."""
    roles = config.buying_group.roles
    level = seniority_of(people, config) if seniority is None else seniority
    departments = [{d for d in normalise(np.asarray(r.departments, dtype=object)) if d} for r in roles]
    senior = _per_distinct(level, [lambda v, r=r: v in r.seniorities for r in roles])
    in_department = _per_distinct(normalise(people["department"]), [lambda v, d=d: v in d for d in departments])
    titled = _per_distinct(people["job_title"], [_title_test(tuple(r.titles)) for r in roles])
    anyone = np.array([not (r.departments or r.titles) for r in roles])
    any_level = np.array([not r.seniorities for r in roles])
    return (senior | any_level) & (anyone | in_department | titled)


def role_states(row: np.ndarray, contact: np.ndarray, state: np.ndarray, roles: np.ndarray, n_rows: int) -> np.ndarray:
    """(rows x roles) the best state of each role over each row's contacts: `row` and `contact` the
    (row, contact) pairs with rows ascending, `state` each pair's contact state (0 not known yet, 1
    known, 2 engaged), `roles` (contacts x roles) who fills which role (`role_members`)."""
    best = np.zeros((n_rows, roles.shape[1]), dtype=np.int8)
    if len(row):
        starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
        for j in range(roles.shape[1]):
            best[row[starts], j] = np.maximum.reduceat(np.where(roles[contact, j], state, UNKNOWN), starts)
    return best


def describe(states: Columns, config: FeatureConfig) -> tuple[list[list[str]], list[str]]:
    """Per row of `states` (columns `buying_<role>`), the roles not yet known and engaged in words,
    and the next step: the first such role's step, else the group's `complete_step`."""
    group, window = config.buying_group, config.engaged_window_days
    values = np.column_stack([np.asarray(states[names.role(r.name)], dtype=float) for r in group.roles])
    values = np.where(np.isin(values, (QUIET, ENGAGED)), values, UNKNOWN).astype(np.int64)
    combos, back = np.unique(values, axis=0, return_inverse=True)  # at most 3^roles distinct rows
    quiet = f"known but not engaged in the last {window} days"
    words, steps = [], []
    for combo in combos:
        missing = [(role, s) for role, s in zip(group.roles, combo, strict=True) if s != ENGAGED]
        words.append([role.missing if s == UNKNOWN else f"{role.label}: {quiet}" for role, s in missing])
        steps.append(missing[0][0].step if missing else group.complete_step)
    back = back.reshape(-1)
    return [list(words[i]) for i in back], [steps[i] for i in back]
