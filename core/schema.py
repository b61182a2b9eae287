"""The one definition of a lead as leadscore reads it (`LEAD`) and of the answer it gives (`ANSWER`).

Everything else derives from these two tuples: the contract's pandera `leads` schema
(`features/contract.py`), the API's `Lead` and `Score` (`serving/schemas.py`), the MLflow model
signature (`training/pyfunc.py`), the Spark score schema (`training/spark.py`), the score-log table
(`core/store.py`) and the report's columns (`reports/compare.py`). Add a field here and each of them
carries it. The API's answer adds parts that only the service computes (`Part`, `Interval`,
`Trend`, below); the score log keeps the ones `PARTS` names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict
from pydantic import Field as Described

Kind = Literal["string", "double", "long", "boolean", "datetime"]  # MLflow's names for column types


@dataclass(frozen=True)
class Field:
    """One column: its type, what it means, and the bounds every reader of it checks."""

    name: str
    kind: Kind
    description: str
    nullable: bool = True
    max_length: int | None = None
    choices: tuple[str, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None
    unit: str = ""  # what a number counts, for messages
    fit: bool = False  # a profile attribute that the fit features read
    path: tuple[str, ...] = ()  # where an API answer holds it, when not at its top level (`PARTS`, `ACCOUNT`)
    key: bool = False  # the answer's key: the id a table of answers is joined on (`key_of`)
    many: bool = False  # a list of texts in the API answer, one text joined by `JOIN` in a table
    digits: int = 6  # decimals of a number in the API answer
    account: bool = False  # a lead field that describes its company: a contact of the account shares it
    by_model: bool = False  # an answer field only the model gives: null when the rules answer

    @property
    def length(self) -> int:
        """Longest text a store must hold for this field."""
        if self.max_length is not None:
            return self.max_length
        return max(len(c) for c in self.choices) if self.choices else 300


TEXT = 300  # free text typed into a CRM form

LEAD: tuple[Field, ...] = (
    Field("lead_id", "string", "The CRM's lead id.", nullable=False, max_length=128),
    Field("account_id", "string", "The company; several leads may share one.", nullable=False, max_length=128),
    Field("created_at", "datetime", "When the lead entered the CRM.", nullable=False),
    Field(
        "email_domain",
        "string",
        "Domain of the lead's email (never the address).",
        max_length=253,
        fit=True,
        account=True,
    ),
    Field("job_title", "string", "As typed in the form.", max_length=TEXT, fit=True),
    Field("seniority", "string", "When the CRM has it; else parsed from the job title.", max_length=64, fit=True),
    Field("department", "string", "The lead's department.", max_length=TEXT, fit=True),
    Field(
        "company_size",
        "long",
        "Employees: a whole number >= 0.",
        minimum=0,
        maximum=10_000_000,
        unit="employees",
        fit=True,
        account=True,
    ),
    Field("industry", "string", "The company's industry.", max_length=TEXT, fit=True, account=True),
    Field("country", "string", "The lead's country.", max_length=TEXT, fit=True, account=True),
    Field("region", "string", "The lead's region.", max_length=TEXT, fit=True, account=True),
    Field("source", "string", "Acquisition channel.", max_length=TEXT, fit=True),
)

GRADES = ("A", "B", "C", "D")
JOIN = "; "  # how a table writes a list of texts (`Field.many`)

# the account answer: in the API one `account` object (each field's `path`), in a table (a batch's
# scores, Spark's, the score log, the MLflow signature) flat columns named account_*
ACCOUNT_ID = Field(
    "account_id",
    "string",
    "The account answered for: the lead's account_id, or the lead itself when it names none.",
    nullable=False,
    max_length=128,
    path=("account", "account_id"),
)  # the account rows' key (`score --accounts`)
ACCOUNT: tuple[Field, ...] = (
    ACCOUNT_ID,
    Field(
        "account_probability",
        "double",
        "Calibrated probability that sales accepts at least one of the account's leads handed over in the next 30 "
        "days (the training config's accounts.window_days); null when the rules answer or the model has no account "
        "answer.",
        by_model=True,
        path=("account", "probability"),
    ),
    Field(
        "account_grade",
        "string",
        "A-D by account probability (the lead grades' cut-offs); null without a probability.",
        choices=GRADES,
        by_model=True,
        path=("account", "grade"),
    ),
    Field(
        "account_is_mqa",
        "boolean",
        "Marketing-qualified account: the account probability at or above the segment's MQA threshold; null "
        "without a probability.",
        by_model=True,
        path=("account", "is_mqa"),
    ),
    Field(
        "account_threshold",
        "double",
        "The segment's MQA threshold; null without a probability.",
        by_model=True,
        path=("account", "threshold"),
    ),
    Field(
        "account_rule_mql",
        "boolean",
        "Whether the rules send at least one known contact of the account (the lead included) to sales.",
        nullable=False,
        path=("account", "rule_mql"),
    ),
    Field(
        "account_completeness",
        "double",
        "Share of the buying group's roles (decision maker, champion, technical, finance: configurable) filled by a "
        "known contact who was active in the last 30 days (engaged_window_days), 0-1.",
        path=("account", "completeness"),
    ),
    Field(
        "account_missing_roles",
        "string",
        "The buying group's roles not yet filled by an engaged contact, in words ('no one from finance or "
        "procurement known yet'); [] when every role is.",
        max_length=2_000,
        path=("account", "missing_roles"),
        many=True,
    ),
    Field(
        "account_contacts",
        "long",
        "Known contacts of the account read for the answer, the lead included.",
        nullable=False,
        path=("account", "contacts"),
    ),
    Field(
        "account_engaged_contacts",
        "long",
        "Known contacts with activity in the last 30 days (engaged_window_days), the lead included.",
        path=("account", "engaged_contacts"),
    ),
    Field(
        "account_next_step",
        "string",
        "What sales and marketing do next at the account: reach the first missing role of the buying group, or, "
        "when every role is engaged, bring the group together.",
        max_length=1_000,
        path=("account", "next_step"),
    ),
)

# a lead's fields that describe its company: a contact of its account shares them (`Field.account`)
ACCOUNT_LEVEL = frozenset(f.name for f in LEAD if f.account)

ANSWER: tuple[Field, ...] = (
    Field("lead_id", "string", "The lead's id, as sent.", nullable=False, max_length=128, key=True),
    Field(
        "probability",
        "double",
        "Calibrated probability that sales accepts the lead; null when the rules answer.",
        by_model=True,
    ),
    Field("score", "long", "The probability as a whole number 0-100; null when the rules answer.", by_model=True),
    Field(
        "grade",
        "string",
        "A-D by probability (by rule score when the rules answer).",
        nullable=False,
        choices=GRADES,
    ),
    Field(
        "is_mql",
        "boolean",
        "Whether the lead goes to sales: probability at or above the threshold (the rules' verdict when the "
        "rules answer).",
        nullable=False,
    ),
    Field("threshold", "double", "The segment's model MQL threshold; null when the rules answer.", by_model=True),
    Field("rule_score", "double", "The rule-based points score, 0-100.", nullable=False, digits=2),
    Field("rule_is_mql", "boolean", "Whether the rules send the lead to sales.", nullable=False),
    Field("rule_threshold", "double", "The segment's rule MQL threshold.", nullable=False),
    Field(
        "segment", "string", "smb, mid_market, enterprise or unknown, by company size.", nullable=False, max_length=64
    ),
    Field(
        "model_version",
        "string",
        "The registered model version that answered; null when the rules answer.",
        max_length=128,
        by_model=True,
    ),
    *ACCOUNT,
)


LEVELS = ("high", "medium", "low")
CONFIDENCE = ("high", "low")
# the API answer's parts (`Part`, `Interval` below) that the score log keeps as columns of their
# own, for monitoring and for comparing fit, intent and confidence with sales decisions; the trend
# (from the log itself), the reasons and the warnings are not logged
PARTS: tuple[Field, ...] = (
    Field("fit_level", "string", "The answer's fit.level.", choices=LEVELS, path=("fit", "level")),
    Field("intent_level", "string", "The answer's intent.level.", choices=LEVELS, path=("intent", "level")),
    Field("interval_low", "double", "The answer's interval.low.", path=("interval", "low")),
    Field("interval_high", "double", "The answer's interval.high.", path=("interval", "high")),
    Field("confidence", "string", "The answer's confidence.", choices=CONFIDENCE, path=("confidence",)),
    Field(
        "explore",
        "boolean",
        "The answer's explore: the lead is below both thresholds and the exploration hold-out sent it to sales.",
        path=("explore",),
    ),
    Field(
        "propensity",
        "double",
        "The answer's propensity: for a lead below both thresholds, the probability that the hold-out sends it "
        "(the share in force); null at or above either threshold and when exploration is off.",
        path=("propensity",),
    ),
)


def names(fields: tuple[Field, ...]) -> list[str]:
    return [f.name for f in fields]


def key_of(fields: tuple[Field, ...]) -> Field:
    """The answer's key field (`Field.key`): a table of answers is joined on it."""
    keys = [f for f in fields if f.key]
    if len(keys) != 1:
        raise ValueError(f"an answer needs exactly one key field, not {len(keys)}")
    return keys[0]


