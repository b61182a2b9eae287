"""Fit features: who the lead is and how well that matches the ideal customer profile.

Fit attributes do not change with the as-of time here (the contract keeps one profile per lead),
so they are computed once per row, from the `leads` columns only.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pandas as pd

from features.contract import ContractConfig
from features.settings import SENIORITY_LEVELS, FeatureConfig

CATEGORICAL = ("industry", "department", "region", "country", "source")
RANK = {level: rank for rank, level in enumerate(SENIORITY_LEVELS)}


def _normal(text: str) -> str | None:
    return re.sub(r"[\s\-]+", "_", str(text).strip().lower()) or None


def normalise(values: pd.Series) -> pd.Series:
    """Categories as people mean them: case, surrounding blanks and inner spacing do not matter.

    Computed once per distinct value, so a million rows cost what their vocabulary costs."""
    codes, uniques = pd.factorize(values)
    lookup = np.array([_normal(u) for u in uniques] + [None], dtype=object)
    return pd.Series(lookup[codes], index=values.index, dtype=object)


@lru_cache(maxsize=16)
def _compiled(patterns: tuple[tuple[str, tuple[str, ...]], ...]) -> list[tuple[str, re.Pattern]]:
    return [(level, re.compile("|".join(f"(?:{p})" for p in pats), re.IGNORECASE)) for level, pats in patterns]


def parse_seniority(texts: pd.Series, config: FeatureConfig) -> pd.Series:
    """Seniority level from a seniority value or a job title ("VP Sales", "Head of IT", "PhD student")."""
    rules = _compiled(tuple((lvl, tuple(p)) for lvl, p in config.seniority_patterns.items()))

    def level(text: str) -> str | None:
        exact = re.sub(r"[\s\-]+", "_", text.strip().lower())
        if exact in RANK:
            return exact
        for name, pattern in rules:
            if pattern.search(text):
                return name
        return None

    present = texts.dropna()
    lookup = {text: level(text) for text in pd.unique(present)}
    return pd.Series([lookup[t] for t in present], index=present.index, dtype=object).reindex(texts.index)


def _email_type(domains: pd.Series, config: FeatureConfig) -> np.ndarray:
    domain = domains.astype("str").str.strip().str.lower()
    out = np.where(domains.isna(), "unknown", "business").astype(object)
    out[domain.str.endswith(tuple(config.student_email_suffixes)).fillna(False).to_numpy(bool)] = "student"
    out[domain.isin(config.personal_email_domains).to_numpy(bool)] = "personal"
    out[domain.isin(config.competitor_domains).to_numpy(bool)] = "competitor"
    return out


def _band(size: np.ndarray, names: list[str], minimums: list[int]) -> np.ndarray:
    order = np.argsort(minimums)
    edges = np.asarray(minimums)[order]
    labels = np.asarray(names, dtype=object)[order]
    index = np.searchsorted(edges, np.nan_to_num(size, nan=-1), side="right") - 1
    return np.where(np.isnan(size) | (index < 0), "unknown", labels[np.clip(index, 0, None)])


def fit_features(leads: pd.DataFrame, config: FeatureConfig, contract: ContractConfig) -> dict[str, np.ndarray]:
    """Fit feature columns for every row of `leads`, as arrays aligned with its rows."""
    size = pd.to_numeric(leads["company_size"], errors="coerce").to_numpy(dtype=float)
    out: dict[str, np.ndarray] = {"company_size": size}
    out["size_band"] = _band(size, [b.name for b in config.size_bands], [b.min_employees for b in config.size_bands])
    out["segment"] = _band(size, list(config.segments), list(config.segments.values()))
    for name in CATEGORICAL:
        out[name] = normalise(leads[name]).to_numpy(dtype=object)
    text = leads["seniority"].where(leads["seniority"].notna(), leads["job_title"])
    seniority = parse_seniority(text, config)
    out["seniority"] = seniority.to_numpy(dtype=object)
    out["seniority_rank"] = seniority.map(RANK).to_numpy(dtype=float)
    out["email_type"] = _email_type(leads["email_domain"], config)
    icp = config.icp
    flags = {
        "icp_industry": np.isin(out["industry"], icp.industries),
        "icp_segment": np.isin(out["segment"], icp.segments),
        "icp_region": np.isin(out["region"], icp.regions),
        "icp_seniority": np.isin(out["seniority"], icp.seniorities),
        "icp_department": np.isin(out["department"], icp.departments),
    }
    out.update({name: flag.astype(np.int8) for name, flag in flags.items()})
    out["icp_matches"] = sum(flag.astype(np.int8) for flag in flags.values())
    out["is_student"] = ((out["seniority"] == "student") | (out["email_type"] == "student")).astype(np.int8)
    for name, kind in contract.extra_fit_columns.items():
        column = leads[name]
        out[name] = normalise(column).to_numpy(dtype=object) if kind == "categorical" else _number(column)
    for name in contract.counter_columns:
        out[name] = _number(leads[name])
    return out


def _number(column: pd.Series) -> np.ndarray:
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)


def categorical_columns(contract: ContractConfig) -> list[str]:
    """Names of the fit features that are categories rather than numbers."""
    extra = [name for name, kind in contract.extra_fit_columns.items() if kind == "categorical"]
    return ["size_band", "segment", *CATEGORICAL, "seniority", "email_type", *extra]
