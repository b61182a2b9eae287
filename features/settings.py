"""Feature configuration: windows, decay, the ideal customer profile and how to read titles.

One YAML file (`configs/features.yaml` documents every field and equals these defaults).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from features.contract import EVENT_TYPES

SENIORITY_LEVELS = ("student", "intern", "individual_contributor", "manager", "director", "vp", "c_level")


class SizeBand(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    min_employees: int = Field(ge=0)


class IdealCustomerProfile(BaseModel):
    """Values that count as a match; each gives one `icp_*` flag and adds to `icp_matches`."""

    model_config = ConfigDict(extra="forbid")
    industries: list[str] = ["software", "financial_services", "healthcare", "manufacturing"]
    segments: list[str] = ["mid_market", "enterprise"]
    regions: list[str] = ["north_america", "emea"]
    seniorities: list[str] = ["c_level", "vp", "director", "manager"]
    departments: list[str] = ["marketing", "sales", "operations", "executive"]


class FeatureConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

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
