"""The whole funnel, from live traffic: acceptance of model MQLs, rule MQLs and the leads below
both thresholds, from handed-over leads alone (naive) and estimated for every lead by inverse
propensity weighting (`monitoring.ipw`), with what the exploration hold-out measured in words, or,
when it is off, how to switch it on and what it costs."""

from __future__ import annotations

from html import escape

import numpy as np
import pandas as pd

from monitoring.ipw import BELOW, GROUPS, acceptance
from reports.page import DASH, number, table, whole
from reports.sources import within

SETTING = "LEADSCORE_EXPLORE_SHARE"
SUGGESTED = 0.02  # the share proposed when the hold-out is off
PRECISE = 400  # explored decisions that pin a rate near 10% to about +-3 points
NAMES = {"model MQLs": "Model MQLs", "rule MQLs": "Rule MQLs", BELOW: "Below both thresholds"}


def pct(x) -> str:
    """A rate: one decimal under 10% ('5.8%'), whole percents above ('31%'), a dash for none."""
    if x is None or pd.isna(x):
        return DASH
    return f"{x:.1%}" if x < 0.1 else f"{x:.0%}"


def span(low, high) -> str:
    return DASH if pd.isna(low) or pd.isna(high) else f"{pct(low)}–{pct(high)}"


def summary(rows: pd.DataFrame, seed: int = 0, start=None, end=None) -> dict:
    """The figures of the section from `reports.sources.live_funnel` rows scored from `start` (a
    week's Monday or a time) to before `end`: the IPW table, the explored leads, the shares in
    force, the weeks and the leads below both thresholds a week."""
    rows = rows[within(pd.to_datetime(rows["scored_at"], utc=True), start, end)]
    explored = rows["explore"].fillna(False).astype(bool) if "explore" in rows else pd.Series(False, index=rows.index)
    below = rows["below_both"].astype(bool)
    handed_decided = rows.loc[rows["handed"], "accepted"].dropna()
    shares = sorted({float(p) for p in rows.loc[below, "propensity"] if p > 0})
    weeks = max(rows["week"].nunique(), 1)
    return {
        "table": acceptance(rows, GROUPS, seed=seed),
        "explored": int(explored.sum()),
        "explored_decided": rows.loc[explored, "accepted"].dropna(),
        "shares": shares,
        "weeks": weeks,
        "below_per_week": below.sum() / weeks,
        "handed_rate": float(handed_decided.mean()) if len(handed_decided) else np.nan,
    }


def sentence(figures: dict) -> str:
    """What the hold-out measured, or that it is off, how to switch it on and what it costs."""
    below = figures["table"].set_index("group").loc[BELOW]
    per_week = figures["below_per_week"]
    if figures["explored"] == 0:
        cost = SUGGESTED * per_week
        return (
            "<p><b>The exploration hold-out is off</b>: every lead below both thresholds stayed with marketing, so "
            "nobody knows how sales would have judged them, and every rate here is of leads someone chose to send. "
            f"Set <code>{SETTING}</code> on the scoring service (e.g. {SUGGESTED:g}) to send that share of the "
            "leads below both thresholds to sales anyway, drawn at random and marked <code>explore: true</code> in "
            f"the answer. It costs sales that share of the {number(per_week)} leads a week below both thresholds: "
            f"about {number(cost)} a week at {SUGGESTED:.0%}. Some {PRECISE} decided explored leads pin a rate near "
            "10% to about ±3 points"
            + (f": {number(PRECISE / cost)} weeks at {SUGGESTED:.0%}." if cost > 0 else ".")
            + "</p>"
        )
    decided = figures["explored_decided"]
    at = " or ".join(f"{s * 100:g}%" for s in figures["shares"])
    sent = whole(figures["explored"])
    lead = f"<p>The exploration hold-out ({at} of the leads below both thresholds) sent sales {sent} of them"
    if len(decided) == 0:
        return lead + ": none decided yet, so there is no estimate below both thresholds yet.</p>"
    return (
        f"{lead}. <b>Sales accepted {pct(decided.mean())} of the {whole(len(decided))} it decided: an estimated "
        f"{pct(below['estimate'])} ({span(below['low'], below['high'])}) of all {whole(below['n'])} such leads</b>; "
        f"from handed-over leads alone one would have guessed {pct(figures['handed_rate'])}.</p>"
    )


def section(figures: dict) -> str:
    """The sentence and the table: per group, its leads, how many were sent and decided, the
    acceptance of the decided ones and the estimate for every lead of the group."""
    cells = []
    for row in figures["table"].to_dict("records"):
        cells.append(
            {
                "Leads": escape(NAMES.get(row["group"], row["group"])),
                "Scored": whole(row["n"]),
                "Sent to sales": whole(row["handed"]),
                "Decided": whole(row["decided"]),
                "Accepted of those decided": pct(row["naive"]),
                "Estimated for every lead": (
                    f'<b>{pct(row["estimate"])}</b> <span class="sub">{span(row["low"], row["high"])}</span>'
                    if not pd.isna(row["estimate"])
                    else DASH
                ),
            }
        )
    notes = [
        "Accepted of those decided: what sales made of the leads it was sent, all that one sees without a hold-out. "
        "Estimated for every lead: each decided lead weighted by one over its chance of being sent (inverse "
        "propensity weighting), so that it stands in for the leads like it that were not; the range is the 95% "
        f"interval (a bootstrap over the leads). {DASH}: no decided lead to estimate from.",
        *(escape(note) for note in figures["table"]["note"] if note),
    ]
    return sentence(figures) + table(pd.DataFrame(cells), "whole-funnel", notes)
