"""The report's Accounts section as HTML (`reports.accounts` computes it): the accounts each method
would hand to sales week by week and what sales made of them, then the buying groups of the
model's MQAs. Rates, dashes and greying as in the lead tables (`reports.page`); every text that
came from data is escaped."""

from __future__ import annotations

from html import escape

import pandas as pd

from reports import accounts
from reports.compare import MIN_DECIDED, MIN_SHOWN
from reports.page import DASH, day, label, pct, rate_cell, table, whole

# the weekly tables' column groups: the model's MQAs and the rules' accounts, then where they
# differ; keys are `core.style.COLOURS` names, values the spanner's text (None: the group's label)
METHODS = {"model": "The model's MQAs", "rules": "Accounts with a rule MQL"}
OVERLAP = dict.fromkeys(accounts.SENT)
WHO = {"model": accounts.MQAS, "rules": accounts.RULED, **{g: g for g in accounts.SENT}}
OWN = (
    "Each lead in this data is its own account (an export without an account column), so an account view "
    "would only repeat the lead tables above."
)
NO_ANSWER = (
    "This model gives no account answer (it was trained before accounts were scored): train a newer model to "
    "see its MQAs. Below are the accounts the rules would send, and their buying groups."
)
ACCOUNT_RATE_NOTE = (
    "Accepted: of the accounts sales decided on (at least one of their hand-overs in the row accepted, rejected "
    "or recycled), the share with at least one hand-over accepted; accounts with only open hand-overs are left "
    "out. The range after it is the 95% interval."
)
ACCOUNT_FEW_NOTE = (
    f"Greyed: fewer than {MIN_DECIDED} decided accounts, so the rate could be far off (see its range). *Too few "
    f"to say*: fewer than {MIN_SHOWN}; the figures after it are accepted of decided."
)
COUNT_NOTE = (
    "Accounts: accounts with at least one hand-over in the row, each counted once however many of its leads were "
    "handed over."
)


def section(frame: pd.DataFrame, dated: bool) -> str:
    """The whole section for a prepared comparison frame (`compare.prepare`): one sentence when each
    lead is its own account; else what the accounts add up to, the weekly tables (the whole period
    only without dates) and the buying groups."""
    if accounts.own_accounts(frame):
        return f'<p class="note">{OWN}</p>'
    model = accounts.model_answers(frame)
    totals = accounts.totals(frame)
    parts = [] if model else [f'<p class="note">{NO_ANSWER}</p>']
    parts += [overview(totals, len(frame), model), weekly_tables(frame, totals, dated, model)]
    return "".join(parts) + buying_group(accounts.buying_group(frame, model), model)


def overview(totals: pd.DataFrame, handovers: int, model: bool) -> str:
    """What the accounts add up to, in one sentence."""
    n = totals.loc[accounts.ALL, "accounts"]
    text = f"The {whole(handovers)} hand-overs came from <b>{whole(n)} account{'s' if n != 1 else ''}</b>. "
    ruled = whole(totals.loc[accounts.RULED, "accounts"])
    if not model:
        return f"<p>{text}The rules would send sales at least one contact at {ruled} of them.</p>"
    mqas, only = (whole(totals.loc[w, "accounts"]) for w in (accounts.MQAS, "model only"))
    return (
        f"<p>{text}The model would qualify <b>{mqas}</b> of them as MQAs; the rules would send at least one "
        f"contact at <b>{ruled}</b>. {only} would go to sales only by the model, "
        f"{whole(totals.loc['rules only', 'accounts'])} only by the rules.</p>"
    )


def _cells(rates: pd.DataFrame, groups) -> dict:
    cells = {}
    for key in groups:
        row = rates.loc[WHO[key]]
        cells[f"{key}|Accounts"] = whole(row["accounts"])
        cells[f"{key}|Accepted"] = rate_cell(row)
    return cells


