"""`build_features`: one row of fit, engagement and account features per (lead, as-of time).

The same code serves a request for one lead (with its recent events and its account's
contacts) and a batch of a million leads: `feature_columns` works on numpy column arrays and
`build_features` is its pandas front. Nothing about a lead's outcome is read, and no event after
a row's as-of time is seen.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Literal

import numpy as np
import pandas as pd

from core.errors import LeadscoreError
from features import buying
from features.arrays import (
    Columns,
    arrow_text,
    codes,
    encode,
    join,
    last_codes,
    micros,
    objects,
    per_value,
    take,
    to_columns,
    to_utc,
)
from features.calendar import calendar_features
from features.contract import FIT_CATEGORICAL, FIT_NUMERIC, ContractConfig
from features.engagement import DAY_US, AccountActivity, LeadActivity
from features.fit import RANK, categorical_columns, fit_features, seniority_of
from features.settings import FeatureConfig, derived
from features.spec import FeatureSpec

STEPS = ("fit", "timelines", "engagement", "account")
KEYS = ("lead_id", "account_id", "as_of")  # a feature row's keys, before its features and its context
# what features read of every known person of an account (the lead row is one of them)
PEOPLE = ("lead_id", "account_id", "created_at", "seniority", "job_title", "department")
Progress = Callable[[str], None]
ColumnKind = Literal["text", "time", "number"]  # how a feature table stores a column (`table_columns`)


def row_columns(contract: ContractConfig) -> list[str]:
    """The `leads` columns that features read."""
    return [
        "lead_id",
        "account_id",
        "created_at",
        *FIT_CATEGORICAL,
        *FIT_NUMERIC,
        *contract.extra_fit_columns,
        *contract.counter_columns,
    ]


def feature_columns(
    rows: Columns,
    at: np.ndarray,
    events: Columns,
    config: FeatureConfig,
    contract: ContractConfig,
    population: Columns | None = None,
    progress: Progress | None = None,
) -> Columns:
    """Feature arrays for `rows` (lead columns) as of `at` (UTC microseconds, one per row).

    `events` holds `lead_id`, `ts` (UTC microseconds) and `type`; `population` every known lead
    (the `PEOPLE` columns) for the account context. Besides the features, the columns end with the
    buying group's states (`features.buying.columns`), which no model reads.
    """
    step = progress or (lambda _s: None)
    out: Columns = dict(zip(KEYS, (rows["lead_id"], rows["account_id"], at), strict=True))
    out.update(fit_features(rows, config, contract))
    out.update(calendar_features(at, contract))
    step("fit")

    people, person = _people(rows, population)
    types = _event_types(contract)
    n_people = len(people["lead_id"])
    activity = LeadActivity(*_events(events, people["lead_id"], types), n_people, list(types), config)
    account, accounts = encode(join(people["account_id"], rows["account_id"]))
    seniority = seniority_of(people, config)
    account_activity = AccountActivity(
        activity,
        account[:n_people],
        people["created_at"],
        per_value(seniority, RANK.get).astype(float),
        buying.role_members(people, config, seniority),
        len(accounts),
    )
    step("timelines")

    out.update(activity.features(person, at))
    step("engagement")
    out.update(account_activity.features(account[n_people:], at))
    out["lead_age_days"] = (at - rows["created_at"]) / DAY_US
    for name in buying.columns(config):  # after the features: context, not a model input
        out[name] = out.pop(name)
    step("account")
    return out


def _people(rows: Columns, population: Columns | None) -> tuple[Columns, np.ndarray]:
    """Every known person (`PEOPLE` columns: the population, then the rows; a lead given twice is
    its last), and each row's person among them."""
    both = {n: join(population[n], rows[n]) for n in PEOPLE} if population is not None else rows
    keep, person = last_codes(both["lead_id"])
    return {n: take(both[n], keep) for n in PEOPLE}, person[len(person) - len(rows["lead_id"]) :]


