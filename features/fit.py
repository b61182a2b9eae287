"""Fit features: who the lead is and how well that matches the ideal customer profile.

Fit attributes do not change with the as-of time here (the contract keeps one profile per lead),
so they are computed once per row, from the `leads` columns only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from features.arrays import Columns, coalesce, per_value
from features.contract import ContractConfig
from features.settings import SENIORITY_LEVELS, FeatureConfig, derived

CATEGORICAL = ("industry", "department", "region", "country", "source")
ICP = ("icp_industry", "icp_segment", "icp_region", "icp_seniority", "icp_department")
RANK = {level: float(rank) for rank, level in enumerate(SENIORITY_LEVELS)}


@lru_cache(maxsize=1 << 16)
def normal(text) -> str | None:
    return re.sub(r"[\s\-]+", "_", str(text).strip().lower()) or None


def normalise(values: np.ndarray) -> np.ndarray:
    """Categories as people mean them: case, surrounding blanks and inner spacing do not matter."""
    return per_value(values, normal)


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

    return lambda text: level(str(text))


@dataclass(frozen=True)
class _Plan:
    """What fit features read of a feature config, worked out once per config."""

    level: Callable[[object], str | None]  # seniority of a seniority value or job title
    bands: tuple[np.ndarray, np.ndarray]  # (edges, names + "unknown") of the size bands
    segments: tuple[np.ndarray, np.ndarray]
    icp: Callable[[object], int]  # bit j: in the ICP's industries, segments, regions, seniorities, departments
    email: Callable[[object], str]


@derived
def _plan(config: FeatureConfig) -> _Plan:
    personal, competitors = frozenset(config.personal_email_domains), frozenset(config.competitor_domains)
    suffixes = tuple(config.student_email_suffixes)

    def email(domain) -> str:
        domain = str(domain).strip().lower()
        if domain in competitors:
            return "competitor"
        if domain in personal:
            return "personal"
        return "student" if domain.endswith(suffixes) else "business"

    icp = config.icp
    return _Plan(
        level=_seniority_rules(tuple((lvl, tuple(p)) for lvl, p in config.seniority_patterns.items())),
        bands=_edges([b.name for b in config.size_bands], [b.min_employees for b in config.size_bands]),
        segments=_edges(list(config.segments), list(config.segments.values())),
        icp=_bits([icp.industries, icp.segments, icp.regions, icp.seniorities, icp.departments]),
        email=email,
    )


def _bits(sets: list[list[str]]) -> Callable[[object], int]:
    """A value's membership of each of `sets` as bits (bit j: in set j)."""
    frozen = [frozenset(values) for values in sets]
    return lambda value: sum(1 << j for j, values in enumerate(frozen) if value in values)


def parse_seniority(texts: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Seniority level from a seniority value or a job title ("VP Sales", "Head of IT", "PhD student")."""
    return per_value(texts, _plan(config).level)


def seniority_of(columns: Columns, config: FeatureConfig) -> np.ndarray:
    """The seniority column where given, else parsed from the job title."""
    return parse_seniority(coalesce(columns["seniority"], columns["job_title"]), config)


def _edges(names: list[str], minimums: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Bands by their minimums, ascending, then NaN, and the names each position after a
    `searchsorted` stands for: "unknown" below the smallest minimum, the bands, "unknown" for NaN
    (which sorts after every number)."""
    order = np.argsort(minimums)
    edges = np.append(np.asarray(minimums, dtype=float)[order], np.nan)
    return edges, np.array(["unknown", *np.asarray(names, dtype=object)[order], "unknown"], dtype=object)


def _band(size: np.ndarray, edges: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The name of the band whose minimum is the largest at or below each size; "unknown" for a
    missing size or one below every band."""
    minimums, labels = edges
    return labels[minimums.searchsorted(size, side="right")]


def fit_features(leads: Columns, config: FeatureConfig, contract: ContractConfig) -> Columns:
    """Fit feature columns for every row of `leads`, as arrays aligned with its rows."""
    plan = _plan(config)
    size = np.asarray(leads["company_size"], dtype=float)
    out: Columns = {"company_size": size, "size_band": _band(size, plan.bands), "segment": _band(size, plan.segments)}
    out.update((name, normalise(leads[name])) for name in CATEGORICAL)
    seniority = per_value(coalesce(leads["seniority"], leads["job_title"]), plan.level)
    out["seniority"] = seniority
    out["seniority_rank"] = per_value(seniority, RANK.get).astype(float)
    email = per_value(leads["email_domain"], plan.email, default="unknown")
    out["email_type"] = email
    # one lookup for the five ICP tests: bit j of a value's mask says whether it is in test j's set
    bits = per_value(np.concatenate(_icp_inputs(out, seniority)), plan.icp, default=0).astype(np.int64)
    flags = ((bits.reshape(len(ICP), -1) >> np.arange(len(ICP))[:, None]) & 1).astype(float)
    out.update(zip(ICP, flags, strict=True))
    out["icp_matches"] = flags.sum(axis=0)
    out["is_student"] = ((seniority == "student") | (email == "student")).astype(float)
    for name, kind in contract.extra_fit_columns.items():
        out[name] = normalise(leads[name]) if kind == "categorical" else np.asarray(leads[name], dtype=float)
    for name in contract.counter_columns:
        out[name] = np.asarray(leads[name], dtype=float)
    return out


def _icp_inputs(out: Columns, seniority: np.ndarray) -> tuple[np.ndarray, ...]:
    """What each `ICP` flag tests, in order."""
    return out["industry"], out["segment"], out["region"], seniority, out["department"]


def categorical_columns(contract: ContractConfig) -> list[str]:
    """Names of the fit features that are categories rather than numbers."""
    extra = [name for name, kind in contract.extra_fit_columns.items() if kind == "categorical"]
    return ["size_band", "segment", *CATEGORICAL, "seniority", "email_type", *extra]
