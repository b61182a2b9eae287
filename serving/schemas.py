"""Request and response models of the scoring API (pydantic): what a CRM sends and gets back."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    Tag,
    ValidationInfo,
    create_model,
    field_validator,
)

from core.decisions import Instant
from core.schema import ALWAYS_SENT, ANSWER, CONFIDENCE, LEAD, TEXT, Interval, Part, Reason, Trend
from core.schema import Field as Column
from core.text import text_problem
from core.wire import REAL, TEXT_PATTERN, WHOLE, Id
from features.contract import EVENT_TYPES
from serving.intake import charge

MAX_TEXT = TEXT
DEPARTMENT = next(f.description for f in LEAD if f.name == "department")
STORABLE = {"pattern": TEXT_PATTERN}  # the JSON schema of every free text: no NUL (a 422, `unstorable_text`)


def Text(max_length: int = MAX_TEXT):  # a type
    """Free text of at most `max_length` characters."""
    return Annotated[str, Field(max_length=max_length, json_schema_extra=STORABLE)]


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ts: Instant = Field(description="When it happened (ISO 8601; no offset means UTC), not in the future.")
    type: Text(64) = Field(description=f"One of: {', '.join(EVENT_TYPES)} (or a configured extra type).")
    detail: Text() | None = None

    @field_validator("ts")
    @classmethod
    def _counted(cls, value: datetime, info: ValidationInfo) -> datetime:
        charge(info, "events")  # within the request's limit (serving/intake.py), or stop here
        return value


class Contact(BaseModel):
    """Another known contact of the lead's account, for account-level features."""

    model_config = ConfigDict(extra="forbid")
    lead_id: Id(128)
    created_at: Instant
    job_title: Text() | None = None
    seniority: Text(64) | None = None
    department: Text() | None = Field(default=None, description=DEPARTMENT)
    events: list[Event] = Field(default_factory=list, max_length=5_000, fail_fast=True)

    @field_validator("created_at")
    @classmethod
    def _counted(cls, value: datetime, info: ValidationInfo) -> datetime:
        charge(info, "contacts")
        return value


# what a request may send for each kind of `core.schema.Field`: JSON's own types, never coerced
# (no true for 1, no "12" for 12, no number for a time: `core.wire`)
PYTHON = {"string": str, "double": REAL, "long": WHOLE, "boolean": StrictBool, "datetime": Instant}
API_DEFAULTS = {"account_id": "Default: the lead is its own account.", "created_at": "Default: the scoring time."}


def _lead_field(field: Column):
    """A `Lead` field from its definition in `core.schema.LEAD`: only the id is required; a
    field named `..._id` is an id (`core.wire.Id`), another text is free text."""
    description = " ".join(filter(None, [field.description, API_DEFAULTS.get(field.name)]))
    if field.name.endswith("_id"):
        kind = Id(field.max_length)
    elif field.kind == "string":
        kind = Text(field.max_length)
    else:
        kind = PYTHON[field.kind]
    bounds = {k: v for k, v in dict(ge=field.minimum, le=field.maximum).items() if v is not None}
    if field.name == "lead_id":
        return kind, Field(description=description, **bounds)
    return kind | None, Field(default=None, description=description, **bounds)


def _answer_field(field: Column):
    """A `Score` field from its definition in `core.schema.ANSWER`."""
    kind = Literal[field.choices] if field.choices else PYTHON_ANSWER[field.kind]
    if field.many:  # null when not known, [] when there is none
        return list[kind] | None, Field(description=field.description)
    return (kind | None if field.nullable else kind), Field(description=field.description)


PYTHON_ANSWER = {"string": str, "double": float, "long": int, "boolean": bool, "datetime": datetime}
LeadFields = create_model("LeadFields", __config__=ConfigDict(extra="forbid"), **{f.name: _lead_field(f) for f in LEAD})


def _extra_kind(value: object) -> str | None:
    if isinstance(value, str):
        return "text"
    return "number" if isinstance(value, int | float) and not isinstance(value, bool) else None


# an extra column's value: a text, or a counter or number a flat CRM export has (>= 0), or null
ExtraValue = (
    Annotated[
        Annotated[Text(), Tag("text")] | Annotated[REAL, Field(ge=0, allow_inf_nan=False), Tag("number")],
        Discriminator(_extra_kind, custom_error_type="extra", custom_error_message="expected a text, a number or null"),
    ]
    | None
)


class Lead(LeadFields):
    """One lead as the CRM knows it: the contract's `leads` fields, optionally its recent events,
    its account's other contacts, or the engagement counters a flat CRM export aggregates."""

    extra: dict[str, ExtraValue] = Field(
        default_factory=dict, max_length=100, description="Extra fit columns and counters the model was trained on."
    )
    # fail_fast: a list stops at its first bad item, so a bad request costs no more than a good one
    events: list[Event] | None = Field(
        default=None,
        max_length=5_000,
        fail_fast=True,
        description="The lead's recent activity. Left out (or null): unknown, so the rules answer (fallback_reason "
        "says so) and intent has no level; [] : the lead did nothing, and the model answers. Event types "
        "outside the contract and events after as_of are not read; warnings lists them.",
    )
    contacts: list[Contact] = Field(default_factory=list, max_length=500, fail_fast=True)
    as_of: Instant | None = Field(
        default=None, description="Score as of this time (default: now), e.g. to replay history."
    )


