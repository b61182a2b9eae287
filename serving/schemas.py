"""Request and response models of the scoring API (pydantic): what a CRM sends and gets back."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from features.contract import EVENT_TYPES

MAX_TEXT = 300
SKEW_SECONDS = 300.0  # a CRM's clock may run a few minutes ahead


def _not_future(value: datetime, field: str) -> datetime:
    """UTC, and within what a CRM can have seen: not before 1970, not in the future."""
    try:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        seconds = value.timestamp()
    except (OverflowError, ValueError):
        raise ValueError(f"{field} is not a usable time ({value!r})") from None
    if seconds > time.time() + SKEW_SECONDS:
        raise ValueError(f"{field} is in the future ({value.isoformat()})")
    if seconds < 0:
        raise ValueError(f"{field} is before 1970 ({value.isoformat()})")
    return value


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ts: datetime = Field(description="When it happened (ISO 8601; no offset means UTC).")
    type: str = Field(description=f"One of: {', '.join(EVENT_TYPES)} (or a configured extra type).", max_length=64)
    detail: str | None = Field(default=None, max_length=MAX_TEXT)

    @field_validator("ts")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _not_future(value, "ts")


class Contact(BaseModel):
    """Another known contact of the lead's account, for account-level features."""

    model_config = ConfigDict(extra="forbid")
    lead_id: str = Field(min_length=1, max_length=128)
    created_at: datetime
    job_title: str | None = Field(default=None, max_length=MAX_TEXT)
    seniority: str | None = Field(default=None, max_length=64)
    events: list[Event] = Field(default_factory=list, max_length=5_000)

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _not_future(value, "created_at")


class Lead(BaseModel):
    """One lead as the CRM knows it: the contract's `leads` fields, optionally its recent events,
    its account's other contacts, or the engagement counters a flat CRM export aggregates."""

    model_config = ConfigDict(extra="forbid")
    lead_id: str = Field(min_length=1, max_length=128)
    account_id: str | None = Field(default=None, max_length=128, description="Default: the lead is its own account.")
    created_at: datetime | None = Field(default=None, description="Default: the scoring time.")
    email_domain: str | None = Field(default=None, max_length=253)
    job_title: str | None = Field(default=None, max_length=MAX_TEXT)
    seniority: str | None = Field(default=None, max_length=64)
    department: str | None = Field(default=None, max_length=MAX_TEXT)
    company_size: int | None = Field(default=None, ge=0, le=10_000_000)
    industry: str | None = Field(default=None, max_length=MAX_TEXT)
    country: str | None = Field(default=None, max_length=MAX_TEXT)
    region: str | None = Field(default=None, max_length=MAX_TEXT)
    source: str | None = Field(default=None, max_length=MAX_TEXT)
    extra: dict[str, str | float | None] = Field(
        default_factory=dict, max_length=100, description="Extra fit columns and counters the model was trained on."
    )
    events: list[Event] | None = Field(default=None, max_length=5_000)
    contacts: list[Contact] = Field(default_factory=list, max_length=500)
    as_of: datetime | None = Field(
        default=None, description="Score as of this time (default: now), e.g. to replay history."
    )

    @field_validator("as_of", "created_at")
    @classmethod
    def _past(cls, value: datetime | None, info) -> datetime | None:
        return None if value is None else _not_future(value, info.field_name)

    @field_validator("extra")
    @classmethod
    def _finite(cls, value: dict) -> dict:
        for key, item in value.items():
            if isinstance(item, float) and not math.isfinite(item):
                raise ValueError(f"extra.{key}: must be a finite number")
            if isinstance(item, float) and item < 0:
                raise ValueError(f"extra.{key}: counts and numbers must be >= 0")
            if isinstance(item, str) and len(item) > MAX_TEXT:
                raise ValueError(f"extra.{key}: at most {MAX_TEXT} characters")
        return value


class Reason(BaseModel):
    text: str
    direction: Literal["positive", "negative"]
    weight: float = Field(description="Contribution in log-odds (LightGBM's SHAP values), summed per reason.")


class Score(BaseModel):
    lead_id: str
    probability: float | None
    score: int | None
    grade: Literal["A", "B", "C", "D"]
    is_mql: bool
    threshold: float | None
    rule_score: float
    rule_is_mql: bool
    rule_threshold: float
    scored_by: Literal["model", "rules"]
    fallback_reason: str | None = None
    top_reasons: list[Reason]
    next_step: str
    model_version: str | None
    segment: str
