"""Feature configuration: windows, decay, the ideal customer profile, how to read titles and the
buying group.

One YAML file (`features/defaults/features.yaml` documents every field and equals these defaults).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from features import names
from features.contract import EVENT_TYPES

T = TypeVar("T")
R = TypeVar("R")


def derived(build: Callable[[T], R]) -> Callable[[T], R]:
    """`build(config)` computed once per config object and kept: the lookups features read on every
    call, made once. The configs are frozen (pydantic `frozen=True`): a changed setting is a new
    config, never a stale lookup."""
    made: dict[int, tuple[T, R]] = {}

    @functools.wraps(build)
    def get(config: T) -> R:
        hit = made.get(id(config))
        if hit is None or hit[0] is not config:
            if len(made) >= 32:
                made.clear()
            hit = made[id(config)] = (config, build(config))
        return hit[1]

    return get


SENIORITY_LEVELS = ("student", "intern", "individual_contributor", "manager", "director", "vp", "c_level")


class SizeBand(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)  # read once, kept (`derived`)
    name: str
    min_employees: int = Field(ge=0)


class IdealCustomerProfile(BaseModel):
    """Values that count as a match; each gives one `icp_*` flag and adds to `icp_matches`."""

    model_config = ConfigDict(extra="forbid", frozen=True)  # read once, kept (`derived`)
    industries: list[str] = ["software", "financial_services", "healthcare", "manufacturing"]
    segments: list[str] = ["mid_market", "enterprise"]
    regions: list[str] = ["north_america", "emea"]
    seniorities: list[str] = ["c_level", "vp", "director", "manager"]
    departments: list[str] = ["marketing", "sales", "operations", "executive"]


class BuyingRole(BaseModel):
    """One role of the buying group and who fills it: a person of one of `seniorities` (any when
    empty) who works in one of `departments` or whose job title matches one of `titles` (anyone of
    those seniorities when both are empty)."""

    model_config = ConfigDict(extra="forbid", frozen=True)  # read once, kept (`derived`)
    name: str = Field(pattern=r"^[a-z_]+$", description="Identifier: the column buying_<name>.")
    label: str = Field(min_length=1, description="The role in words: 'someone in finance or procurement'.")
    seniorities: list[str] = Field(default_factory=list, description="Seniority levels; empty: any.")
    departments: list[str] = Field(default_factory=list, description="Departments (case and spacing do not matter).")
    titles: list[str] = Field(
        default_factory=list, description="Case-insensitive regular expressions searched in job_title."
    )
    missing: str = Field(min_length=1, description="The words when no one of the role is known.")
    step: str = Field(min_length=1, description="What marketing and sales do when the role is missing.")

    @field_validator("label", "missing")
    @classmethod
    def _one_item(cls, value: str) -> str:
        if ";" in value:  # a list of missing roles is one text joined by "; " in a table (core.schema.JOIN)
            raise ValueError("may not hold ';' (a table joins the missing roles with '; ')")
        return value

    @field_validator("seniorities")
    @classmethod
    def _known_seniorities(cls, value: list[str]) -> list[str]:
        unknown = [level for level in value if level not in SENIORITY_LEVELS]
        if unknown:
            raise ValueError(f"unknown seniority level(s) {unknown}; use {list(SENIORITY_LEVELS)}")
        return value

    @field_validator("titles")
    @classmethod
    def _patterns_compile(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern, re.IGNORECASE)
            except re.error as exc:
                raise ValueError(f"title pattern {pattern!r} is not a regular expression ({exc})") from None
        return value


DEFAULT_ROLES = [
    BuyingRole(
        name="decision_maker",
        label="a decision maker (director, VP or C-level)",
        seniorities=["c_level", "vp", "director"],
        missing="no decision maker (director, VP or C-level) known yet",
        step="marketing: invite the account's leaders to an executive briefing; "
        "sales: ask your contact who owns the decision and for an introduction",
    ),
    BuyingRole(
        name="champion",
        label="a champion in marketing, sales or operations",
        seniorities=["manager", "individual_contributor"],
        departments=["marketing", "sales", "operations"],
        titles=["marketing", "sales", "operations", r"\bops\b", "revops", "demand gen"],
        missing="no champion in marketing, sales or operations known yet",
        step="marketing: send the team that would use the product a hands-on case study; "
        "sales: find the manager who would own it day to day",
    ),
    BuyingRole(
        name="technical",
        label="someone technical (engineering or IT)",
        departments=["engineering", "it"],
        titles=["engineer", "developer", "architect", r"\bit\b", r"\bcto\b", "technical", "devops"],
        missing="no one from engineering or IT known yet",
        step="marketing: send the integration and security guides to the account; "
        "sales: offer their engineers or IT a technical deep-dive",
    ),
    BuyingRole(
        name="finance",
        label="someone in finance or procurement",
        departments=["finance", "procurement", "purchasing"],
        titles=["financ", "procurement", "purchas", r"\bcfo\b", "controller", "accounting"],
        missing="no one from finance or procurement known yet",
        step="marketing: invite finance to the ROI webinar; sales: ask your champion who signs off the budget",
    ),
]


class BuyingGroup(BaseModel):
    """The roles a deal needs at an account: which of them are known and engaged (`buying_<role>`,
    `buying_completeness`; context for sales, not model features)."""

    model_config = ConfigDict(extra="forbid", frozen=True)  # read once, kept (`derived`)
    roles: list[BuyingRole] = Field(default_factory=lambda: list(DEFAULT_ROLES), min_length=1)
    complete_step: str = Field(
        default="marketing: keep every role informed; sales: bring the whole buying group to one call "
        "to agree the business case",
        min_length=1,
        description="What to do when every role is known and engaged.",
    )

    @field_validator("roles")
    @classmethod
    def _unique_names(cls, value: list[BuyingRole]) -> list[BuyingRole]:
        roles = [role.name for role in value]
        twice = sorted({name for name in roles if roles.count(name) > 1})
        if twice:
            raise ValueError(f"role name(s) {twice} appear more than once")
        clash = [name for name in roles if names.role(name) == names.COMPLETENESS]
        if clash:
            raise ValueError(f"role name {clash[0]!r} is taken: {names.COMPLETENESS} is the group's completeness")
        return value


class FeatureConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)  # read once, kept (`derived`)

    windows_days: list[int] = Field(default=[7, 30, 90], description="Count windows, (as_of - N days, as_of].")
    half_life_days: float = Field(default=14.0, gt=0, description="Half-life of decayed engagement.")
    engagement_weights: dict[str, float] = Field(
        default={
            "page_view": 1.0,
            "pricing_page_view": 5.0,
            "content_download": 3.0,
            "webinar_registered": 2.0,
            "webinar_attended": 4.0,
            "email_open": 0.5,
            "email_click": 2.0,
            "form_submit": 3.0,
            "demo_request": 15.0,
            "free_trial_signup": 10.0,
            "product_active_day": 4.0,
            "unsubscribe": 0.0,
        },
        description="Weight of each event type in decayed engagement (lead and account).",
    )
    recency_events: list[str] = Field(
        default=["pricing_page_view", "demo_request", "free_trial_signup", "webinar_attended", "content_download"],
        description="High-intent event types that get their own days-since feature.",
    )
    active_days_window_days: int = Field(default=90, gt=0)
    engaged_window_days: int = Field(default=30, gt=0, description="Account: contacts active in this window.")
    size_bands: list[SizeBand] = [
        SizeBand(name="1-49", min_employees=0),
        SizeBand(name="50-199", min_employees=50),
        SizeBand(name="200-999", min_employees=200),
        SizeBand(name="1000-4999", min_employees=1000),
        SizeBand(name="5000+", min_employees=5000),
    ]
    segments: dict[str, int] = Field(
        default={"smb": 0, "mid_market": 200, "enterprise": 1000},
        description="Segment by company size: name -> minimum employees. Unknown size: 'unknown'.",
    )
    seniority_patterns: dict[str, list[str]] = Field(
        default={
            "intern": [r"\bintern\b", r"\btrainee\b", r"working student", r"\bapprentice"],
            "student": [r"\bstudent\b", r"undergrad", r"\bphd candidate\b", r"\bmba candidate\b"],
            "vp": [r"\bvp\b", r"\bv\.p\.", r"vice[ -]president", r"\bsvp\b", r"\bevp\b"],
            "c_level": [r"\bchief\b", r"\bc[a-z]{1,2}o\b", r"\bfounder\b", r"\bpresident\b", r"\bowner\b"],
            "director": [r"\bdirector\b", r"\bdir\b\.?", r"\bhead of\b", r"\bhead,"],
            "manager": [r"\bmanager\b", r"\bmgr\b", r"\bteam lead\b", r"\blead\b"],
            "individual_contributor": [
                r"specialist",
                r"analyst",
                r"associate",
                r"coordinator",
                r"engineer",
                r"developer",
                r"consultant",
                r"representative",
                r"executive",
                r"designer",
                r"accountant",
                r"admin",
            ],
        },
        description="Seniority parsed from job_title when the seniority column is empty: first level whose "
        "pattern matches (case-insensitive regular expressions), in this order.",
    )
    personal_email_domains: list[str] = [
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "icloud.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "gmx.de",
        "web.de",
        "mail.ru",
        "yandex.ru",
        "qq.com",
        "163.com",
        "mailinator.com",
    ]
    student_email_suffixes: list[str] = [".edu", ".ac.uk", ".edu.au", ".ac.in"]
    competitor_domains: list[str] = ["rivalscore.io", "funnelforge.com", "pipemetric.ai"]
    icp: IdealCustomerProfile = IdealCustomerProfile()
    buying_group: BuyingGroup = BuyingGroup()

    @field_validator("windows_days")
    @classmethod
    def _positive_windows(cls, value: list[int]) -> list[int]:
        if not value or any(w <= 0 for w in value):
            raise ValueError("windows must be a non-empty list of positive day counts")
        return sorted(set(value))

    @field_validator("seniority_patterns")
    @classmethod
    def _known_levels(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = set(value) - set(SENIORITY_LEVELS)
        if unknown:
            raise ValueError(f"unknown seniority level(s) {sorted(unknown)}; use {list(SENIORITY_LEVELS)}")
        return value

    @model_validator(mode="after")
    def _recency_types_are_events(self) -> FeatureConfig:
        unknown = set(self.recency_events) - set(EVENT_TYPES)
        if unknown:
            raise ValueError(f"recency_events: unknown event type(s) {sorted(unknown)}")
        return self
