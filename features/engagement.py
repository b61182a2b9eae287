"""Engagement features: what a lead and its account's contacts did, how often, how recently.

Rows are (lead code, as-of time in microseconds); callers pass them sorted by (lead, time) for
lead features and by (account, time) for account features, which makes the searches fast.
"""

from __future__ import annotations

import numpy as np

from features import names
from features.buying import ENGAGED, role_states
from features.settings import FeatureConfig
from features.timeline import Clock, Timeline, first_per_day

DAY_US = 86_400 * 1_000_000
CHUNK_CELLS = 4_000_000  # rows x event types searched in one pass


class LeadActivity:
    """Timelines over one population's events, built once and queried for any rows and times."""

    def __init__(self, clock: Clock, lead, ts, rank, etype, types: list[str], config: FeatureConfig):
        self.clock = clock
        self.types = types
        self.config = config
        half_life = config.half_life_days * DAY_US
        self.by_type = Timeline(clock, lead * len(types) + etype, ts, rank, half_life=half_life)
        self.weight = np.array([config.engagement_weights.get(t, 0.0) for t in types])
        self.by_lead = Timeline(clock, lead, ts, rank, weight=self.weight[etype], half_life=half_life)
        self.by_day = Timeline(clock, *first_per_day(self.by_lead, DAY_US))

    def features(self, lead: np.ndarray, at: np.ndarray) -> dict[str, np.ndarray]:
        """Engagement feature columns for rows (lead code, as-of time)."""
        config, n_types = self.config, len(self.types)
        rank = self.clock.rank(at)
        window_rank = {w: self.clock.rank(at - w * DAY_US) for w in config.windows_days}
        out: dict[str, np.ndarray] = {}
        last = {}
        per_chunk = max(1, CHUNK_CELLS // max(len(lead), 1))  # types per pass: bounded memory
        for first in range(0, n_types, per_chunk):
            kinds = np.arange(first, min(first + per_chunk, n_types))
            # one search per question for all rows x types of the chunk (type-major: each
            # type's values are one contiguous row)
            seg = (lead[None, :] * n_types + kinds[:, None]).ravel()
            shape = (len(kinds), len(lead))
            start, stop = self.by_type.start(seg), self.by_type.stop(seg, np.tile(rank, len(kinds)))
            counts = {
                w: (stop - self.by_type.stop(seg, np.tile(old, len(kinds)))).reshape(shape).astype(float)
                for w, old in window_rank.items()
            }
            decayed_ = self.by_type.decayed(start, stop, np.tile(at, len(kinds))).reshape(shape)
            seen = self.by_type.last(start, stop).reshape(shape)
            total = (stop - start).reshape(shape).astype(float)
            for i, k in enumerate(kinds):
                name = self.types[k]
                for w in window_rank:
                    out[names.count(name, w)] = counts[w][i]
                out[names.of_event(names.DECAYED, name)] = decayed_[i]
                last[name] = seen[i]
                if name == "product_active_day":
                    out[names.PRODUCT_DAYS] = total[i]
        for name in config.recency_events:
            out[names.of_event(names.DAYS_SINCE, name)] = (at - last[name]) / DAY_US
        start, stop = self.by_lead.start(lead), self.by_lead.stop(lead, rank)
        out[names.LAST_ACTIVITY] = (at - self.by_lead.last(start, stop)) / DAY_US
        out["engagement_decayed"] = self.by_lead.decayed(start, stop, at)
        for w, old in window_rank.items():
            out[names.windowed(names.EVENTS, w)] = (stop - self.by_lead.stop(lead, old)).astype(float)
        span = config.active_days_window_days
        old = self.clock.rank(at - span * DAY_US)
        out[names.windowed(names.ACTIVE_DAYS, span)] = (
            self.by_day.stop(lead, rank) - self.by_day.stop(lead, old)
        ).astype(float)
        longest = max(config.windows_days)
        opens, clicks = out[names.count("email_open", longest)], out[names.count("email_click", longest)]
        with np.errstate(divide="ignore", invalid="ignore"):
            out[names.windowed(names.CLICK_RATE, longest)] = np.where(
                opens > 0, np.minimum(clicks / opens, 1.0), np.nan
            )
        for flag, name in names.FLAGS.items():
            out[flag] = (~np.isnan(last[name])).astype(np.int8)
        return out


class AccountActivity:
    """What all known contacts of each lead's account did, as of each row's time."""

    def __init__(
        self,
        clock: Clock,
        activity: LeadActivity,
        contact_account,
        contact_created,
        created_rank,
        contact_rank,
        event_lead,
        event_ts,
        event_rank,
        event_type,
        contact_roles: np.ndarray,
        config: FeatureConfig,
    ):
        """`contact_roles` (contacts x roles): who fills which buying-group role (`role_members`)."""
        self.clock = clock
        self.config = config
        self.activity = activity
        self.contacts = Timeline(clock, contact_account, contact_created, created_rank)
        half_life = config.half_life_days * DAY_US
        weight = activity.weight[event_type]
        # an event is known to the account only once its contact is: a CRM that backfills a new
        # contact's earlier web visits must not let them count for times before it existed
        known = np.maximum(event_rank, created_rank[event_lead])
        self.events = Timeline(clock, contact_account[event_lead], event_ts, known, weight, half_life)
        self.order = np.argsort(contact_account, kind="stable")
        self.sorted_account = contact_account[self.order]
        self.created = contact_created
        self.rank = contact_rank
        self.roles = contact_roles

    def features(self, account: np.ndarray, at: np.ndarray) -> dict[str, np.ndarray]:
        """Account feature columns for rows (account code, as-of time)."""
        window = self.config.engaged_window_days
        rank = self.clock.rank(at)
        start = np.searchsorted(self.sorted_account, account, side="left")
        sizes = np.searchsorted(self.sorted_account, account, side="right") - start
        row = np.repeat(np.arange(len(account)), sizes)
        contact = self.order[np.repeat(start, sizes) + np.arange(len(row)) - np.repeat(np.cumsum(sizes) - sizes, sizes)]
        lead_timeline = self.activity.by_lead
        recent = lead_timeline.stop(contact, rank[row]) - lead_timeline.stop(
            contact, self.clock.rank(at[row] - window * DAY_US)
        )
        known = self.created[contact] <= at[row]
        engaged = known & (recent > 0)
        top = np.full(len(account), -np.inf)
        np.maximum.at(top, row, np.where(engaged, np.nan_to_num(self.rank[contact], nan=-np.inf), -np.inf))
        seg_start, seg_stop = self.events.start(account), self.events.stop(account, rank)
        out = {
            "account_contacts": (self.contacts.stop(account, rank) - self.contacts.start(account)).astype(float),
            names.windowed(names.ENGAGED_CONTACTS, window): np.bincount(row, weights=engaged, minlength=len(account)),
            "account_engagement_decayed": self.events.decayed(seg_start, seg_stop, at),
            "account_top_engaged_seniority": np.where(np.isfinite(top), top, np.nan),
        }
        state = known.astype(np.int8) + engaged  # 0 not known yet, 1 known, 2 known and engaged
        best = role_states(row, contact, state, self.roles, len(account))
        roles = self.config.buying_group.roles
        out.update({names.role(r.name): best[:, j].astype(float) for j, r in enumerate(roles)})
        out[names.COMPLETENESS] = (best == ENGAGED).mean(axis=1)
        return out