def _periods(frame: pd.DataFrame, totals: pd.DataFrame, dated: bool) -> tuple[list, str, int]:
    """The rows of the weekly tables as (label, rates indexed by who), the label column's heading,
    and the weeks a row holds (`accounts.weekly`); the whole period last, alone without dates."""
    if not dated:  # a flat snapshot: no weeks to show
        return [("<b>Whole snapshot</b>", totals)], "Period", 1
    weekly, k = accounts.weekly(frame)
    rows = []
    for (week, weeks), part in weekly.groupby(["week", "weeks"], sort=True):
        short = f' <span class="sub">({weeks} week{"s" if weeks != 1 else ""})</span>' if weeks < k else ""
        rows.append((day(week).replace(" ", "\u00a0") + short, part.set_index("who")))  # a date on one line
    return [*rows, ("<b>Whole period</b>", totals)], ("Week starting" if k == 1 else f"{k} weeks starting"), k


def weekly_tables(frame: pd.DataFrame, totals: pd.DataFrame, dated: bool, model: bool) -> str:
    """Accounts week by week (by blocks of weeks when a week is too thin, as the lead table) and the
    whole period below: all handed over, the model's MQAs and the rules' accounts; then where they
    differ, both / only the model / only the rules. Without the model's answer: the rules' only."""
    periods, heading, k = _periods(frame, totals, dated)
    methods = {key: text for key, text in METHODS.items() if model or key == "rules"}
    rows = [
        {heading: name, "All accounts": whole(rates.loc[accounts.ALL, "accounts"]), **_cells(rates, methods)}
        for name, rates in periods
    ]
    notes = [COUNT_NOTE, ACCOUNT_RATE_NOTE, ACCOUNT_FEW_NOTE, f"{DASH} none of these accounts decided yet."]
    if k > 1:
        notes.insert(0, f"Rows of {k} weeks: one week's accounts that change hands are too few to judge alone.")
    out = table(pd.DataFrame(rows), "accounts-weekly", notes, groups=methods)
    if not model:
        return out
    rows = [{heading: name, **_cells(rates, OVERLAP)} for name, rates in periods]
    return (
        out
        + "<h3>Where the model and the rules differ</h3>"
        + table(pd.DataFrame(rows), "accounts-overlap", ["Accounts and Accepted as in the table above."], OVERLAP)
    )


def buying_group(group: dict, model: bool) -> str:
    """How complete the buying groups were (and how often sales accepted each band), and which
    roles were missing most often."""
    title = "<h3>The buying groups of " + ("the model's MQAs" if model else "the accounts with a rule MQL") + "</h3>"
    whose = "MQAs the model qualified" if model else "accounts with a rule MQL"
    n = group["accounts"]
    if n == 0:
        return title + f'<p class="note">There were no {whose} in this period.</p>'
    bands = group["completeness"].set_index("band")
    every = bands.loc[accounts.BANDS[-1], "accounts"]
    how_many = f"Not one of the {whole(n)} {whose}" if every == 0 else f"Of the {whole(n)} {whose}, {whole(every)}"
    how_many += "" if every == 0 else f" ({pct(every / n)})"
    said = (
        f"<p>{how_many} had someone known and engaged in every role of the buying group at their latest hand-over "
        "as such.</p>"
    )
    rows = [
        {
            "Roles known and engaged": escape(band),
            "Accounts": whole(row["accounts"]),
            "Share": pct(row["share"]),
            "Accepted": rate_cell(row),
        }
        for band, row in bands.iterrows()
    ]
    notes = [
        "Roles known and engaged: of the buying group's roles, those with a known contact at the account who was "
        "active lately, as of the account's latest hand-over counted here.",
        ACCOUNT_RATE_NOTE.replace("in the row", "in the period"),
        ACCOUNT_FEW_NOTE,
        f"{DASH} none of these accounts decided yet.",
    ]
    out = title + said + table(pd.DataFrame(rows), "account-completeness", notes)
    return out + _missing_table(group["missing"])


def _missing_table(missing: pd.DataFrame) -> str:
    """The roles most often missing, with how many of the accounts lacked each."""
    if missing.empty:
        return '<p class="note">Every one of these accounts had its whole buying group known and engaged.</p>'
    rows = [
        {
            "Missing from the buying group": escape(label(row["role"])),
            "Accounts": whole(row["accounts"]),
            "Share": pct(row["share"]),
        }
        for row in missing.to_dict("records")
    ]
    note = "Share: of the accounts above. An account may miss several roles."
    return table(pd.DataFrame(rows), "account-missing-roles", [note])
