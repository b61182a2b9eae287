"""The generated world continued past the end of its history, week by week (`leadscore simulate`).

The same causal story as the generator (synthetic/generate.py, synthetic/journeys.py), at the
end-of-history mix (`frac` = 1: no further drift unless a drift spec says so): new leads arrive
(some join accounts of the history, whose latent traits are drawn again from the world's seed),
their activity builds up to their hand-raise, the moment the generator would make them an MQL
candidate, when the CRM scores them (leads that never raise their hand are never scored: their truth row,
at the last second of the week they arrived, is kept for the record), and
sales' decision on each is drawn as if it were handed over (for the truth; only the hand-overs the
CRM's policy makes are posted). Recycled simulated leads do not come back within a simulation.

The funnel is already running when the simulation starts: leads arrive from `WARM_UP_WEEKS` weeks
before the first simulated week (at the same weekly rate), so that the first week's hand-raisers
are as old at their hand-raise as a steady funnel's (the reference profile's lead ages, activity
counts), not all younger than the simulation. A lead of those earlier weeks is part of the run
only if it raises its hand at or after the start, for the first time or back after sales recycled
it (the generator's returning leads, about a tenth of a steady funnel's hand-overs): it stands in
for the history's leads that would have raised their hand later, which the history, cut at its
end, never hands over. Its activity from its arrival on is included like any other's (for a
comeback: its first episode, what it did after the decision, then its return; its first hand-over
is not part of the run: no outcome row, no decision posted). The others (hand-raises before the
start, those never raising their hand) are kept out: the history already holds those weeks' leads.
New business leads join accounts the CRM knows as often as the history's own last weeks' did
(`join_shares`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
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
NEVER = np.iinfo(np.int64).max
# weeks of arrivals before the first simulated week, so that week 1 already sees a steady funnel's
# hand-raises (synthetic/journeys.py): a first hand-raise comes 0.5 + Gamma(2, 5) x (1.4 - intent)
# days after arrival (99.8% within 56 days, measured on generated worlds), sales decide within
# about 40 days, and a recycled lead comes back 30-150 days after the decision: 250 days at most
WARM_UP_WEEKS = 36


@dataclass
class History:
    """What the world's folder holds: its leads (the fields contacts need), events, and where the
    simulated future starts (the next lead and account numbers, the last moment recorded)."""

    leads: pd.DataFrame  # lead_id, account_id, created_at (s), job_title, seniority
    events: pd.DataFrame  # lead_id, ts (s), type, detail
    last: int  # the last moment of any lead, event or outcome (s)
    next_lead: int
    next_account: int
    handed: np.ndarray  # the numbers of the leads with a hand-over (L00000012 -> 12)


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
    handed = np.empty(0, dtype=np.int64)
    if (found := find_table(folder, "outcomes")) is not None:
        outcomes = read_table(found)
        for column in ("mql_at", "decided_at"):
            last = max(last, int(_seconds(outcomes[column]).max(initial=-1)))
        handed = _numbers(outcomes["lead_id"].astype(str), "L", "lead ids are", found)
    return History(
        leads=frame,
        events=events,
        last=last,
        next_lead=int(_numbers(frame["lead_id"], "L", "lead ids are", path).max()) + 1,
        next_account=int(_numbers(frame["account_id"], "A", "account ids are", path).max()) + 1,
        handed=handed,
    )


def default_start(history: History) -> int:
    """The day after the last lead, event or outcome of the history (UTC midnight)."""
    return (history.last // DAY + 1) * DAY


def join_shares(known: j.People, weeks: int) -> np.ndarray:
    """Per segment, the share of new business leads that join an account the CRM already knows:
    as in the history's own last `weeks` weeks, the share of its business leads whose account had a
    lead before those weeks (about 0.85 at the end of a two-year world: a steady funnel's leads
    mostly come from companies it has met)."""
    business = (known.kind == 0) & ~known.competitor
    first = np.full(len(known.accounts.intent), NEVER, dtype=np.int64)
    np.minimum.at(first, known.account, known.created)
    cut = int(known.created.max()) - weeks * WEEK
    shares = np.zeros(len(w.SEGMENTS))
    for s in range(len(w.SEGMENTS)):
        recent = known.account[business & (known.segment == s) & (known.created > cut)]
        shares[s] = (first[recent] <= cut).mean() if len(recent) else 0.0
    return shares


def _accounts(rng: np.random.Generator, known: j.People, history: History, kind, competitor, segment, weeks: int):
    """Each new lead's account: a share of the business leads join accounts of the history (as
    many contacts as an account has, as likely it gets one more; the share as the history's last
    `weeks` weeks had, `join_shares`), the others new accounts drawn as the generator draws them,
    numbered after every account the folder knows."""
    local, fresh = g.accounts_of(rng, kind == 0, competitor, segment)
    n_known = len(known.accounts.intent)
    base = max(n_known, history.next_account)
    account = base + local
    joins = (kind == 0) & ~competitor & (rng.random(len(kind)) < join_shares(known, weeks)[segment])
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
    """The world's next `weeks` weeks of new leads from `start`, then `drain_weeks` without any;
    the funnel already running at `start` (see the module's docstring: `WARM_UP_WEEKS`)."""
    rng = np.random.default_rng([world.seed, seed, start // DAY])
    arrive = WARM_UP_WEEKS + weeks
    end = start + (weeks + drain_weeks) * WEEK
    created = np.sort(
        start
        + np.repeat(np.arange(-WARM_UP_WEEKS, weeks), leads_per_week) * WEEK
        + (rng.random(arrive * leads_per_week) * WEEK).astype(np.int64)
    )
    frac = np.ones(len(created))
    kind, competitor, segment = g.kinds(rng, frac)
    known = g.people_of(np.random.default_rng(world.seed), world.leads, world.t0, world.days)  # the history's
    account, accounts = _accounts(rng, known, history, kind, competitor, segment, arrive)
    people = g.lives(rng, frac, created, kind, competitor, segment, account, accounts)
    forced = drift.forced_source(created)
    people.source = np.where(forced >= 0, forced, people.source)
    first = j.first_episodes(rng, people, end)
    back, earlier = _comebacks(rng, people, first, start, end)
    # a lead of the warm-up only if it raises its hand in the run (for the first time, or back)
    kept = (created >= start) | (first.mql >= start)
    kept[back.lead] = True
    at = np.cumsum(kept) - 1  # each kept lead's new index
    for name in ("start", "mql", "intent"):  # a comeback's scored episode is its return
        getattr(first, name)[back.lead] = getattr(back, name)
    people, created = _take(people, kept), created[kept]
    first = j.Episodes(np.arange(len(created)), first.start[kept], first.mql[kept], first.intent[kept])
    earlier = j.Events(at[earlier.lead], earlier.ts, earlier.type, earlier.detail)
    frac = people.frac
    leads = _resized(pa.table(g.observed(rng, people, first_id=history.next_lead)), drift.size_factor(created))

    week_end = start + ((created - start) // WEEK + 1) * WEEK
    scored_at = np.where(first.mql >= 0, first.mql, np.minimum(week_end, end) - 1)
    activity, intent_now, demo = j.activity(rng, people, first, end)  # non-raisers: 120 days, as generated
    activity = j.Events.concat([earlier, activity])
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
    events = pd.concat([_history_goes_on(rng, world, known, history, end), events_frame(activity, ids)])
    return Future(start, end, weeks, leads, events.reset_index(drop=True), truth, people, scored)


def _history_goes_on(rng: np.random.Generator, world: World, known: j.People, history: History, end: int):
    """The events, after the history's last moment and up to `end`, of the history's leads that
    never raised their hand and were still active when it was cut (a lead is active for 120 days
    from its arrival: synthetic/journeys.py `activity`), drawn as the generator draws a lead's
    activity: they are the account contacts of many new leads, and without them an account's
    recent engagement would fade week by week."""
    cut = world.t0 + world.days * DAY
    active = np.flatnonzero(known.created + 120 * DAY > cut)
    active = active[~np.isin(active, history.handed)]
    episodes = j.Episodes(active, known.created[active], np.full(len(active), -1), known.intent[active])
    events, _, _ = j.activity(rng, known, episodes, end)
    frame = events_frame(events, np.asarray([g.lead_id(i) for i in range(len(known.created))], dtype=object))
    return frame[frame["ts"] > max(cut, history.last)]


def _comebacks(
    rng: np.random.Generator, people: j.People, first: j.Episodes, start: int, end: int
) -> tuple[j.Episodes, j.Events]:
    """The leads that raised their hand before `start`, were recycled by sales and come back within
    the run (the generator's returning episodes, 30-150 days after the decision): their returning
    episodes, and their activity before them (the first episode, after the decision)."""
    before = first.take((first.mql >= 0) & (first.mql < start))
    events, intent_now, demo = j.activity(rng, people, before, end)
    decided, _ = j.decide(rng, people, before, intent_now, demo, people.frac[before.lead], NEVER)
    after = j.after_handover(rng, before, decided.decision, end)
    back = j.returning_episodes(rng, before, decided, end)
    back = back.take(back.mql >= start)
    earlier = j.Events.concat([events, after])
    mine = np.isin(earlier.lead, back.lead)
    return back, j.Events(earlier.lead[mine], earlier.ts[mine], earlier.type[mine], earlier.detail[mine])


def _take(people: j.People, keep: np.ndarray) -> j.People:
    """The leads of `people` where `keep` holds (the accounts table stays whole)."""
    return j.People(
        **{
            f.name: (getattr(people, f.name) if f.name == "accounts" else getattr(people, f.name)[keep])
            for f in fields(people)
        }
    )


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
