"""Engagement features: what a lead and its account's contacts did, how often, how recently.

Events are sorted once by (lead, time); each row reads its lead's events up to its as-of time, and
each distinct (account, time) its contacts' (`features.timeline`), so the work grows with the
events each row sees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features import names
from features.arrays import order_by
from features.settings import FeatureConfig, derived
from features.timeline import account_scan, decayed_prefix, frozen, lead_scan

DAY_US = 86_400 * 1_000_000


@dataclass(frozen=True)
class Layout:
    """What a feature config asks of the events, worked out once: the engagement columns in order
    and where `features.timeline.lead_scan` writes each (`plan`); the last `flags` are flags."""

    names: tuple[str, ...]
    flags: int
    weight: np.ndarray  # per event type
    plan: tuple


def layout(config: FeatureConfig, types: list[str]) -> Layout:
    """The `Layout` of a feature config and the contract's event types."""
    made = _layouts(config)
    return made.get(tuple(types)) or made.setdefault(tuple(types), _layout(config, types))


@derived
def _layouts(_config: FeatureConfig) -> dict:
    return {}


def _layout(config: FeatureConfig, types: list[str]) -> Layout:
    windows, index = list(config.windows_days), {t: k for k, t in enumerate(types)}
    columns: list[str] = []

    def add(name: str) -> int:
        columns.append(name)
        return len(columns) - 1

    count_row, decay_row, product = np.zeros((len(types), len(windows)), dtype=np.int64), [], (-1, -1)
    for k, t in enumerate(types):
        count_row[k] = [add(names.count(t, w)) for w in windows]
        decay_row.append(add(names.of_event(names.DECAYED, t)))
        if t == "product_active_day":
            product = (k, add(names.PRODUCT_DAYS))
    recency = [(index[t], add(names.of_event(names.DAYS_SINCE, t))) for t in config.recency_events]
    last_row, weighted_row = add(names.LAST_ACTIVITY), add("engagement_decayed")
    window_row = [add(names.windowed(names.EVENTS, w)) for w in windows]
    active_row = add(names.windowed(names.ACTIVE_DAYS, config.active_days_window_days))
    longest = windows.index(max(windows))
    ctr_row = add(names.windowed(names.CLICK_RATE, windows[longest]))
    flag = [(index[t], add(f)) for f, t in names.FLAGS.items()]
    fixed = (len(columns), *product, last_row, weighted_row, active_row, ctr_row)
    fixed += (index["email_open"], index["email_click"], longest)
    plan = (
        frozen(np.array(windows) * DAY_US, np.int64),
        config.active_days_window_days * DAY_US,
        frozen(count_row, np.int64),
        frozen(decay_row, np.int64),
        frozen(np.array(recency, dtype=np.int64).reshape(-1, 2), np.int64),
        frozen(np.array(flag, dtype=np.int64).reshape(-1, 2), np.int64),
        tuple(int(v) for v in fixed),
        frozen(window_row, np.int64),
    )
    weight = frozen([config.engagement_weights.get(t, 0.0) for t in types], float)
    return Layout(tuple(columns), len(flag), weight, plan)


class LeadActivity:
    """One population's events sorted by (lead, time), queried for any rows and times.

    `lead` codes people 0..`people`-1 and `etype` the event types 0..len(`types`)-1; events come
    in any order."""

    def __init__(self, lead, ts, etype, people: int, types: list[str], config: FeatureConfig):
        self.config, self.layout = config, layout(config, types)
        etype = etype.astype(np.min_scalar_type(max(len(types) - 1, 0)))
        order = order_by(lead, ts)
        if order is not None:
            lead, ts, etype = lead[order], ts[order], etype[order]
        offsets = np.zeros(people + 1, dtype=np.int64)
        np.cumsum(np.bincount(lead, minlength=people), out=offsets[1:])
        self.events = (frozen(offsets, np.int64), frozen(ts, np.int64), frozen(etype, etype.dtype), self.layout.weight)
        self.half_life = float(config.half_life_days * DAY_US)

    def features(self, lead: np.ndarray, at: np.ndarray) -> dict[str, np.ndarray]:
        """Engagement feature columns for rows (lead code, as-of time)."""
        plan = self.layout
        columns = lead_scan(
            self.events, frozen(lead, np.int64), frozen(at, np.int64), plan.plan, self.half_life, DAY_US
        )
        split = len(plan.names) - plan.flags  # the flags are int8, the rest floats
        out = dict(zip(plan.names[:split], columns[:split], strict=True))
        out.update(zip(plan.names[split:], columns[split:].astype(np.int8), strict=True))
        return out


class AccountActivity:
    """What all known contacts of each lead's account did, as of each row's time: each distinct
    (account, time) of the rows read once from its contacts' own events."""

    def __init__(self, activity: LeadActivity, account, created, rank, roles: np.ndarray, accounts: int):
        """Per person: `account` code, `created` (UTC microseconds), seniority `rank` (NaN when
        unknown) and `roles` (people x roles): who fills which buying-group role (`role_members`)."""
        self.activity, self.config = activity, activity.config
        members = order_by(account)  # people by account
        offsets = np.zeros(accounts + 1, dtype=np.int64)
        np.cumsum(np.bincount(account, minlength=accounts), out=offsets[1:])
        members = np.arange(len(account)) if members is None else members
        self.people = tuple(
            frozen(a, t)
            for a, t in ((members, np.int64), (offsets, np.int64), (created, np.int64), (rank, float), (roles, bool))
        )
        self.prefix = frozen(decayed_prefix(activity.events, activity.half_life), float)

    def features(self, account: np.ndarray, at: np.ndarray) -> dict[str, np.ndarray]:
        """Account feature columns for rows (account code, as-of time)."""
        config = self.config
        account, at, which = _distinct(np.asarray(account, dtype=np.int64), np.asarray(at, dtype=np.int64))
        window = config.engaged_window_days * DAY_US
        people, half_life = self.people, self.activity.half_life
        account, at = frozen(account, np.int64), frozen(at, np.int64)
        columns = account_scan(self.activity.events, self.prefix, people, account, at, window, half_life)
        return dict(zip(_account_names(config), columns if which is None else columns[:, which], strict=True))


def _distinct(account: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The distinct (account, time) pairs of the rows and each row's one among them (None: the
    rows are distinct already)."""
    if len(account) <= 1:
        return account, at, None
    order = order_by(account, at)
    if order is not None:
        account, at = account[order], at[order]
    new = np.ones(len(account), dtype=bool)
    new[1:] = (account[1:] != account[:-1]) | (at[1:] != at[:-1])
    if new.all() and order is None:
        return account, at, None
    which = np.cumsum(new) - 1
    if order is not None:
        which[order] = which.copy()
    return account[new], at[new], which


@derived
def _account_names(config: FeatureConfig) -> tuple[str, ...]:
    """The account columns `features.timeline.account_scan` makes, in order."""
    engaged = names.windowed(names.ENGAGED_CONTACTS, config.engaged_window_days)
    fixed = ("account_contacts", engaged, "account_engagement_decayed", "account_top_engaged_seniority")
    return (*fixed, *(names.role(r.name) for r in config.buying_group.roles), names.COMPLETENESS)