def joined(values) -> str | None:
    """A `Field.many` value as a table keeps it: the texts joined by `JOIN` (None stays None)."""
    return None if values is None else JOIN.join(values)


def listed(text: str | None) -> list[str]:
    """A `Field.many` value of a table as the API's list (`joined` undone)."""
    return [] if not text else text.split(JOIN)


def fit_fields(kind: Literal["text", "number"]) -> tuple[str, ...]:
    """The lead's profile attributes that are text, or numbers."""
    return tuple(f.name for f in LEAD if f.fit and (f.kind == "string") == (kind == "text"))


class Reason(BaseModel):
    """One reason for an answer, in words a sales rep reads."""

    text: str
    direction: Literal["positive", "negative"]
    weight: float = Described(description="Contribution in log-odds (LightGBM's SHAP values), summed per reason.")


# every field of an answer's part is in every answer (null when not known): required in the schema
ALWAYS_SENT = ConfigDict(json_schema_serialization_defaults_required=True)


class Part(BaseModel):
    """Fit (who the lead is: its profile) or intent (what the lead and the other contacts of its
    account did): how strong, and how much of the answer it makes."""

    model_config = ALWAYS_SENT

    level: Literal[LEVELS] | None = Described(
        description="high, medium or low: by `log_odds` when the model answers, by `points` when the rules "
        "answer; null when it is not known (see `reason`)."
    )
    log_odds: float | None = Described(
        description="This part's share of the model's log-odds: the sum of its features' contributions "
        "(LightGBM's SHAP values, as in top_reasons); positive raises the probability. Fit, intent and the "
        "model's base value add up to the model's raw log-odds, which calibration turns into the probability. Null "
        "when the rules answer or reasons are left out."
    )
    points: float = Described(description="This part's points in the rule score (before the total is clipped).")
    reason: str | None = Described(default=None, description="Why `level` is null.")


class Interval(BaseModel):
    """Where the probability may lie: inductive Venn-Abers on the model's calibration period."""

    model_config = ALWAYS_SENT

    low: float | None = Described(description="Lowest probability the calibration period supports; null: see reason.")
    high: float | None = Described(description="Highest probability the calibration period supports.")
    width: float | None = Described(description="high - low; above the configured width the confidence is low.")
    reason: str | None = Described(default=None, description="Why there is no interval.")


class Trend(BaseModel):
    """The answer against the same lead's previous answer in the score log."""

    model_config = ALWAYS_SENT

    direction: Literal["rising", "steady", "falling"] | None = Described(
        description="Against the previous answer of the same kind (model score against the last model score, rule "
        "score against the last rule score); null when there is none (see reason)."
    )
    change: float | None = Described(description="Score now minus the previous score.")
    previous_score: float | None = Described(description="The previous answer's score (model) or rule score (rules).")
    previous_at: datetime | None = Described(description="When the previous answer was given (UTC).")
    reason: str | None = Described(default=None, description="Why there is no trend.")
