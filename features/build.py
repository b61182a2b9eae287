"""`build_features`: one row of fit, engagement and account features per (lead, as-of time).

The same function serves a request for one lead (with its recent events and its account's
contacts) and a batch of a million leads; nothing about a lead's outcome is read, and no event
after a row's as-of time is seen.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from features.contract import ContractConfig
from features.engagement import AccountActivity, LeadActivity
from features.errors import LeadscoreError
from features.fit import RANK, categorical_columns, fit_features, parse_seniority
from features.settings import FeatureConfig
from features.timeline import Clock

STEPS = ("fit", "timelines", "engagement", "account")
Progress = Callable[[str], None]


def _as_of_micros(as_of, rows: pd.DataFrame) -> np.ndarray:
    """As-of times in UTC microseconds, one per row, from a timestamp, a column name or values."""
    if isinstance(as_of, str) and as_of in rows.columns:
        as_of = rows[as_of]
    if isinstance(as_of, pd.Series | np.ndarray | list):
        stamps = pd.to_datetime(pd.Series(np.asarray(as_of), index=rows.index), utc=True, errors="coerce")
        if stamps.isna().any():
            where = np.flatnonzero(stamps.isna().to_numpy())[:5] + 1
            raise LeadscoreError(f"as_of: missing or unparseable time in row(s) {', '.join(map(str, where))}")
        return stamps.dt.as_unit("us").astype("int64").to_numpy()
    try:
        stamp = pd.Timestamp(as_of)
    except (TypeError, ValueError):
        raise LeadscoreError(f"as_of: '{as_of}' is not a timestamp") from None
    if pd.isna(stamp):
        raise LeadscoreError("as_of: a timestamp is required")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return np.full(len(rows), stamp.value // 1_000, dtype=np.int64)  # .value is always nanoseconds


def _micros(values: pd.Series) -> np.ndarray:
    return pd.to_datetime(values, utc=True).dt.as_unit("us").astype("int64").to_numpy()


def _codes(values: pd.Series, index: pd.Index) -> np.ndarray:
    if isinstance(values.dtype, pd.CategoricalDtype):
        mapped = index.get_indexer(values.cat.categories)
        return np.where(values.cat.codes.to_numpy() >= 0, mapped[values.cat.codes.to_numpy()], -1)
    return index.get_indexer(values)


def build_features(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    as_of,
    config: FeatureConfig | None = None,
    contract: ContractConfig | None = None,
    *,
    population: pd.DataFrame | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Features for every row of `leads` as of `as_of`.

    `as_of` is one timestamp, the name of a column of `leads` (e.g. `mql_at`), or one value per
    row; it is the inclusive upper bound of what a feature may see. `leads` may hold a lead more
    than once (one row per hand-over). `population` is every lead known (the account context);
    by default the leads themselves. `events` may hold events of any lead of the population.
    """
    config = config or FeatureConfig()
    contract = contract or ContractConfig()
    step = progress or (lambda _s: None)
    at = _as_of_micros(as_of, leads)
    out: dict[str, np.ndarray] = {"lead_id": leads["lead_id"].to_numpy(dtype=object), "as_of": at}
    out.update(fit_features(leads, config, contract))
    step("fit")

    people = leads if population is None else pd.concat([population, leads], ignore_index=True)
    people = people.drop_duplicates("lead_id", keep="last")
    index = pd.Index(people["lead_id"])
    types = contract.event_types
    ev_lead = _codes(events["lead_id"], index)
    ev_type = pd.Index(types).get_indexer(events["type"])
    known = (ev_lead >= 0) & (ev_type >= 0)
    ev_lead, ev_type, ev_ts = ev_lead[known], ev_type[known], _micros(events["ts"])[known]
    created = _micros(people["created_at"])
    clock = Clock(np.concatenate([ev_ts, created]))
    ev_rank, created_rank = clock.known_ranks[: len(ev_ts)], clock.known_ranks[len(ev_ts) :]
    activity = LeadActivity(clock, ev_lead, ev_ts, ev_rank, ev_type, types, config)
    accounts = pd.Index(pd.unique(people["account_id"]))
    contact_account = accounts.get_indexer(people["account_id"])
    seniority_text = people["seniority"].where(people["seniority"].notna(), people["job_title"])
    rank = parse_seniority(seniority_text, config).map(RANK).to_numpy(dtype=float)
    account_activity = AccountActivity(
        clock, activity, contact_account, created, created_rank, rank, ev_lead, ev_ts, ev_rank, ev_type, config
    )
    step("timelines")

    row_lead = index.get_indexer(leads["lead_id"])
    out.update(_in_order(activity.features, row_lead, at))
    step("engagement")
    out.update(_in_order(account_activity.features, accounts.get_indexer(leads["account_id"]), at))
    out["lead_age_days"] = (at - _micros(leads["created_at"])) / 86_400e6
    step("account")
    frame = pd.DataFrame(out, index=leads.index)
    for name in ["lead_id", *categorical_columns(contract)]:
        # object dtype and None for missing, whatever the rows hold: one lead and a batch look alike
        column = frame[name].astype(object)
        frame[name] = column.where(column.notna(), None)
    frame["as_of"] = pd.to_datetime(frame["as_of"], unit="us", utc=True)
    return frame


def _in_order(compute, key: np.ndarray, at: np.ndarray) -> dict[str, np.ndarray]:
    """Run `compute(key, at)` on rows sorted by (key, at), which keeps every search ascending,
    and return the columns in the caller's row order."""
    order = np.lexsort((at, key))
    if np.all(order[1:] > order[:-1]):
        return compute(key, at)
    columns = compute(key[order], at[order])
    back = np.empty_like(order)
    back[order] = np.arange(len(order))
    return {name: values[back] for name, values in columns.items()}


def feature_names(config: FeatureConfig | None = None, contract: ContractConfig | None = None) -> list[str]:
    """The feature columns `build_features` returns (besides `lead_id` and `as_of`), in order."""
    config = config or FeatureConfig()
    contract = contract or ContractConfig()
    probe = pd.DataFrame(
        {
            "lead_id": ["probe"],
            "account_id": ["probe"],
            "created_at": [pd.Timestamp("2024-01-01", tz="UTC")],
            **{
                c: [None]
                for c in (
                    "email_domain",
                    "job_title",
                    "seniority",
                    "department",
                    "industry",
                    "country",
                    "region",
                    "source",
                    "company_size",
                )
            },
            **{c: [None] for c in [*contract.extra_fit_columns, *contract.counter_columns]},
        }
    )
    empty = pd.DataFrame(
        {"lead_id": pd.Series(dtype=str), "ts": pd.Series(dtype="datetime64[us, UTC]"), "type": pd.Series(dtype=str)}
    )
    names = build_features(probe, empty, "2024-01-02", config, contract).columns
    return [n for n in names if n not in ("lead_id", "as_of")]


def categorical_features(contract: ContractConfig | None = None) -> list[str]:
    return categorical_columns(contract or ContractConfig())