def unstorable_text(value: object, where: str = "") -> str | None:
    """The first text in a request (a lead's fields, extra keys and values, its events' and
    contacts' texts) that no store can hold, as `where.field: what` (never the text itself), or
    None. NUL or a lone surrogate: the score log would refuse the row. A model whose JSON has
    neither a NUL nor a U+FFFD (what a surrogate in a key becomes; one in a value cannot be encoded)
    is passed in one step (50,000 events: 20 ms, not 300); else the fields are searched one by one."""
    if isinstance(value, BaseModel):
        try:
            dumped = value.model_dump_json()
        except ValueError:  # a lone surrogate in a value: find where it is
            dumped = "\ufffd"
        if "\\u0000" not in dumped and "\ufffd" not in dumped:
            return None
    return _first_bad_text(value, where)


def _first_bad_text(value: object, where: str) -> str | None:
    if isinstance(value, str):
        problem = text_problem(value)
        return None if problem is None else f"{where}: {problem}"
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            found = _first_bad_text(getattr(value, name), f"{where}.{name}" if where else name)
            if found:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if found := _first_bad_text(item, f"{where}[{i}]"):
                return found
    elif isinstance(value, dict):
        for key, item in value.items():
            problem = text_problem(key)
            if problem is not None:
                return f"{where}: a key {problem}"
            if found := _first_bad_text(item, f"{where}.{key}"):
                return found
    return None


def _nested(fields: tuple[Column, ...]) -> dict:
    """The answer's objects made of the fields with a `path` (`core.schema.ACCOUNT`: `account`),
    each a model of its fields, named by the path's first step."""
    objects: dict[str, dict] = {}
    for field in fields:
        if field.path:
            kind, described = _answer_field(field)
            objects.setdefault(field.path[0], {})[field.path[1]] = (kind, described)
    return {
        name: (
            create_model(name.title(), __config__=ALWAYS_SENT, __doc__=OBJECTS.get(name), **members),
            Field(description=OBJECTS.get(name)),
        )
        for name, members in objects.items()
    }


OBJECTS = {
    "account": "The lead's account, read from the lead and the contacts sent: the probability that sales accepts at "
    "least one of its leads handed over in the next 30 days, its grade and MQA verdict, and its buying group's "
    "completeness, missing roles and next step."
}


def answer_model(fields: tuple[Column, ...] = ANSWER) -> type[BaseModel]:
    """The API's answer: the fields of `core.schema.ANSWER` (those with a `path` in their object),
    then how it was answered and why."""
    return create_model(
        "Score",
        __doc__="The answer for one lead: the model's and the rules' verdicts side by side.",
        **{f.name: _answer_field(f) for f in fields if not f.path},
        **_nested(fields),
        scored_by=(Literal["model", "rules"], Field(description="Who answered: the model, or the rules.")),
        fallback_reason=(str | None, Field(default=None, description="Why the rules answered, when they did.")),
        confidence=(
            Literal[CONFIDENCE] | None,
            Field(description="low when the interval is wider than the configured width, else high; null without one."),
        ),
        fit=(Part, Field(description="Fit: who the lead is (its profile), side by side with intent.")),
        intent=(Part, Field(description="Intent: what the lead and the other contacts of its account did.")),
        quadrant=(
            str | None,
            Field(description="Fit and intent in words, with what to do: 'strong fit, low intent: nurture'."),
        ),
        interval=(
            Interval,
            Field(description="Where the probability may lie (Venn-Abers); nulls and a reason if not known."),
        ),
        trend=(Trend, Field(description="Against the lead's previous answer in the score log.")),
        top_reasons=(list[Reason], Field(description="The strongest reasons, in words.")),
        next_step=(
            str,
            Field(
                description="What to do with the lead now (the serving config's routing rules); for a lead the "
                "exploration hold-out sends, why it is sent."
            ),
        ),
        warnings=(
            list[str],
            Field(
                description="What the request sent that the answer did not read (unknown event types or extra keys)."
            ),
        ),
        explore=(
            bool,
            Field(
                default=False,
                description="True when the lead is below both thresholds (is_mql and rule_is_mql false) and the "
                "exploration hold-out sends it to sales anyway (LEADSCORE_EXPLORE_SHARE; off by default): route it "
                "to sales like an MQL, so that accuracy can be measured on the whole funnel. A seeded draw per lead "
                "and ISO week of as_of: the same lead in the same week always gets the same answer.",
            ),
        ),
        propensity=(
            float | None,
            Field(
                default=None,
                description="For a lead below both thresholds, the probability that the hold-out sends it (the "
                "share in force), sent or not; null at or above either threshold and when exploration is off.",
                ge=0,
                le=1,
            ),
        ),
    )


Score = answer_model()
