"""Who counts for an account at a time, and how each member is scored (`training/accounts.py`).

An account's *members* at a time are its people known then (created at or before it), the lead
included. A member who is one of the rows scored at that time keeps the row's answer; any other
member is scored as a lead as its account's contact is known (`contact_view`), with the same
feature code. Everything here is numpy on integer keys: as cheap for one request as for a batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.schema import ACCOUNT_LEVEL
from features.arrays import SMALL, Columns, codes, distinct
from features.build import PEOPLE, feature_columns, row_columns
from features.rules import RuleConfig, rule_score
from training.model import LeadModel

SMALL_BATCH = 32  # members scored on one thread up to this many (as the service scores a small request)


@dataclass(frozen=True)
class Scored:
    """The rows' own answers that the account reuses for members who are rows at the same time."""

    probability: np.ndarray | None  # the model's calibrated probability per row; None: no model answer
    rule_mql: np.ndarray
    rule_score: np.ndarray


@dataclass(frozen=True)
class AccountRows:
    """What account answers are read from: the rows answered (their lead columns, or their feature
    rows when `people` is None), their times (UTC microseconds), feature columns and own answers,
    every known lead (`people`, with the lead columns; None: the rows alone) and the events."""

    rows: Columns
    at: np.ndarray
    features: Columns
    scored: Scored
    people: Columns | None = None
    events: Columns | None = None


@dataclass(frozen=True)
class Members:
    """Who counts for each row's account at the row's time: `group` (per row) numbers the distinct
    (account, time) pairs; `person` (per member: an index into the people) and `of` (its group);
    `first` (per group) the first row of the group."""

    group: np.ndarray
    person: np.ndarray
    of: np.ndarray
    first: np.ndarray


def pair_keys(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One int64 per (a, b) pair of integer codes (b: UTC microseconds or codes), equal exactly
    when both are: b is replaced by its rank among the distinct values of b."""
    b = np.asarray(b, dtype=np.int64)
    if len(b) <= SMALL:  # a request: a dict of a few values, not np.unique's fixed cost
        where = {v: i for i, v in enumerate(sorted(set(b.tolist())))}
        rank, count = np.fromiter(map(where.__getitem__, b.tolist()), np.int64, len(b)), len(where)
    else:
        values, rank = np.unique(b, return_inverse=True)
        rank, count = rank.reshape(-1), len(values)
    return np.asarray(a, dtype=np.int64) * count + rank


def account_groups(account: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (account, time) group of each row, numbered in order of first appearance, and the first
    row of each group."""
    keys = pair_keys(codes(account, distinct(account)), at)
    if len(keys) <= SMALL:  # a request: numbered as met
        seen: dict[int, int] = {}
        group, first = [], []
        for row, key in enumerate(keys.tolist()):
            if key not in seen:
                seen[key] = len(first)
                first.append(row)
            group.append(seen[key])
        return np.array(group, dtype=np.int64), np.array(first, dtype=np.int64)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # groups in order of first appearance
    renumber = np.empty_like(order)
    renumber[order] = np.arange(len(order))
    return renumber[inverse.reshape(-1)], first[order]


def members(account: np.ndarray, at: np.ndarray, people_account: np.ndarray, created: np.ndarray) -> Members:
    """The members of each row's account at its time (`at`, UTC microseconds): the people of the
    account created at or before it."""
    group, first = account_groups(account, at)
    vocabulary = distinct(np.asarray(people_account, dtype=object))
    code = codes(np.asarray(people_account, dtype=object), vocabulary)
    order = np.argsort(code, kind="stable")
    sorted_code = code[order]
    group_code = codes(np.asarray(account, dtype=object)[first], vocabulary)
    start = np.searchsorted(sorted_code, group_code, side="left")
    sizes = np.where(group_code >= 0, np.searchsorted(sorted_code, group_code, side="right") - start, 0)
    of = np.repeat(np.arange(len(first)), sizes)
    offset = np.arange(len(of)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    person = order[np.repeat(start, sizes) + offset]
    known = np.asarray(created, dtype=np.int64)[person] <= np.asarray(at, dtype=np.int64)[first][of]
    return Members(group, person[known], of[known], first)


def _rows_of(row_ids: np.ndarray, row_at: np.ndarray, ids: np.ndarray, at: np.ndarray) -> np.ndarray:
    """For each (id, time) pair, the row with that lead id and time, -1 when none."""
    n = len(row_ids)
    if n == 0:
        return np.full(len(ids), -1, dtype=np.int64)
    both = np.concatenate([np.asarray(row_ids, dtype=object), np.asarray(ids, dtype=object)])
    keys = pair_keys(codes(both, distinct(both)), np.concatenate([row_at, at]))
    row_keys, wanted = keys[:n], keys[n:]
    order = np.argsort(row_keys, kind="stable")
    found = order[np.minimum(np.searchsorted(row_keys[order], wanted), n - 1)]
    return np.where(row_keys[found] == wanted, found, -1)


def member_scores(
    model: LeadModel | None,
    rules: RuleConfig,
    rows: Columns,
    at: np.ndarray,
    scored: Scored,
    people: Columns,
    events: Columns,
    found: Members,
    contract,
    config,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each member's probability (NaN where not scored), rule score and rule MQL verdict: a member that is a
    row at the group's time keeps the row's; the others are scored as leads as of that time."""
    at_of = at[found.first][found.of]
    ids = people["lead_id"][found.person]
    where = _rows_of(rows["lead_id"], at, np.asarray(ids, dtype=object), at_of)
    p = np.full(len(ids), np.nan)
    mql = np.zeros(len(ids), dtype=bool)
    points = np.full(len(ids), np.nan)
    reused = where >= 0
    if scored.probability is not None:
        p[reused] = scored.probability[where[reused]]
    mql[reused] = scored.rule_mql[where[reused]]
    points[reused] = scored.rule_score[where[reused]]
    # members who are not rows, seen as contacts (`contact_view`): with a contract of engagement
    # counters they have none, and are not scored
    build = np.flatnonzero(~reused) if not contract.counter_columns else np.zeros(0, dtype=np.int64)
    if len(build):
        member_rows = contact_view(people, found.person[build], contract)
        columns = feature_columns(member_rows, at_of[build], events, config, contract, people)
        by_rules = rule_score(columns, rules)
        mql[build], points[build] = by_rules.is_mql, by_rules.score
        if model is not None and scored.probability is not None:
            # a few contacts of a request on this thread (OpenMP's start costs more than the trees)
            p[build] = model.probability(columns, threads=1 if len(build) <= SMALL_BATCH else None)
    return p, mql, points


def contact_view(people: Columns, chosen: np.ndarray, contract) -> Columns:
    """The lead columns of the people `chosen` as a contact of an account is known (the service's
    contacts, `serving.columns`): its own person (`features.build.PEOPLE`) and the account's profile
    (`core.schema.ACCOUNT_LEVEL`); its source, extra fit columns and counters missing. Members who
    are not rows are scored from this view everywhere, so that training, batch scoring and the
    service score them alike, and no counter of an export read after the member's time leaks in."""
    out = {}
    for name in row_columns(contract):
        values = people[name][chosen]
        if name not in PEOPLE and name not in ACCOUNT_LEVEL:
            values = np.full(len(chosen), np.nan) if values.dtype.kind == "f" else np.full(len(chosen), None, object)
        out[name] = values
    return out
