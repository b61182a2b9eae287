"""`leadscore simulate`: a CRM and a sales team in a box, against a running scoring service.

Week by week: the week's leads are scored through the service at their hand-raise moment (`as_of`
= that moment: "as_of throughout", the score log, the decisions and the features of a simulated
week carry that week's times); the hand-over policy sends the model's MQLs (`model`) or the rules'
(`rules`), and the leads the service's exploration hold-out flags; sales' decisions (drawn by
synthetic/future.py) are posted to /feedback in the week they are taken, ~2% twice and ~3%
corrected later. The truth goes to DIR/simulation/ (for tests and benchmarks only), the new leads,
events and hand-overs (as open outcomes) are appended to DIR's tables at the end of a run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from core.errors import LeadscoreError
from synthetic import future as fu
from synthetic import tables
from synthetic.crm import CRM
from synthetic.drift import Drift
from synthetic.manifest import World
from synthetic.requests import Directory, batches, bodies, iso

DUPLICATES = 0.02  # decisions a CRM posts twice
CORRECTIONS = 0.03  # decisions a rep changes later (a new feedback_id for the same hand-over)
REPS = 40


class Options(BaseModel):
    """What to simulate."""

    model_config = ConfigDict(extra="forbid")
    weeks: int = Field(ge=1, le=520)
    drain_weeks: int = Field(default=0, ge=0, le=52)
    leads_per_week: int | None = Field(default=None, ge=1, le=200_000)
    policy: Literal["model", "rules"] = "model"
    explore: float | None = Field(default=None, ge=0, le=0.2)
    seed: int = 0
    start: int | None = None  # seconds since epoch; default: the day after the history


def end_of_history_rate(world: World) -> int:
    """Leads a week at the end of the generated period (its volume grows as 1 + 0.8 t)."""
    return max(1, round(world.leads * 1.8 / 1.4 / world.days * 7))


def simulate(folder: Path, crm: CRM, options: Options, drift: Drift, tick: Callable[..., None] | None = None) -> dict:
    """Run the simulation; the run's summary. `tick(week=, leads=, decisions=)` after each week."""
    world = World.read(folder)
    history = fu.read_history(folder)
    after = fu.default_start(history)
    start = options.start if options.start is not None else after
    if start < after:
        raise LeadscoreError(
            f"--start {iso(start)[:10]}: the folder's history runs to {iso(after - 1)[:10]}; a simulation continues "
            f"it, from {iso(after)[:10]} on (two timelines in one folder would mix)"
        )
    end = start + (options.weeks + options.drain_weeks) * fu.WEEK
    if end > datetime.now(UTC).timestamp():
        raise LeadscoreError(
            f"--weeks/--drain-weeks: the simulation would run from {iso(start)[:10]} to {iso(end)[:10]}, past "
            "today; the service refuses times in the future (fewer weeks, or an earlier --start)"
        )
    future = fu.continue_world(
        world,
        history,
        weeks=options.weeks,
        drain_weeks=options.drain_weeks,
        leads_per_week=options.leads_per_week or end_of_history_rate(world),
        seed=options.seed,
        start=start,
        drift=drift,
    )
    truth, extra = _answerable(future), tables.pending(folder, start, end)
    sim = future.leads.select(["lead_id", "account_id", "created_at", "job_title", "seniority"]).to_pandas()
    sim["created_at"] = sim["created_at"].astype("datetime64[s, UTC]").astype("int64")
    directory = Directory(
        pd.concat([history.leads, sim], ignore_index=True), pd.concat([history.events, future.events])
    )
    posts = _posts(truth, extra, start, np.random.default_rng([options.seed, start // fu.DAY, 2]))
    counts = {"posted": 0, "duplicates": 0, "corrections": 0}
    earlier: list[str] = []
    weeks = options.weeks + options.drain_weeks
    for week in range(weeks):
        crm.week = f"week {week + 1} of {weeks} ({iso(start + week * fu.WEEK)[:10]})"
        # the CRM scores a lead when it raises its hand (an MQL candidate): the population the model
        # learnt from and its reference profile describe; leads that never do stay unscored
        scored = np.flatnonzero((truth["week"].to_numpy() == week) & truth["candidate"].to_numpy(bool))
        _score_week(crm, future, truth, directory, scored, options)
        handed = set(truth.loc[truth["handed"], "lead_id"])
        due = posts[(posts["week"] == week) & (posts["earlier"] | posts["lead_id"].isin(handed))]
        for body in due["body"]:
            counts["duplicates"] += bool(crm.feedback(body).get("duplicate"))
        first = due[~due["repeat"] & ~due["correction"]]
        truth.loc[truth["lead_id"].isin(first.loc[~first["earlier"], "lead_id"]), "posted"] = True
        earlier += list(first.loc[first["earlier"], "lead_id"])
        counts["posted"] += int((~due["repeat"]).sum())
        counts["corrections"] += int(due["correction"].sum())
        if tick is not None:
            tick(week=week + 1, leads=len(scored), decisions=int((~due["repeat"]).sum()))
    summary = {
        "start": iso(start),
        "end": iso(end),
        "weeks": options.weeks,
        "drain_weeks": options.drain_weeks,
        "policy": options.policy,
        "explore": options.explore,
        "seed": options.seed,
        "drift": drift.spec or None,
        "leads": len(truth),
        "scored": int(truth["scored"].sum()),
        "handed": int(truth["handed"].sum()),
        "explored": int(truth["explored"].sum()),
        **counts,
        "earlier_decisions_posted": len(earlier),
    }
    tables.record(folder, world, future, truth, earlier, summary)
    return summary


def _answerable(future: fu.Future) -> pd.DataFrame:
    """The truth with the columns the simulation fills in as it goes."""
    truth = future.truth.copy()
    for column in ("scored", "handed", "explored", "posted", "is_mql", "rule_is_mql"):
        truth[column] = False
    truth["propensity"], truth["probability"] = np.nan, np.nan
    truth["scored_by"] = None
    return truth


def _score_week(crm: CRM, future: fu.Future, truth: pd.DataFrame, directory: Directory, rows, options: Options) -> None:
    """Score the week's leads at their moments and apply the hand-over policy to the answers."""
    rows = rows[np.argsort(truth["scored_at"].to_numpy()[rows], kind="stable")]
    moments = truth["scored_at"].to_numpy()[rows]
    answers: list[dict] = []
    for batch in batches(bodies(future.leads, rows, moments, directory)):
        answers += crm.score(batch)
    if not answers:
        return
    frame = pd.DataFrame(
        {
            "is_mql": [bool(a["is_mql"]) for a in answers],
            "rule_is_mql": [bool(a["rule_is_mql"]) for a in answers],
            "explored": [bool(a.get("explore")) for a in answers],
            "propensity": [a.get("propensity") for a in answers],
            "probability": [a.get("probability") for a in answers],
            "scored_by": [a.get("scored_by") for a in answers],
        },
        index=truth.index[rows],
    )
    _check_exploration(crm, frame, options.explore)
    chosen = frame["is_mql"] if options.policy == "model" else frame["rule_is_mql"]
    frame["handed"] = chosen | frame["explored"]
    frame["scored"] = True
    frame["propensity"] = pd.to_numeric(frame["propensity"], errors="coerce")
    frame["probability"] = pd.to_numeric(frame["probability"], errors="coerce")
    for column in frame.columns:
        truth.loc[frame.index, column] = frame[column].to_numpy()


def _check_exploration(crm: CRM, frame: pd.DataFrame, expected: float | None) -> None:
    """Refuse when the service's exploration share is not the one `--explore` expects."""
    if expected is None:
        return
    below = ~frame["is_mql"] & ~frame["rule_is_mql"]
    seen = pd.to_numeric(frame.loc[below, "propensity"], errors="coerce").dropna()
    share = float(seen.iloc[0]) if len(seen) else 0.0
    if below.any() and (abs(share - expected) > 1e-9 or float(np.abs(seen.to_numpy() - share).max(initial=0)) > 1e-9):
        raise LeadscoreError(
            f"--explore {expected:g}: the service at {crm.url} explores {share:g} of the leads below both "
            f"thresholds in {crm.week} (its LEADSCORE_EXPLORE_SHARE); start it with the share you expect"
        )


def _posts(truth: pd.DataFrame, extra: pd.DataFrame, start: int, rng: np.random.Generator) -> pd.DataFrame:
    """Every decision the sales team would post, with the week of the simulation it is posted in
    (decisions of earlier simulations still pending, `extra`, in the first week at the earliest):
    each lead's decision (posted only if the lead was handed over), some twice, some corrected."""
    decided = truth[truth["decided_at"] >= 0]
    n = len(decided)
    rep = [f"rep-{i:03d}" for i in rng.integers(1, REPS + 1, n)]
    first = [
        _body(r, "1", r.decision, r.reason, r.decided_at, p) for r, p in zip(decided.itertuples(), rep, strict=True)
    ]
    again = rng.random(n) < DUPLICATES
    changed = rng.random(n) < CORRECTIONS
    later = decided["decided_at"].to_numpy() + (rng.gamma(2.0, 2.0, n) * fu.DAY).astype(np.int64)
    corrections = [
        _body(r, "2", *(("rejected", "no_budget") if r.decision == "accepted" else ("accepted", None)), at, p)
        for r, at, p, c in zip(decided.itertuples(), later, rep, changed, strict=True)
        if c
    ]
    lead, at = decided["lead_id"].to_numpy(), decided["decided_at"].to_numpy()
    parts = [
        _frame(lead, at, first),
        _frame(lead[again], at[again], [b for b, a in zip(first, again, strict=True) if a], repeat=True),
        _frame(lead[changed], later[changed], corrections, correction=True),
    ]
    if len(extra):
        parts.append(_frame(extra["lead_id"], extra["decided_at"], list(extra["body"]), earlier=True))
    posts = pd.concat(parts, ignore_index=True).sort_values(["at", "repeat"], kind="stable")
    return posts.assign(week=np.maximum(posts["at"].to_numpy() - start, 0) // fu.WEEK)


def _frame(lead_id, at, body, *, repeat=False, correction=False, earlier=False) -> pd.DataFrame:
    """Posts as rows: the lead, when, the body, and whether it repeats, corrects or is earlier."""
    return pd.DataFrame(
        {
            "lead_id": np.asarray(lead_id, dtype=object),
            "at": np.asarray(at, dtype=np.int64),
            "body": body,
            "repeat": repeat,
            "correction": correction,
            "earlier": earlier,
        }
    )


def _body(row, n: str, decision: str, reason: str | None, at: int, rep: str) -> dict:
    """A /feedback body: this lead's `n`th decision about its hand-over at its scoring moment."""
    body = {
        "feedback_id": f"sim-{row.lead_id}-{n}",
        "lead_id": row.lead_id,
        "mql_at": iso(row.scored_at),
        "decision": decision,
        "decided_at": iso(at),
        "rep_id": rep,
    }
    return body | ({"reason": reason} if isinstance(reason, str) else {})
