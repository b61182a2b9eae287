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
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from features.contract import DECISIONS, EVENT_TYPES, REASONS
from features.tables import FORMATS, write_table
from synthetic import journeys as j
from synthetic import world as w

DAY = 86_400
STAGES = ("people", "activity", "decisions", "recycled leads", "tables")
# what a duplicate takes over from the lead it copies (its intent and curiosity are damped instead)
COPIED_BY_A_DUPLICATE = (
    "kind",
    "competitor",
    "segment",
    "account",
    "industry",
    "region",
    "seniority",
    "department",
    "fit",
    "source",
)


def lead_id(number: int) -> str:
    """The id of the generated world's lead `number`."""
    return f"L{number:08d}"


def account_id(numbers: np.ndarray) -> np.ndarray:
    """The ids of the generated world's accounts `numbers`."""
    return np.char.add("A", np.char.zfill(numbers.astype(str), 8))


def _frac(ep: j.Episodes, t0: int, days: int) -> np.ndarray:
    """Each hand-over's position in the period, 0..1 (sales' bar rises over it)."""
    return (ep.mql - t0) / (days * DAY)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function."""
    return 1.0 / (1.0 + np.exp(-x))


def _pick(rng: np.random.Generator, shares: np.ndarray) -> np.ndarray:
    """One category per row of `shares` (rows sum to 1), vectorised."""
    cum = np.cumsum(shares, axis=-1)
    cum /= cum[..., -1:]
    return (rng.random(shares.shape[0])[:, None] > cum).sum(axis=1)


def _missing(rng: np.random.Generator, n: int, share: float) -> np.ndarray:
    """Which of `n` values a CRM leaves empty, `share` of them on average."""
    return rng.random(n) < share


def people_of(rng: np.random.Generator, n: int, t0: int, days: int) -> j.People:
    """Who the leads are: when they arrive, their company, role, fit, intent, curiosity and
    channel; a few are later duplicates of earlier ones."""
    frac, created, kind, competitor, segment = _arrivals(rng, n, t0, days)
    account, accounts = accounts_of(rng, kind == 0, competitor, segment)
    return lives(rng, frac, created, kind, competitor, segment, account, accounts)


def lives(
    rng: np.random.Generator,
    frac: np.ndarray,
    created: np.ndarray,
    kind: np.ndarray,
    competitor: np.ndarray,
    segment: np.ndarray,
    account: np.ndarray,
    accounts: j.Accounts,
) -> j.People:
    """The rest of who arriving leads are (role, fit, intent, curiosity, channel; a few later
    duplicates), given when they arrive, their kind, segment and account: the generator's story,
    which the simulated future (synthetic/future.py) continues with `frac` = 1."""
    n, business = len(kind), kind == 0
    industry, region = accounts.industry[account], accounts.region[account]
    seniority, department = _roles(rng, segment, business)
    student = seniority == w.SENIORITIES.index("student")
    fit = _fit(rng, business, industry, region, department, segment, seniority)
    industry[~business] = w.INDUSTRIES.index("education")
    intent = np.where(business, 0.55 * accounts.intent[account] + 0.45 * rng.beta(0.9, 2.2, n), rng.beta(0.6, 5.0, n))
    curiosity = np.where(student, rng.beta(3.5, 1.8, n), np.where(business, rng.beta(1.3, 3.0, n), rng.beta(2, 2, n)))
    intent[kind == 2] = 0.0
    curiosity[kind == 2] = 0.03
    src_start = np.where(business[:, None], w.SOURCE_SHARE_START, w.PERSONAL_SOURCE_SHARE)
    src_end = np.where(business[:, None], w.SOURCE_SHARE_END, w.PERSONAL_SOURCE_SHARE)
    source = _pick(rng, src_start + frac[:, None] * (src_end - src_start))
    people = j.People(
        created=created,
        frac=frac,
        kind=kind,
        competitor=competitor,
        segment=segment,
        account=account,
        accounts=accounts,
        industry=industry,
        region=region,
        seniority=seniority,
        department=department,
        student=student,
        fit=fit,
        intent=intent,
        curiosity=curiosity,
        source=source,
        duplicate=np.zeros(n, dtype=bool),
    )
    _copy_duplicates(rng, people)
    return people


def _arrivals(rng: np.random.Generator, n: int, t0: int, days: int) -> tuple[np.ndarray, ...]:
    """When each lead arrives (position in the period and time), its kind (business, personal,
    spam), whether it is a competitor, and its segment; the mix drifts over the period."""
    # lead volume grows over the period: density 1 + 0.8 t, sampled by its inverse CDF
    frac = np.sort((np.sqrt(1 + 2.24 * rng.random(n)) - 1) / 0.8)
    created = t0 + (frac * days * DAY).astype(np.int64)
    return (frac, created, *kinds(rng, frac))


def kinds(rng: np.random.Generator, frac: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each arriving lead's kind (business, personal, spam), whether it is a competitor, and its
    segment, by its position `frac` in the period (the mix drifts towards personal leads and SMB)."""
    n = len(frac)
    r = rng.random(n)
    kind = np.where(r < 0.02, 2, np.where(r < 0.13 + 0.08 * frac, 1, 0))
    business = kind == 0
    competitor = business & (rng.random(n) < 0.008)
    segment = _pick(rng, w.SEGMENT_SHARE_START + np.outer(frac, w.SEGMENT_SHARE_END - w.SEGMENT_SHARE_START))
    segment[competitor] = 1
    segment[~business] = 0
    return kind, competitor, segment


