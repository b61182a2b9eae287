"""A small two-file B2B export as CRMs write it, for the import, audit and `mapping init` tests:
`leads.csv` (one row per marketing-qualified lead, employees as numbers and as bands, a 'Select'
placeholder in two form fields) and `deals.csv` (one row per won deal, keyed by `mql_id`, with the
won date and the deal's own fields: known only for won leads, so each of them is a leak)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

BANDS = {"1-10": 5, "11-50": 30, "51-200": 120, "201-500": 350, "501-1000": 700, "1001-5000": 2500, "10,001+": 20000}


def write_export(folder: Path, n: int = 600, seed: int = 0) -> tuple[Path, Path]:
    """Write leads.csv and deals.csv into `folder`; the won rate rises with company size and page views."""
    rng = np.random.default_rng(seed)
    band = rng.choice(list(BANDS), n)
    size = np.array([BANDS[b] for b in band]) * rng.uniform(0.8, 1.2, n)
    employees = np.where(rng.random(n) < 0.5, band, np.round(size).astype(int).astype(str))
    origin = rng.choice(["organic_search", "paid_search", "social", "email", "Select"], n)
    views = rng.poisson(3, n)
    logit = -1.6 + 0.35 * np.log10(size) + 0.25 * views + np.where(origin == "paid_search", 0.6, 0.0)
    won = rng.random(n) < 1 / (1 + np.exp(-logit))
    contact = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300 * 24, n), unit="h")
    leads = pd.DataFrame(
        {
            "mql_id": [f"mql{i:05d}" for i in range(n)],
            "first_contact_date": contact.strftime("%Y-%m-%d %H:%M:%S"),
            "origin": origin,
            "landing_page_id": rng.choice(["lp_a", "lp_b", "lp_c", "Select"], n),
            "Employees": employees,
            "page_views": views.astype(str),
        }
    )
    wins = np.flatnonzero(won)
    deals = pd.DataFrame(
        {
            "mql_id": leads["mql_id"].to_numpy()[wins],
            "won_date": (contact[wins] + pd.to_timedelta(rng.integers(1, 60, len(wins)), unit="D")).strftime(
                "%Y-%m-%d %H:%M:%S"
            ),
            "seller_id": rng.choice(["s1", "s2", "s3", "s4"], len(wins)),
            "business_segment": rng.choice(["retail", "health", "home"], len(wins)),
            "declared_monthly_revenue": rng.integers(0, 50_000, len(wins)).astype(str),
        }
    ).sample(frac=1, random_state=seed)  # a CRM lists deals in its own order
    leads_path, deals_path = folder / "leads.csv", folder / "deals.csv"
    leads.to_csv(leads_path, index=False)
    deals.to_csv(deals_path, index=False)
    return leads_path, deals_path


def mapping(**changes) -> dict:
    """The mapping a person would write for the export: deal fields excluded, won if a deal exists."""
    deal = "a deal field: known only once the deal is won"
    return {
        "source": "two-file B2B export",
        "id_column": "mql_id",
        "label": {"exists_in": "deals.csv"},
        "times": {
            "exported_at": "2025-06-01T00:00:00Z",
            "created_at": "first_contact_date",
            "mql_at": "first_contact_date",
            "decided_at": ["won_date", "exported_at"],
        },
        "missing_values": ["", "Select"],
        "columns": {
            "origin": {"role": "fit", "as": "source"},
            "landing_page_id": {"role": "fit", "as": "landing_page"},
            "Employees": {"role": "fit", "as": "company_size"},
            "page_views": {"role": "counter"},
        },
        "files": {
            "deals.csv": {
                "key": "mql_id",
                "columns": {
                    "seller_id": {"role": "exclude", "reason": deal},
                    "business_segment": {"role": "exclude", "reason": deal},
                    "declared_monthly_revenue": {"role": "exclude", "reason": deal},
                },
            }
        },
    } | changes


def write_mapping(path: Path, **changes) -> Path:
    path.write_text(yaml.safe_dump(mapping(**changes), sort_keys=False), encoding="utf-8")
    return path
