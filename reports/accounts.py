"""Accounts in the model-vs-rules report: which accounts the model would hand to sales (its
marketing-qualified accounts, MQAs) and which the rules would (an account with a rule MQL), what
sales made of them, and how complete their buying groups were.

Every hand-over carries its account's answer as of that hand-over (`core.schema.ACCOUNT`, the
account_* columns of the comparison frame). Per row of a table (a week, a block of weeks, the whole
period) each account counts once: it is an MQA when any of its hand-overs then carries
account_is_mqa, it has a rule MQL when any carries account_rule_mql, and sales accepted it when
sales accepted at least one of its hand-overs then. Open hand-overs are left out as the lead
tables leave them out: an account none of whose hand-overs then is decided is open. Groups and
acceptance (a 95% Wilson interval) follow `reports.compare`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.schema import listed
from reports.compare import GROUPS, SENT, block_weeks, rate

MQAS, RULED, ALL = "model MQAs", "rule accounts", "all accounts"
WHO = [ALL, MQAS, RULED, *SENT]  # the rows of `rates` for each period
COUNTS = ["accounts", "decided", "accepted"]
RATE = [*COUNTS, "rate", "low", "high"]
# the share of a buying group's roles known and engaged, in bands: 0, under 0.5, 0.5 to under 1, 1
BANDS = ("No role yet", "Under half of its roles", "Half or more, not all", "Every role")
UNKNOWN_BAND = "Not known"


def own_accounts(frame: pd.DataFrame) -> bool:
    """True when every hand-over's account is its lead itself (an export without an account
    column): no account has two leads, so an account view repeats the lead tables."""
    return bool((_account(frame) == frame["lead_id"].astype(str)).all())


def model_answers(frame: pd.DataFrame) -> bool:
    """Whether the model gave an account answer (an account probability) on any hand-over; an
    older model gives none."""
    return bool(frame["account_probability"].notna().any())


def _account(frame: pd.DataFrame) -> pd.Series:
    """Each hand-over's account: its account_id, the lead itself where there is none."""
    return frame["account_id"].fillna(frame["lead_id"]).astype(str)


def _flag(frame: pd.DataFrame, column: str) -> pd.Series:
    """A boolean answer column with its nulls (no answer) as False."""
    return frame[column].astype("boolean").fillna(False).astype(bool)


def per_account(frame: pd.DataFrame, period: pd.Series) -> pd.DataFrame:
    """One row per (period, account) of a prepared frame (`compare.prepare`), `period` giving each
    hand-over's period: `mqa`, `rule` (any hand-over then said so), `group` (both / model only /
    rules only / neither) and `accepted` (1.0 when sales accepted any decided hand-over, 0.0 when
    it decided some and accepted none, NaN when all are open)."""
    rows = pd.DataFrame(
        {
            "period": period.to_numpy(),
            "account_id": _account(frame).to_numpy(),
            "mqa": _flag(frame, "account_is_mqa").to_numpy(),
            "rule": _flag(frame, "account_rule_mql").to_numpy(),
            "accepted": frame["accepted"].to_numpy(dtype=float),
        }
    )
    out = rows.groupby(["period", "account_id"], sort=True).agg(
        mqa=("mqa", "any"), rule=("rule", "any"), accepted=("accepted", "max")
    )
    out = out.reset_index()
    mqa, rule = out["mqa"], out["rule"]
    out["group"] = np.select([mqa & rule, mqa & ~rule, ~mqa & rule], GROUPS[:3], GROUPS[3])
    return out


def rates(accounts: pd.DataFrame) -> pd.DataFrame:
    """Per period of `per_account`'s rows: for all accounts, the MQAs, the accounts with a rule MQL
    and both / model only / rules only, how many accounts, how many decided and accepted, and the
    acceptance with its interval. Columns: period, who, accounts, decided, accepted, rate, low,
    high."""
    pieces = {
        ALL: pd.Series(True, index=accounts.index),
        MQAS: accounts["mqa"],
        RULED: accounts["rule"],
        **{g: accounts["group"] == g for g in SENT},
    }
    rows = []
    for period, part in accounts.groupby("period", sort=True):
        for who, mask in pieces.items():
            accepted = part.loc[mask[part.index], "accepted"]
            rows.append({"period": period, "who": who, "accounts": len(accepted), **_rate(accepted)})
    table = pd.DataFrame(rows, columns=["period", "who", *RATE])
    return table.astype({c: int for c in COUNTS})


