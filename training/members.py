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
from features.arrays import SMALL, Columns, codes, distinct, unique_last
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
    prepared: Prepared | None = None  # the members, worked out before the rows' features (the service)


@dataclass(frozen=True)
class Members:
    """Who counts for each row's account at the row's time: `group` (per row) numbers the distinct
    (account, time) pairs; `person` (per member: an index into the people) and `of` (its group);
    `first` (per group) the first row of the group."""

    group: np.ndarray
    person: np.ndarray
    of: np.ndarray
    first: np.ndarray


@dataclass(frozen=True)
class Prepared:
    """Who counts for each row's account (`found`, indices into `everyone`: the known people, the
    rows added to them), which members are rows at the same time (`where`: the row, -1 for none),
    and the others, which get a feature row of their own: `build` (indices into the members), their
    lead columns as a contact is known (`rows`) and their times (`at`). `built`: those feature
    rows when the caller made them in the same call as the rows' own (the service); None: made
    when the members are scored."""

    everyone: Columns
    found: Members
    where: np.ndarray
    build: np.ndarray
    rows: Columns
    at: np.ndarray
    built: Columns | None = None


def prepare(rows: Columns, at: np.ndarray, people: Columns, contract) -> Prepared:
    """The members of each row's account at its time, and which of them need a feature row
    (`Prepared`): with a contract of engagement counters, members who are not rows have none and
    are not scored."""
    wanted = row_columns(contract)
    if len(people["lead_id"]):
        everyone = {n: np.concatenate([np.asarray(people[n]), np.asarray(rows[n])]) for n in wanted}
    else:  # a request without contacts: the rows are everyone
        everyone = {n: np.asarray(rows[n]) for n in wanted}
    keep = unique_last(np.asarray(everyone["lead_id"], dtype=object))
    if len(keep) < len(everyone["lead_id"]):  # a lead given twice is its last
        everyone = {n: everyone[n][keep] for n in wanted}
    found = members(rows["account_id"], at, everyone["account_id"], everyone["created_at"])
    at_of = at[found.first][found.of]
    ids = np.asarray(everyone["lead_id"][found.person], dtype=object)
    where = _rows_of(rows["lead_id"], at, ids, at_of)
    build = np.flatnonzero(where < 0) if not contract.counter_columns else np.zeros(0, dtype=np.int64)
    return Prepared(everyone, found, where, build, contact_view(everyone, found.person[build], contract), at_of[build])


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
    model: LeadModel | None, rules: RuleConfig, scored: Scored, prepared: Prepared, events: Columns, contract, config
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each member's probability (NaN where not scored), rule score and rule MQL verdict: a member
    that is a row at the group's time keeps the row's; the others are scored as leads as of that
    time, from their feature rows (`prepared.built`, else made here with the same feature code)."""
    where, build, n = prepared.where, prepared.build, len(prepared.where)
    p = np.full(n, np.nan)
    mql = np.zeros(n, dtype=bool)
    points = np.full(n, np.nan)
    reused = where >= 0
    if scored.probability is not None:
        p[reused] = scored.probability[where[reused]]
    mql[reused] = scored.rule_mql[where[reused]]
    points[reused] = scored.rule_score[where[reused]]
    if len(build):
        columns = prepared.built
        if columns is None:
            columns = feature_columns(prepared.rows, prepared.at, events, config, contract, prepared.everyone)
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
