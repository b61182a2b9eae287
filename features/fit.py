"""Fit features: who the lead is and how well that matches the ideal customer profile.

Fit attributes do not change with the as-of time here (the contract keeps one profile per lead),
so they are computed once per row, from the `leads` columns only.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from features.arrays import Columns, is_missing, member, per_value
from features.contract import ContractConfig
from features.settings import SENIORITY_LEVELS, FeatureConfig

CATEGORICAL = ("industry", "department", "region", "country", "source")
RANK = {level: float(rank) for rank, level in enumerate(SENIORITY_LEVELS)}


def _normal(text) -> str | None:
    return re.sub(r"[\s\-]+", "_", str(text).strip().lower()) or None


def normalise(values: np.ndarray) -> np.ndarray:
    """Categories as people mean them: case, surrounding blanks and inner spacing do not matter."""
    return per_value(values, _normal)


@lru_cache(maxsize=16)
def _seniority_rules(patterns: tuple[tuple[str, tuple[str, ...]], ...]):
    compiled = [(level, re.compile("|".join(f"(?:{p})" for p in pats), re.IGNORECASE)) for level, pats in patterns]

    @lru_cache(maxsize=100_000)
    def level(text: str) -> str | None:
        exact = re.sub(r"[\s\-]+", "_", text.strip().lower())
        if exact in RANK:
            return exact
        for name, pattern in compiled:
            if pattern.search(text):
                return name
        return None

    return level


def parse_seniority(texts: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Seniority level from a seniority value or a job title ("VP Sales", "Head of IT", "PhD student")."""
    level = _seniority_rules(tuple((lvl, tuple(p)) for lvl, p in config.seniority_patterns.items()))
    return per_value(texts, lambda text: level(str(text)))


def seniority_of(columns: Columns, config: FeatureConfig) -> np.ndarray:
    """The seniority column where given, else parsed from the job title."""
    given, title = columns["seniority"], columns["job_title"]
    missing = np.fromiter((is_missing(v) for v in given), dtype=bool, count=len(given))
    return parse_seniority(np.where(missing, title, given), config)


def _email_type(domains: np.ndarray, config: FeatureConfig) -> np.ndarray:
    personal, competitors = frozenset(config.personal_email_domains), frozenset(config.competitor_domains)
    suffixes = tuple(config.student_email_suffixes)

    def kind(domain) -> str:
        domain = str(domain).strip().lower()
        if domain in competitors:
            return "competitor"
        if domain in personal:
            return "personal"
        return "student" if domain.endswith(suffixes) else "business"

    out = per_value(domains, kind)
    out[out == None] = "unknown"  # noqa: E711 - elementwise comparison on an object array
    return out


def _band(size: np.ndarray, names: list[str], minimums: list[int]) -> np.ndarray:
    """The name of the band whose minimum is the largest at or below each size; "unknown" for a
    missing or negative size."""
    order = np.argsort(minimums)
    edges = np.asarray(minimums, dtype=float)[order]
    labels = np.append(np.asarray(names, dtype=object)[order], "unknown")
    index = np.searchsorted(edges, size, side="right") - 1
    index[np.isnan(size) | (index < 0)] = len(labels) - 1
    return labels[index]


def fit_features(leads: Columns, config: FeatureConfig, contract: ContractConfig) -> Columns:
    """Fit feature columns for every row of `leads`, as arrays aligned with its rows."""
    size = np.asarray(leads["company_size"], dtype=float)
    out: Columns = {"company_size": size}
    out["size_band"] = _band(size, [b.name for b in config.size_bands], [b.min_employees for b in config.size_bands])
    out["segment"] = _band(size, list(config.segments), list(config.segments.values()))
    for name in CATEGORICAL:
        out[name] = normalise(leads[name])
    seniority = seniority_of(leads, config)
    out["seniority"] = seniority
    out["seniority_rank"] = per_value(seniority, RANK.get).astype(float)
    out["email_type"] = _email_type(leads["email_domain"], config)
    icp = config.icp
    flags = {
        "icp_industry": member(out["industry"], icp.industries),
        "icp_segment": member(out["segment"], icp.segments),
        "icp_region": member(out["region"], icp.regions),
        "icp_seniority": member(seniority, icp.seniorities),
        "icp_department": member(out["department"], icp.departments),
    }
    out.update({name: flag.astype(float) for name, flag in flags.items()})
    out["icp_matches"] = sum(flag.astype(float) for flag in flags.values())
    out["is_student"] = ((seniority == "student") | (out["email_type"] == "student")).astype(float)
    for name, kind in contract.extra_fit_columns.items():
        out[name] = normalise(leads[name]) if kind == "categorical" else np.asarray(leads[name], dtype=float)
    for name in contract.counter_columns:
        out[name] = np.asarray(leads[name], dtype=float)
    return out


def categorical_columns(contract: ContractConfig) -> list[str]:
    """Names of the fit features that are categories rather than numbers."""
    extra = [name for name, kind in contract.extra_fit_columns.items() if kind == "categorical"]
    return ["size_band", "segment", *CATEGORICAL, "seniority", "email_type", *extra]