def weekly(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The accounts week by week (each account once a week), or by blocks of `k` weeks when a week's
    accounts that change hands are too few to judge (`compare.block_weeks`, on the accounts), and
    `k`. Columns: week (the row's first week), weeks (weeks of it with hand-overs), who and the
    counts and acceptance of `rates`."""
    by_week = rates(per_account(frame, frame["week"]))
    changing = by_week[by_week["who"].isin(SENT)].rename(columns={"period": "week", "accounts": "leads"})
    k = block_weeks(changing)
    first = frame["week"].min()
    start = first + pd.to_timedelta((frame["week"] - first).dt.days // (7 * k) * 7 * k, unit="D")
    table = rates(per_account(frame, start)).rename(columns={"period": "week"})
    weeks = frame.groupby(start)["week"].nunique().rename("weeks")
    table = table.merge(weeks, left_on="week", right_index=True)
    return table[["week", "weeks", "who", *RATE]], k


def totals(frame: pd.DataFrame) -> pd.DataFrame:
    """The whole period, each account once (indexed by who)."""
    return rates(per_account(frame, _one_period(frame))).drop(columns="period").set_index("who")


def buying_group(frame: pd.DataFrame, model: bool = True) -> dict:
    """The buying groups of the model's MQAs (`model`), or of the accounts with a rule MQL: each
    account once, as of its latest hand-over in that group. `accounts` how many; `completeness`
    per band of the share of roles known and engaged (`BANDS`, and `UNKNOWN_BAND` where the answer
    did not say): accounts, their share, and acceptance; `missing` per missing role (the
    account_missing_roles texts): accounts and their share, most often missing first."""
    flag = _flag(frame, "account_is_mqa" if model else "account_rule_mql")
    latest = frame[flag].assign(account=_account(frame)[flag]).sort_values("handed_over_at", kind="stable")
    latest = latest.drop_duplicates("account", keep="last").set_index("account")
    accepted = per_account(frame, _one_period(frame)).set_index("account_id")["accepted"]
    latest["accepted"] = accepted.reindex(latest.index)
    n = len(latest)
    band = _bands(latest["account_completeness"])
    rows = [
        {"band": name, "accounts": int((band == name).sum()), **_rate(latest.loc[band == name, "accepted"])}
        for name in [*BANDS, UNKNOWN_BAND]
        if name != UNKNOWN_BAND or (band == name).any()
    ]
    completeness = pd.DataFrame(rows, columns=["band", *RATE])
    completeness.insert(2, "share", completeness["accounts"] / n if n else np.nan)
    roles = pd.Series([role for text in latest["account_missing_roles"] for role in listed(_text(text))], dtype=object)
    counts = roles.value_counts(sort=False).rename_axis("role").reset_index(name="accounts")
    missing = counts.sort_values(["accounts", "role"], ascending=[False, True], kind="stable").reset_index(drop=True)
    missing["share"] = missing["accounts"] / n if n else np.nan
    return {"accounts": n, "completeness": completeness, "missing": missing}


def _one_period(frame: pd.DataFrame) -> pd.Series:
    """Every hand-over in one period: the whole of the frame."""
    return pd.Series(0, index=frame.index)


def _bands(completeness: pd.Series) -> pd.Series:
    """Each share of the buying group known and engaged (0-1) as one of `BANDS`."""
    c = completeness.astype(float)
    named = np.select([c <= 0, c < 0.5, c < 1, c >= 1], BANDS, UNKNOWN_BAND)
    return pd.Series(named, index=completeness.index)


def _rate(accepted: pd.Series) -> dict:
    """Decided, accepted, acceptance and its interval of accounts' `accepted` (`compare.rate`)."""
    counted = rate(accepted)
    del counted["leads"]
    return counted


def _text(value) -> str | None:
    """A missing-roles text, None for a null of any kind."""
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else value
