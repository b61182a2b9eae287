"""Synthetic CRM data: leads, their activity and sales' decisions, from a causal story.

Every lead has a latent *fit* (how well it matches the ideal customer profile) and a latent
*intent* (how in-market it is, partly shared by its account). Intent drives activity, which
bursts before a hand-raise and fades afterwards; curiosity drives content consumption, so a
student can download everything and still never buy. Sales accepts a hand-over by fit, by
intent *at hand-over time* and by the account's buying intent, with reason codes that follow
the cause of a rejection, label noise and a drift in the lead mix over the period.

The same seed gives the same bytes; 100,000 leads take a few seconds (all numpy, no loops
over leads).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from features import journeys as j
from features import world as w
from features.contract import DECISIONS, EVENT_TYPES, REASONS
from features.tables import FORMATS, write_table

DAY = 86_400
STAGES = ("people", "activity", "decisions", "recycled leads", "tables")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _pick(rng: np.random.Generator, shares: np.ndarray) -> np.ndarray:
    """One category per row of `shares` (rows sum to 1), vectorised."""
    cum = np.cumsum(shares, axis=-1)
    cum /= cum[..., -1:]
    return (rng.random(shares.shape[0])[:, None] > cum).sum(axis=1)


@dataclass
class People:
    """Latent and observed attributes of every lead, as aligned numpy arrays."""

    created: np.ndarray  # seconds since epoch
    frac: np.ndarray  # position in the period, 0..1 (drives drift)
    kind: np.ndarray  # 0 business, 1 personal, 2 spam
    duplicate: np.ndarray
    competitor: np.ndarray
    segment: np.ndarray
    account: np.ndarray
    seniority: np.ndarray
    fit: np.ndarray
    intent: np.ndarray
    account_intent: np.ndarray
    curiosity: np.ndarray
    source: np.ndarray
    table: dict[str, pa.Array]


def _people(rng: np.random.Generator, n: int, t0: int, days: int) -> People:
    # lead volume grows over the period: density 1 + 0.8 t, sampled by its inverse CDF
    frac = np.sort((np.sqrt(1 + 2.24 * rng.random(n)) - 1) / 0.8)
    created = t0 + (frac * days * DAY).astype(np.int64)
    r = rng.random(n)
    kind = np.where(r < 0.02, 2, np.where(r < 0.13 + 0.08 * frac, 1, 0))
    business = kind == 0
    competitor = business & (rng.random(n) < 0.008)
    segment = _pick(rng, w.SEGMENT_SHARE_START + np.outer(frac, w.SEGMENT_SHARE_END - w.SEGMENT_SHARE_START))
    segment[competitor] = 1
    segment[~business] = 0

    # accounts: a pool per segment; bigger companies have more contacts filling in forms
    contacts_per_account = np.array([1.3, 2.6, 5.0])
    account = np.full(n, -1, dtype=np.int64)
    n_accounts = 0
    for s in range(3):
        members = np.flatnonzero(business & ~competitor & (segment == s))
        size = max(1, round(float(len(members) / contacts_per_account[s])))
        weight = rng.lognormal(0.0, 0.8, size)
        account[members] = n_accounts + rng.choice(size, len(members), p=weight / weight.sum())
        n_accounts += size
    comp = np.flatnonzero(competitor)
    account[comp] = n_accounts + rng.integers(0, len(w.COMPETITOR_DOMAINS), len(comp))
    n_accounts += len(w.COMPETITOR_DOMAINS)
    loners = np.flatnonzero(~business)
    account[loners] = n_accounts + np.arange(len(loners))
    n_accounts += len(loners)

    acc_industry = rng.choice(len(w.INDUSTRIES), n_accounts, p=w.INDUSTRY_SHARE)
    acc_region = rng.choice(len(w.REGIONS), n_accounts, p=w.REGION_SHARE)
    acc_intent = rng.beta(0.7, 2.6, n_accounts)
    acc_country_pick = rng.random(n_accounts)
    acc_size_pick = rng.random(n_accounts)
    acc_name = rng.integers(0, 100, n_accounts)
    acc_industry[n_accounts - len(loners) - len(w.COMPETITOR_DOMAINS) : n_accounts - len(loners)] = 0

    industry = acc_industry[account]
    region = acc_region[account]
    seniority = _pick(rng, w.SENIORITY_SHARE[segment])
    seniority[~business] = _pick(rng, np.tile(w.PERSONAL_SENIORITY_SHARE, ((~business).sum(), 1)))
    department = rng.choice(len(w.DEPARTMENTS), n, p=w.DEPARTMENT_SHARE)
    department[seniority == 0] = w.DEPARTMENTS.index("executive")
    student = seniority == w.SENIORITIES.index("student")

    icp = (
        1.1 * np.isin(industry, [w.INDUSTRIES.index(i) for i in w.ICP_INDUSTRIES])
        + 0.6 * np.isin(region, [w.REGIONS.index(r) for r in w.ICP_REGIONS])
        + 0.6 * np.isin(department, [w.DEPARTMENTS.index(d) for d in w.ICP_DEPARTMENTS])
        + np.array([0.0, 0.7, 0.9])[segment]
        + w.SENIORITY_FIT[seniority]
    )
    fit = _sigmoid(np.where(business, -1.9 + icp, -4.0) + rng.normal(0, 0.45, n))
    industry[~business] = w.INDUSTRIES.index("education")
    intent = np.where(business, 0.55 * acc_intent[account] + 0.45 * rng.beta(0.9, 2.2, n), rng.beta(0.6, 5.0, n))
    curiosity = np.where(student, rng.beta(3.5, 1.8, n), np.where(business, rng.beta(1.3, 3.0, n), rng.beta(2, 2, n)))
    intent[kind == 2] = 0.0
    curiosity[kind == 2] = 0.03

    src_start = np.where(business[:, None], w.SOURCE_SHARE_START, w.PERSONAL_SOURCE_SHARE)
    src_end = np.where(business[:, None], w.SOURCE_SHARE_END, w.PERSONAL_SOURCE_SHARE)
    source = _pick(rng, src_start + frac[:, None] * (src_end - src_start))

    # a duplicate is the same person filling in a form again later: copy an earlier lead
    duplicate = (np.arange(n) > 10) & (rng.random(n) < 0.03) & (kind != 2)
    dup = np.flatnonzero(duplicate)
    orig = (rng.random(len(dup)) * dup).astype(np.int64)
    for arr in (kind, competitor, segment, account, industry, region, seniority, department, fit, source):
        arr[dup] = arr[orig]
    intent[dup] = intent[orig] * 0.5
    curiosity[dup] = curiosity[orig] * 0.3

    table = _observed(
        rng,
        n,
        created,
        kind,
        account,
        acc_name,
        acc_country_pick,
        acc_size_pick,
        segment,
        competitor,
        industry,
        region,
        seniority,
        department,
        source,
        student,
    )
    return People(
        created,
        frac,
        kind,
        duplicate,
        competitor,
        segment,
        account,
        seniority,
        fit,
        intent,
        acc_intent[account],
        curiosity,
        source,
        table,
    )


def _observed(
    rng,
    n,
    created,
    kind,
    account,
    acc_name,
    acc_country_pick,
    acc_size_pick,
    segment,
    competitor,
    industry,
    region,
    seniority,
    department,
    source,
    student,
) -> dict[str, pa.Array]:
    """What the CRM actually holds about each lead: messy, partly missing, no latent truth."""
    business = kind == 0

    def missing(share: float) -> np.ndarray:
        return rng.random(n) < share

    names = np.array([a + b for a in w.NAME_PARTS[0] for b in w.NAME_PARTS[1]])
    domain = np.char.add(np.char.add(names[acc_name[account]], account.astype(str)), ".com").astype(object)
    personal_domain = np.array(w.PERSONAL_DOMAINS, dtype=object)[rng.integers(0, len(w.PERSONAL_DOMAINS), n)]
    domain = np.where(business & missing(0.15) | (kind == 1), personal_domain, domain)
    uni = np.char.add(np.char.add("univ", rng.integers(0, 200, n).astype(str)), ".edu").astype(object)
    domain = np.where(student & (rng.random(n) < 0.35), uni, domain)
    domain = np.where(
        competitor, np.array(w.COMPETITOR_DOMAINS, dtype=object)[account % len(w.COMPETITOR_DOMAINS)], domain
    )
    domain = np.where(kind == 2, np.array(w.SPAM_DOMAINS, dtype=object)[rng.integers(0, 4, n)], domain)

    lookup = np.array(
        [
            t.replace("{D}", w.DEPARTMENT_WORDS[d][0]).replace("{DA}", w.DEPARTMENT_WORDS[d][1])
            for s in range(len(w.SENIORITIES))
            for t in w.TITLES[s]
            for d in w.DEPARTMENTS
        ],
        dtype=object,
    )
    title = lookup[(seniority * 5 + rng.integers(0, 5, n)) * len(w.DEPARTMENTS) + department]
    title = np.where(kind == 2, np.array(w.SPAM_TITLES, dtype=object)[rng.integers(0, 5, n)], title)

    lo = np.array([r[0] for r in w.SEGMENT_SIZE_RANGE])[segment]
    hi = np.array([r[1] for r in w.SEGMENT_SIZE_RANGE])[segment]
    size = np.round(lo * (hi / lo) ** acc_size_pick[account]).astype(np.int64)
    country_lists = [np.array(c, dtype=object) for c in w.COUNTRIES]
    country = np.empty(n, dtype=object)
    for r, options in enumerate(country_lists):
        mask = region == r
        country[mask] = options[(acc_country_pick[account[mask]] * len(options)).astype(int)]

    def col(values, mask=None, vocab=None):
        values = np.asarray(vocab, dtype=object)[values] if vocab is not None else values
        return pa.array(values, mask=mask, type=pa.string() if values.dtype == object else None)

    ids = pa.array([f"L{i:08d}" for i in range(n)])
    return {
        "lead_id": ids,
        "account_id": pa.array(np.char.add("A", np.char.zfill(account.astype(str), 8))),
        "created_at": pa.array(created, type=pa.timestamp("s", tz="UTC")),
        "email_domain": col(domain),
        "job_title": col(title),
        "seniority": col(seniority, missing(0.45) | (kind == 2), w.SENIORITIES),
        "department": col(department, ~business | missing(0.1), w.DEPARTMENTS),
        "company_size": pa.array(size, mask=~business | missing(0.12)),
        "industry": col(industry, (kind == 2) | (kind == 1) & ~student | missing(0.08), w.INDUSTRIES),
        "country": col(country, (kind == 2) | missing(0.06)),
        "region": col(region, (kind == 2) | missing(0.04), w.REGIONS),
        "source": col(source, None, w.SOURCES),
    }


def generate(
    n_leads: int,
    seed: int,
    start: str = "2024-01-01",
    days: int = 730,
    progress: Callable[[str], None] | None = None,
) -> dict[str, pa.Table]:
    """The `leads`, `events` and `outcomes` tables of a synthetic CRM with `n_leads` leads."""
    if n_leads < 1:
        raise ValueError("n_leads must be at least 1")
    step = progress or (lambda _stage: None)
    rng = np.random.default_rng(seed)
    t0 = int(pd.Timestamp(start, tz="UTC").timestamp())
    end = t0 + days * DAY
    people = _people(rng, n_leads, t0, days)
    step("people")

    first = j.first_episodes(rng, people, end)
    events_1, intent_now_1, demo_1 = j.activity(rng, people, first, end)
    step("activity")
    handed = first.mql >= 0
    handed_1 = j.Episodes(*(a[handed] for a in (first.lead, first.start, first.mql, first.intent)))
    decision_1, reason_1, decided_1 = j.decide(
        rng, people, handed_1, intent_now_1[handed], demo_1[handed], t0, days, end
    )
    after_1 = j.after_handover(rng, handed_1, decision_1, end)
    step("decisions")

    second = j.returning_episodes(rng, handed_1, decision_1, decided_1, end)
    events_2, intent_now_2, demo_2 = j.activity(rng, people, second, end)
    decision_2, reason_2, decided_2 = j.decide(rng, people, second, intent_now_2, demo_2, t0, days, end)
    after_2 = j.after_handover(rng, second, decision_2, end)
    step("recycled leads")

    events = j.Events.concat([events_1, after_1, events_2, after_2])
    outcomes = (
        np.concatenate([handed_1.lead, second.lead]),
        np.concatenate([handed_1.mql, second.mql]),
        np.concatenate([decision_1, decision_2]),
        np.concatenate([reason_1, reason_2]),
        np.concatenate([decided_1, decided_2]),
    )
    tables = {
        "leads": pa.table(people.table),
        "events": _events_table(events, people.table["lead_id"]),
        "outcomes": _outcomes_table(*outcomes, people.table["lead_id"]),
    }
    step("tables")
    return tables


def _events_table(ev: j.Events, lead_ids: pa.Array) -> pa.Table:
    order = np.lexsort((ev.type, ev.ts, ev.lead))
    detail = ev.detail[order]
    return pa.table(
        {
            "lead_id": pa.DictionaryArray.from_arrays(pa.array(ev.lead[order].astype(np.int32)), lead_ids),
            "ts": pa.array(ev.ts[order], type=pa.timestamp("s", tz="UTC")),
            "type": pa.DictionaryArray.from_arrays(pa.array(ev.type[order]), pa.array(EVENT_TYPES)),
            "detail": pa.DictionaryArray.from_arrays(
                pa.array(np.maximum(detail, 0), mask=detail < 0), pa.array(j.DETAILS)
            ),
        }
    )


def _outcomes_table(lead, mql, decision, reason, decided, lead_ids: pa.Array) -> pa.Table:
    order = np.lexsort((lead, mql))
    lead, mql, decision, reason, decided = (a[order] for a in (lead, mql, decision, reason, decided))
    return pa.table(
        {
            "lead_id": lead_ids.take(pa.array(lead)),
            "mql_at": pa.array(mql, type=pa.timestamp("s", tz="UTC")),
            "decision": pa.array(np.asarray(DECISIONS, dtype=object)[decision], type=pa.string()),
            "reason": pa.array(
                np.asarray(REASONS, dtype=object)[np.maximum(reason, 0)], mask=reason < 0, type=pa.string()
            ),
            "decided_at": pa.array(decided, mask=decided < 0, type=pa.timestamp("s", tz="UTC")),
        }
    )


def write_dataset(tables: dict[str, pa.Table], out: Path, fmt: str = "parquet") -> dict[str, Path]:
    """Write each table as `out/NAME.FMT`; returns the paths written."""
    paths = {}
    for name, table in tables.items():
        paths[name] = out / f"{name}.{fmt}"
        write_table(table, paths[name])
        for other in FORMATS:
            if other != fmt:
                (out / f"{name}.{other}").unlink(missing_ok=True)  # a stale copy would be ambiguous
    return paths