def _events(events: Columns, people: np.ndarray, types: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The events of known people and types: (person code, time, type code)."""
    lead, kind = codes(events["lead_id"], people), codes(events["type"], types)
    ts = np.asarray(events["ts"], dtype=np.int64)
    known = (lead >= 0) & (kind >= 0)
    return (lead, ts, kind) if known.all() else (lead[known], ts[known], kind[known])


@derived
def _event_types(contract: ContractConfig) -> np.ndarray:
    """The contract's event types (their codes are the events' type codes)."""
    return np.asarray(contract.event_types, dtype=object)


def _as_of_micros(as_of, rows: pd.DataFrame) -> np.ndarray:
    """As-of times in UTC microseconds, one per row, from a timestamp, a column name or values."""
    if isinstance(as_of, str) and as_of in rows.columns:
        as_of = rows[as_of]
    if isinstance(as_of, pd.Series | np.ndarray | list):
        stamps = pd.to_datetime(pd.Series(np.asarray(as_of), index=rows.index), utc=True, errors="coerce")
        if stamps.isna().any():
            where = np.flatnonzero(stamps.isna().to_numpy())[:5] + 1
            raise LeadscoreError(f"as_of: missing or unparseable time in row(s) {', '.join(map(str, where))}")
        return micros(stamps)
    try:
        stamp = pd.Timestamp(as_of)
    except (TypeError, ValueError):
        raise LeadscoreError(f"as_of: '{as_of}' is not a timestamp") from None
    if pd.isna(stamp):
        raise LeadscoreError("as_of: a timestamp is required")
    return np.full(len(rows), to_utc(stamp).value // 1_000, dtype=np.int64)  # .value is always nanoseconds


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
    at = _as_of_micros(as_of, leads)
    rows = to_columns(leads, row_columns(contract), keep_categorical=True)
    known = to_columns(population, PEOPLE, keep_categorical=True) if population is not None else None
    columns = feature_columns(
        rows,
        at,
        to_columns(events, ("lead_id", "ts", "type"), keep_categorical=True),
        config,
        contract,
        known,
        progress,
    )
    # the id and the categories as objects with None for missing, as `to_columns` and the fit
    # features make them (pandas would turn them into its Arrow strings): one lead and a batch alike
    text = {"lead_id", *categorical_columns(contract)}
    if arrow_text(columns["account_id"]) is not None:  # as pandas would infer from the same text
        columns["account_id"] = pd.array(columns["account_id"], dtype="str")
    frame = pd.DataFrame(
        {n: pd.Series(objects(v), index=leads.index, dtype=object) if n in text else v for n, v in columns.items()},
        index=leads.index,
    )
    frame["as_of"] = pd.to_datetime(frame["as_of"], unit="us", utc=True)
    return frame


def rows_to_score(dataset, as_of=None, at_handover: bool = False) -> tuple[pd.DataFrame, object]:
    """Which rows to score, and as of when: every hand-over as of its `mql_at`, or every lead that
    existed at `as_of` (default now) as of that time."""
    if at_handover:
        if dataset.outcomes.empty:
            raise LeadscoreError("--at-handover: the data folder has no outcomes table, so no hand-over times")
        return dataset.outcomes[["lead_id", "mql_at"]].merge(dataset.leads, on="lead_id", how="left"), "mql_at"
    when = to_utc(as_of) if as_of is not None else pd.Timestamp.now(tz="UTC")
    return dataset.leads[dataset.leads["created_at"] <= when], when


def account_chunks(
    rows: pd.DataFrame, population: pd.DataFrame, events: pd.DataFrame, size: int
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Positions that split the rows to score into chunks of about `size` rows of whole accounts,
    each with only its accounts' leads and events: (rows, population, events) per chunk. A row's
    features depend on its own account alone, so each chunk gives exactly the features the whole
    would give, and the work grows with the data instead of with chunks x all events."""
    accounts = pd.Index(pd.unique(population["account_id"].to_numpy(dtype=object)))
    lead_account = accounts.get_indexer(population["account_id"].to_numpy(dtype=object))
    owner = pd.Index(population["lead_id"]).get_indexer(events["lead_id"])
    event_account = np.where(owner >= 0, lead_account[owner], -1)
    row_account = accounts.get_indexer(rows["account_id"].to_numpy(dtype=object))
    if (row_account < 0).any() or len(rows) <= size:  # one chunk: everything with everything
        return [(np.arange(len(rows)), np.arange(len(population)), np.arange(len(events)))]
    by = [np.argsort(a, kind="stable") for a in (row_account, lead_account, event_account)]
    keys = [a[order] for a, order in zip((row_account, lead_account, event_account), by, strict=True)]
    # cut between accounts, about every `size` rows
    ends = np.cumsum(np.bincount(row_account, minlength=len(accounts)))
    cuts = np.searchsorted(ends, np.arange(size, len(rows), size), side="left") + 1
    bounds = np.unique(np.concatenate([[0], cuts, [len(accounts)]]))
    chunks = []
    for first, last in itertools.pairwise(bounds):
        part = tuple(o[np.searchsorted(k, first) : np.searchsorted(k, last)] for o, k in zip(by, keys, strict=True))
        if len(part[0]):
            chunks.append(part)
    return chunks


def feature_names(config: FeatureConfig | None = None, contract: ContractConfig | None = None) -> list[str]:
    """The feature columns `build_features` returns (besides `lead_id` and `as_of`), in order: the
    feature spec's names. The buying group's columns (`features.buying.columns`) follow them."""
    return FeatureSpec(config, contract).names


def table_columns(config: FeatureConfig | None = None, contract: ContractConfig | None = None) -> dict[str, ColumnKind]:
    """Every column `build_features` returns, in order, with its kind: the ids (text), the scoring
    time, the features (`feature_names`: a category as text, anything else a number), then the
    buying group's states (numbers that no model reads)."""
    spec = FeatureSpec(config, contract)
    features = {name: "text" if spec[name].kind == "category" else "number" for name in spec.names}
    context = dict.fromkeys(buying.columns(spec.config), "number")
    return {"lead_id": "text", "account_id": "text", "as_of": "time", **features, **context}