def accounts_of(
    rng: np.random.Generator, business: np.ndarray, competitor: np.ndarray, segment: np.ndarray
) -> tuple[np.ndarray, j.Accounts]:
    """Each lead's account and every account's traits: a pool of companies per segment (bigger
    ones have more contacts filling in forms), one account per competitor, one per loner."""
    contacts_per_account = np.array([1.3, 2.6, 5.0])
    account = np.full(len(business), -1, dtype=np.int64)
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

    accounts = j.Accounts(
        industry=rng.choice(len(w.INDUSTRIES), n_accounts, p=w.INDUSTRY_SHARE),
        region=rng.choice(len(w.REGIONS), n_accounts, p=w.REGION_SHARE),
        intent=rng.beta(0.7, 2.6, n_accounts),
        country_pick=rng.random(n_accounts),
        size_pick=rng.random(n_accounts),
        name=rng.integers(0, 100, n_accounts),
    )
    accounts.industry[n_accounts - len(loners) - len(w.COMPETITOR_DOMAINS) : n_accounts - len(loners)] = 0
    return account, accounts


def _roles(rng: np.random.Generator, segment: np.ndarray, business: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each lead's seniority (by segment; personal leads are mostly students) and department."""
    seniority = _pick(rng, w.SENIORITY_SHARE[segment])
    seniority[~business] = _pick(rng, np.tile(w.PERSONAL_SENIORITY_SHARE, ((~business).sum(), 1)))
    department = rng.choice(len(w.DEPARTMENTS), len(segment), p=w.DEPARTMENT_SHARE)
    department[seniority == 0] = w.DEPARTMENTS.index("executive")
    return seniority, department


def _fit(rng: np.random.Generator, business, industry, region, department, segment, seniority) -> np.ndarray:
    """Latent fit, 0..1: how well each lead matches the ideal customer profile."""
    icp = (
        1.1 * np.isin(industry, [w.INDUSTRIES.index(i) for i in w.ICP_INDUSTRIES])
        + 0.6 * np.isin(region, [w.REGIONS.index(r) for r in w.ICP_REGIONS])
        + 0.6 * np.isin(department, [w.DEPARTMENTS.index(d) for d in w.ICP_DEPARTMENTS])
        + np.array([0.0, 0.7, 0.9])[segment]
        + w.SENIORITY_FIT[seniority]
    )
    return _sigmoid(np.where(business, -1.9 + icp, -4.0) + rng.normal(0, 0.45, len(business)))


def _copy_duplicates(rng: np.random.Generator, people: j.People) -> None:
    """Mark a few leads as the same person filling in a form again later, and copy an earlier
    lead into each (in place), with less intent and curiosity the second time."""
    n = len(people.kind)
    people.duplicate = (np.arange(n) > 10) & (rng.random(n) < 0.03) & (people.kind != 2)
    dup = np.flatnonzero(people.duplicate)
    orig = (rng.random(len(dup)) * dup).astype(np.int64)
    for name in COPIED_BY_A_DUPLICATE:
        getattr(people, name)[dup] = getattr(people, name)[orig]
    people.intent[dup] = people.intent[orig] * 0.5
    people.curiosity[dup] = people.curiosity[orig] * 0.3


def observed(rng: np.random.Generator, people: j.People, first_id: int = 0) -> dict[str, pa.Array]:
    """What the CRM actually holds about each lead (ids from L{first_id}): messy, partly missing,
    no latent truth."""
    n, kind, business = len(people.kind), people.kind, people.kind == 0
    domain, title = _email_domains(rng, people), _job_titles(rng, people)

    def col(values: np.ndarray, mask: np.ndarray | None = None, vocab: tuple[str, ...] | None = None) -> pa.Array:
        """A column, its codes spelt out by `vocab` when given, empty where `mask` holds."""
        values = np.asarray(vocab, dtype=object)[values] if vocab is not None else values
        return pa.array(values, mask=mask, type=pa.string() if values.dtype == object else None)

    ids = pa.array([lead_id(i) for i in range(first_id, first_id + n)])
    return {
        "lead_id": ids,
        "account_id": pa.array(account_id(people.account)),
        "created_at": pa.array(people.created, type=pa.timestamp("s", tz="UTC")),
        "email_domain": col(domain),
        "job_title": col(title),
        "seniority": col(people.seniority, _missing(rng, n, 0.45) | (kind == 2), w.SENIORITIES),
        "department": col(people.department, ~business | _missing(rng, n, 0.1), w.DEPARTMENTS),
        "company_size": pa.array(_company_sizes(people), mask=~business | _missing(rng, n, 0.12)),
        "industry": col(
            people.industry, (kind == 2) | (kind == 1) & ~people.student | _missing(rng, n, 0.08), w.INDUSTRIES
        ),
        "country": col(_countries(people), (kind == 2) | _missing(rng, n, 0.06)),
        "region": col(people.region, (kind == 2) | _missing(rng, n, 0.04), w.REGIONS),
        "source": col(people.source, None, w.SOURCES),
    }


def _email_domains(rng: np.random.Generator, people: j.People) -> np.ndarray:
    """Each lead's email domain: the company's, else a personal, university, competitor or spam one."""
    n, kind, account = len(people.kind), people.kind, people.account
    names = np.array([a + b for a in w.NAME_PARTS[0] for b in w.NAME_PARTS[1]])
    domain = np.char.add(np.char.add(names[people.accounts.name[account]], account.astype(str)), ".com").astype(object)
    personal_domain = np.array(w.PERSONAL_DOMAINS, dtype=object)[rng.integers(0, len(w.PERSONAL_DOMAINS), n)]
    domain = np.where((kind == 0) & _missing(rng, n, 0.15) | (kind == 1), personal_domain, domain)
    uni = np.char.add(np.char.add("univ", rng.integers(0, 200, n).astype(str)), ".edu").astype(object)
    domain = np.where(people.student & (rng.random(n) < 0.35), uni, domain)
    domain = np.where(
        people.competitor, np.array(w.COMPETITOR_DOMAINS, dtype=object)[account % len(w.COMPETITOR_DOMAINS)], domain
    )
    return np.where(kind == 2, np.array(w.SPAM_DOMAINS, dtype=object)[rng.integers(0, 4, n)], domain)


def _job_titles(rng: np.random.Generator, people: j.People) -> np.ndarray:
    """Each lead's job title as people write it: one of five spellings of its seniority and department."""
    n = len(people.kind)
    lookup = np.array(
        [
            t.replace("{D}", w.DEPARTMENT_WORDS[d][0]).replace("{DA}", w.DEPARTMENT_WORDS[d][1])
            for s in range(len(w.SENIORITIES))
            for t in w.TITLES[s]
            for d in w.DEPARTMENTS
        ],
        dtype=object,
    )
    title = lookup[(people.seniority * 5 + rng.integers(0, 5, n)) * len(w.DEPARTMENTS) + people.department]
    return np.where(people.kind == 2, np.array(w.SPAM_TITLES, dtype=object)[rng.integers(0, 5, n)], title)


def _company_sizes(people: j.People) -> np.ndarray:
    """Each lead's company size: the account's pick within its segment's range (log scale)."""
    lo = np.array([r[0] for r in w.SEGMENT_SIZE_RANGE])[people.segment]
    hi = np.array([r[1] for r in w.SEGMENT_SIZE_RANGE])[people.segment]
    return np.round(lo * (hi / lo) ** people.accounts.size_pick[people.account]).astype(np.int64)


def _countries(people: j.People) -> np.ndarray:
    """Each lead's country: the account's pick among its region's countries."""
    country = np.empty(len(people.region), dtype=object)
    for r, options in enumerate(np.array(c, dtype=object) for c in w.COUNTRIES):
        mask = people.region == r
        country[mask] = options[(people.accounts.country_pick[people.account[mask]] * len(options)).astype(int)]
    return country


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
    people = people_of(rng, n_leads, t0, days)
    leads = observed(rng, people)
    step("people")

    first = j.first_episodes(rng, people, end)
    events_1, intent_now_1, demo_1 = j.activity(rng, people, first, end)
    step("activity")
    handed = first.mql >= 0
    handed_1 = first.take(handed)
    decided_1, _ = j.decide(rng, people, handed_1, intent_now_1[handed], demo_1[handed], _frac(handed_1, t0, days), end)
    after_1 = j.after_handover(rng, handed_1, decided_1.decision, end)
    step("decisions")

    second = j.returning_episodes(rng, handed_1, decided_1, end)
    events_2, intent_now_2, demo_2 = j.activity(rng, people, second, end)
    decided_2, _ = j.decide(rng, people, second, intent_now_2, demo_2, _frac(second, t0, days), end)
    after_2 = j.after_handover(rng, second, decided_2.decision, end)
    step("recycled leads")

    tables = {
        "leads": pa.table(leads),
        "events": _events_table(j.Events.concat([events_1, after_1, events_2, after_2]), leads["lead_id"]),
        "outcomes": _outcomes_table(
            np.concatenate([handed_1.lead, second.lead]),
            np.concatenate([handed_1.mql, second.mql]),
            j.Decisions.concat([decided_1, decided_2]),
            leads["lead_id"],
        ),
    }
    step("tables")
    return tables


def _events_table(ev: j.Events, lead_ids: pa.Array) -> pa.Table:
    """The event log ordered by lead, time and type, with lead ids and details as dictionaries."""
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


def _outcomes_table(lead: np.ndarray, mql: np.ndarray, decided: j.Decisions, lead_ids: pa.Array) -> pa.Table:
    """One row per hand-over, ordered by time: the lead, when, and what sales decided."""
    order = np.lexsort((lead, mql))
    lead, mql = lead[order], mql[order]
    decision, reason, decided = decided.decision[order], decided.reason[order], decided.decided_at[order]
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
