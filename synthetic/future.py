"""The generated world continued past the end of its history, week by week (`leadscore simulate`).

The same causal story as the generator (synthetic/generate.py, synthetic/journeys.py), at the
end-of-history mix (`frac` = 1: no further drift unless a drift spec says so): new leads arrive
(some join accounts of the history, whose latent traits are drawn again from the world's seed),
their activity builds up to their hand-raise, the moment the generator would make them an MQL
candidate (leads that never raise their hand are scored at the last second of the week they arrived), and
sales' decision on each is drawn as if it were handed over (for the truth; only the hand-overs the
CRM's policy makes are posted). Recycled simulated leads do not come back within a simulation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from core.errors import LeadscoreError
from features.contract import DECISIONS, EVENT_TYPES, REASONS
from features.tables import find_table, read_table
from synthetic import generate as g
from synthetic import journeys as j
from synthetic import world as w
from synthetic.drift import Drift
from synthetic.manifest import World

DAY = j.DAY
WEEK = 7 * DAY
JOIN_EXISTING = 0.35  # the share of new business leads from an account the CRM already knows
NEVER = np.iinfo(np.int64).max


@dataclass
class History:
    """What the world's folder holds: its leads (the fields contacts need), events, and where the
    simulated future starts (the next lead and account numbers, the last moment recorded)."""

    leads: pd.DataFrame  # lead_id, account_id, created_at (s), job_title, seniority
    events: pd.DataFrame  # lead_id, ts (s), type, detail
    last: int  # the last moment of any lead, event or outcome (s)
    next_lead: int
    next_account: int


@dataclass
class Future:
    """The simulated weeks: the new leads as the CRM holds them, their activity up to the moment
    each is scored, and the truth about each (one row per lead, in `leads` order)."""

    start: int
    end: int  # start + (weeks + drain weeks) * WEEK
    weeks: int
    leads: pa.Table  # the contract's `leads` columns
    events: pd.DataFrame  # lead_id, ts (s), type, detail
    truth: pd.DataFrame
    people: j.People
    episodes: j.Episodes  # each lead's scoring moment as its `mql`


def _numbers(ids: pd.Series, prefix: str, what: str, path: Path) -> np.ndarray:
    """The numbers of generated ids (`L00000012` -> 12)."""
    digits = ids.astype(str).str.removeprefix(prefix)
    if not digits.str.fullmatch(r"\d+").all():
        raise LeadscoreError(
            f"{path}: {what} not of the generated form {prefix}NNNNNNNN; simulate needs a generated world"
        )
    return digits.astype(np.int64).to_numpy()


def _seconds(values: pd.Series) -> np.ndarray:
    """UTC instants (as read from a table) as seconds since epoch; -1 for missing."""
    parsed = pd.to_datetime(values, utc=True, format="mixed") if values.dtype == object else values
    out = np.full(len(parsed), -1, dtype=np.int64)
    ok = parsed.notna().to_numpy()
    out[ok] = (parsed[ok].astype("datetime64[s, UTC]").astype("int64")).to_numpy()
    return out


def read_history(folder: Path) -> History:
    """The history of the world in `folder` (its leads, events and outcomes tables)."""
    path = find_table(folder, "leads")
    if path is None:
        raise LeadscoreError(f"{folder}: no leads table (leads.csv or leads.parquet)")
    leads = read_table(path)
    frame = pd.DataFrame(
        {
            "lead_id": leads["lead_id"].astype(str),
            "account_id": leads["account_id"].astype(str),
            "created_at": _seconds(leads["created_at"]),
            "job_title": leads["job_title"].astype(object).where(leads["job_title"].notna(), None),
            "seniority": leads["seniority"].astype(object).where(leads["seniority"].notna(), None),
        }
    )
    events = pd.DataFrame(columns=["lead_id", "ts", "type", "detail"])
    last = int(frame["created_at"].max())
    if (found := find_table(folder, "events")) is not None:
        raw = read_table(found)
        events = pd.DataFrame(
            {
                "lead_id": raw["lead_id"].astype(str),
                "ts": _seconds(raw["ts"]),
                "type": raw["type"].astype(str),
                "detail": raw["detail"].astype(object).where(raw["detail"].notna(), None),
            }
        )
        last = max(last, int(events["ts"].max()) if len(events) else last)
    if (found := find_table(folder, "outcomes")) is not None:
        outcomes = read_table(found)
        for column in ("mql_at", "decided_at"):
            last = max(last, int(_seconds(outcomes[column]).max(initial=-1)))
    return History(
        leads=frame,
        events=events,
        last=last,
        next_lead=int(_numbers(frame["lead_id"], "L", "lead ids are", path).max()) + 1,
        next_account=int(_numbers(frame["account_id"], "A", "account ids are", path).max()) + 1,
    )


def default_start(history: History) -> int:
    """The day after the last lead, event or outcome of the history (UTC midnight)."""
    return (history.last // DAY + 1) * DAY


def _accounts(rng: np.random.Generator, world: World, history: History, kind, competitor, segment):
    """Each new lead's account: a share of the business leads join accounts of the history (as
    many contacts as an account has, as likely it gets one more), the others new accounts drawn as
    the generator draws them, numbered after every account the folder knows."""
    known = g.people_of(np.random.default_rng(world.seed), world.leads, world.t0, world.days)
    local, fresh = g.accounts_of(rng, kind == 0, competitor, segment)
    n_known = len(known.accounts.intent)
    base = max(n_known, history.next_account)
    account = base + local
    joins = (kind == 0) & ~competitor & (rng.random(len(kind)) < JOIN_EXISTING)
    business = (known.kind == 0) & ~known.competitor
    for s in range(len(w.SEGMENTS)):
        pool, contacts = np.unique(known.account[business & (known.segment == s)], return_counts=True)
        members = np.flatnonzero(joins & (segment == s))
        if len(pool) and len(members):
            account[members] = rng.choice(pool, len(members), p=contacts / contacts.sum())
    gap = base - n_known  # accounts of earlier simulations: never joined, their slots unused

    def joined(name: str) -> np.ndarray:
        old, new = getattr(known.accounts, name), getattr(fresh, name)
        return np.concatenate([old, np.zeros(gap, dtype=old.dtype), new])

    return account, j.Accounts(**{name: joined(name) for name in j.Accounts.__dataclass_fields__})


def continue_world(
    world: World,
    history: History,
    *,
    weeks: int,
    drain_weeks: int,
    leads_per_week: int,
    seed: int,
    start: int,
    drift: Drift,
) -> Future:
    """The world's next `weeks` weeks of new leads from `start`, then `drain_weeks` without any."""
    rng = np.random.default_rng([world.seed, seed, start // DAY])
    n = weeks * leads_per_week
    end = start + (weeks + drain_weeks) * WEEK
    created = np.sort(
        start + np.repeat(np.arange(weeks), leads_per_week) * WEEK + (rng.random(n) * WEEK).astype(np.int64)
    )
    frac = np.ones(n)
    kind, competitor, segment = g.kinds(rng, frac)
    account, accounts = _accounts(rng, world, history, kind, competitor, segment)
    people = g.lives(rng, frac, created, kind, competitor, segment, account, accounts)
    forced = drift.forced_source(created)
    people.source = np.where(forced >= 0, forced, people.source)
    leads = _resized(pa.table(g.observed(rng, people, first_id=history.next_lead)), drift.size_factor(created))

    first = j.first_episodes(rng, people, end)
    week_end = start + ((created - start) // WEEK + 1) * WEEK
    scored_at = np.where(first.mql >= 0, first.mql, np.minimum(week_end, end) - 1)
    activity, intent_now, demo = j.activity(rng, people, first, end, until=scored_at)
    scored = j.Episodes(first.lead, first.start, scored_at, first.intent)
    scale = drift.accept_scale(scored_at, people.segment, people.source)
    decided, probability = j.decide(rng, people, scored, intent_now, demo, frac, NEVER, scale)
    ids = leads["lead_id"].to_numpy(zero_copy_only=False)
    truth = pd.DataFrame(
        {
            "lead_id": ids,
            "week": (scored_at - start) // WEEK,
            "scored_at": scored_at,
            "candidate": first.mql >= 0,
            "segment": np.asarray(w.SEGMENTS, dtype=object)[people.segment],
            "source": np.asarray(w.SOURCES, dtype=object)[people.source],
            "accept_probability": probability,
            "would_accept": decided.decision == j.D["accepted"],
            "decision": np.asarray(DECISIONS, dtype=object)[decided.decision],
            "reason": np.where(
                decided.reason >= 0, np.asarray(REASONS, dtype=object)[np.maximum(decided.reason, 0)], None
            ),
            "decided_at": decided.decided_at,
        }
    )
    return Future(start, end, weeks, leads, events_frame(activity, ids), truth, people, scored)


def _resized(leads: pa.Table, factor: np.ndarray) -> pa.Table:
    """`leads` with each company size times its factor (at least one employee)."""
    if (factor == 1).all():
        return leads
    sizes = leads["company_size"].to_numpy(zero_copy_only=False).astype(float)
    missing = np.isnan(sizes)
    resized = np.where(missing, 0, np.maximum(1, np.round(np.nan_to_num(sizes) * factor))).astype(np.int64)
    return leads.set_column(
        leads.column_names.index("company_size"), "company_size", pa.array(resized, mask=missing, type=pa.int64())
    )


def events_frame(events: j.Events, ids: np.ndarray) -> pd.DataFrame:
    """Simulated events as rows: the lead's id, the time (s), the type and the detail (or None)."""
    order = np.lexsort((events.type, events.ts, events.lead))
    detail = events.detail[order]
    return pd.DataFrame(
        {
            "lead_id": ids[events.lead[order]],
            "ts": events.ts[order],
            "type": np.asarray(EVENT_TYPES, dtype=object)[events.type[order]],
            "detail": np.where(detail >= 0, np.asarray(j.DETAILS, dtype=object)[np.maximum(detail, 0)], None),
        }
    )


def after_handover(future: Future, handed: np.ndarray, seed: int, posted_decision: np.ndarray) -> pd.DataFrame:
    """What handed-over leads do after sales took them, up to the end of the simulation (the
    generator's story: accepted ones go on to trials and meetings); `posted_decision`: the index
    into DECISIONS each hand-over had by the end (open if not decided yet)."""
    rng = np.random.default_rng([seed, future.start // DAY, 1])
    episodes = future.episodes.take(handed)
    activity = j.after_handover(rng, episodes, posted_decision[handed], future.end)
    return events_frame(activity, future.leads["lead_id"].to_numpy(zero_copy_only=False))
