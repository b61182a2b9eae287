"""Point-in-time scans over events: counts, last times and decayed sums as of any timestamp.

Events are sorted by (lead, time), so each lead's events are one run of positions (`offsets`). A
row, a lead as of a time, reads its lead's run up to the last event at or before the row's time,
in compiled loops (numba: a request's one lead costs one call, not a hundred array operations),
so one lead scored in a request and a million leads in a batch run the same code, each row with
its own as-of time, and no event after it is ever seen: an event at exactly `as_of` counts, one a
microsecond later does not.

`events` is the tuple (offsets, ts, etype, weight): run bounds per lead code, times (UTC
microseconds), type codes, and each type's weight.
"""

from __future__ import annotations

import numpy as np
from numba import njit


def frozen(values, dtype) -> np.ndarray:
    """`values` as a read-only contiguous array of `dtype`: the scans compile once, for read-only
    arrays (pandas hands out read-only ones), whoever calls them."""
    out = np.ascontiguousarray(values, dtype=dtype)
    if out.flags.writeable:
        out = out.view()
        out.flags.writeable = False
    return out


@njit(cache=True, nogil=True)
def _stop(ts, start: int, end: int, at: int) -> int:
    """Position just past the last event of [start, end) at or before `at` (binary search)."""
    while start < end:
        middle = (start + end) >> 1
        if ts[middle] <= at:
            start = middle + 1
        else:
            end = middle
    return start


@njit(cache=True, nogil=True)
def lead_scan(events, lead, at, plan, half_life: float, day: int):
    """The engagement columns (columns, rows) of rows (lead code, as-of time `at`), from what
    each row's lead did up to `at`, laid out by `plan` (`features.engagement.Layout.plan`)."""
    offsets, ts, etype, weight = events
    windows, span, count_row, decay_row, recency, flag, fixed, window_row = plan
    n_types, n_windows = count_row.shape
    size, product_type, product_row, last_row, weighted_row, active_row, ctr_row, opens, clicks, longest = fixed
    out = np.empty((size, len(lead)))
    before, last, decayed = np.empty(n_types), np.empty(n_types), np.empty(n_types)
    counts, in_window = np.empty((n_types, n_windows)), np.empty(n_windows)
    for r in range(len(lead)):
        t, first = at[r], offsets[lead[r]]
        stop = _stop(ts, first, offsets[lead[r] + 1], t)
        before[:] = 0.0
        last[:] = np.nan
        decayed[:] = 0.0
        counts[:] = 0.0
        in_window[:] = 0.0
        weighted, active, today = 0.0, 0.0, -1
        for i in range(first, stop):
            x, k = ts[i], etype[i]
            before[k] += 1.0
            last[k] = x
            term = np.exp2((x - t) / half_life)
            decayed[k] += term
            weighted += weight[k] * term
            for j in range(n_windows):
                if x > t - windows[j]:
                    counts[k, j] += 1.0
                    in_window[j] += 1.0
            if i == first or x // day != today:  # the lead's first event of a UTC day
                today = x // day
                if x > t - span:
                    active += 1.0
        for k in range(n_types):
            for j in range(n_windows):
                out[count_row[k, j], r] = counts[k, j]
            out[decay_row[k], r] = decayed[k]
        if product_row >= 0:
            out[product_row, r] = before[product_type]
        for j in range(len(recency)):
            out[recency[j, 1], r] = (t - last[recency[j, 0]]) / day
        out[last_row, r] = (t - ts[stop - 1]) / day if stop > first else np.nan
        out[weighted_row, r] = weighted
        for j in range(n_windows):
            out[window_row[j], r] = in_window[j]
        out[active_row, r] = active
        opened, clicked = counts[opens, longest], counts[clicks, longest]
        out[ctr_row, r] = min(clicked / opened, 1.0) if opened > 0 else np.nan
        for j in range(len(flag)):
            out[flag[j, 1], r] = 0.0 if np.isnan(last[flag[j, 0]]) else 1.0
    return out


@njit(cache=True, nogil=True)
def decayed_prefix(events, half_life: float):
    """For each event, its lead's weighted decayed sum of the events up to it, seen at its own
    time: p_i = w_i + p_(i-1) * 2 ** ((t_(i-1) - t_i) / half_life) within a lead. Every factor is
    at most 1, so nothing overflows; a sum as of a later time t is p_i * 2 ** ((t_i - t) / half_life)."""
    offsets, ts, etype, weight = events
    out = np.empty(len(ts))
    for lead in range(len(offsets) - 1):
        running = 0.0
        for i in range(offsets[lead], offsets[lead + 1]):
            if i > offsets[lead]:
                running *= np.exp2((ts[i - 1] - ts[i]) / half_life)
            running += weight[etype[i]]
            out[i] = running
    return out


@njit(cache=True, nogil=True)
def account_scan(events, prefix, people, account, at, window: int, half_life: float):
    """The account columns (columns, rows) of each (account, time): how many of its contacts are
    known (created at or before `at`), how many of those did something in (at - window, at], their
    weighted decayed sum, the top seniority rank of the engaged ones (NaN: none), per buying-group
    role the best state of the contacts who fill it (0 no one known, 1 known, 2 known and engaged)
    and the share of roles engaged.

    `people` is (members, member_offsets, created, rank, roles): the people by account, each
    account's run of them, and per person the creation time, seniority rank (NaN: unknown) and
    which roles it fills; `prefix` the events' `decayed_prefix`."""
    offsets, ts = events[0], events[1]
    members, member_offsets, created, rank, roles = people
    n_roles = roles.shape[1]
    out = np.zeros((5 + n_roles, len(account)))
    best = np.empty(n_roles)
    for g in range(len(account)):
        t, top = at[g], -np.inf
        best[:] = 0.0
        for m in range(member_offsets[account[g]], member_offsets[account[g] + 1]):
            c = members[m]
            if created[c] > t:  # not known yet
                continue
            first = offsets[c]
            stop = _stop(ts, first, offsets[c + 1], t)  # a search, not a walk: big accounts stay cheap
            total = prefix[stop - 1] * np.exp2((ts[stop - 1] - t) / half_life) if stop > first else 0.0
            out[0, g] += 1.0
            out[2, g] += total
            state = 1.0
            if stop > first and ts[stop - 1] > t - window:
                state = 2.0
                out[1, g] += 1.0
                if rank[c] > top:
                    top = rank[c]
            for j in range(n_roles):
                if roles[c, j] and state > best[j]:
                    best[j] = state
        out[3, g] = top if top > -np.inf else np.nan
        engaged = 0.0
        for j in range(n_roles):
            out[4 + j, g] = best[j]
            engaged += best[j] == 2.0
        out[4 + n_roles, g] = engaged / n_roles if n_roles else np.nan
    return out
