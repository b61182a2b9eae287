"""The one definition of a lead as leadscore reads it (`LEAD`) and of the answer it gives (`ANSWER`).

Everything else derives from these two tuples: the contract's pandera `leads` schema
(`features/contract.py`), the API's `Lead` and `Score` (`serving/schemas.py`), the MLflow model
signature (`training/pyfunc.py`), the Spark score schema (`training/spark.py`), the score-log table
(`core/store.py`) and the report's columns (`reports/compare.py`). Add a field here and each of them
carries it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel
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
    Field("email_domain", "string", "Domain of the lead's email (never the address).", max_length=253, fit=True),
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
    ),
    Field("industry", "string", "The company's industry.", max_length=TEXT, fit=True),
    Field("country", "string", "The lead's country.", max_length=TEXT, fit=True),
    Field("region", "string", "The lead's region.", max_length=TEXT, fit=True),
    Field("source", "string", "Acquisition channel.", max_length=TEXT, fit=True),
)

ANSWER: tuple[Field, ...] = (
    Field("lead_id", "string", "The lead's id, as sent.", nullable=False, max_length=128),
    Field("probability", "double", "Calibrated probability that sales accepts the lead; null when the rules answer."),
    Field("score", "long", "The probability as a whole number 0-100; null when the rules answer."),
    Field(
        "grade",
        "string",
        "A-D by probability (by rule score when the rules answer).",
        nullable=False,
        choices=("A", "B", "C", "D"),
    ),
    Field(
        "is_mql",
        "boolean",
        "Whether the lead goes to sales: probability at or above the threshold (the rules' verdict when the "
        "rules answer).",
        nullable=False,
    ),
    Field("threshold", "double", "The segment's model MQL threshold; null when the rules answer."),
    Field("rule_score", "double", "The rule-based points score, 0-100.", nullable=False),
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
    ),
)


def names(fields: tuple[Field, ...]) -> list[str]:
    return [f.name for f in fields]


def fit_fields(kind: Literal["text", "number"]) -> tuple[str, ...]:
    """The lead's profile attributes that are text, or numbers."""
    return tuple(f.name for f in LEAD if f.fit and (f.kind == "string") == (kind == "text"))


class Reason(BaseModel):
    """One reason for an answer, in words a sales rep reads."""

    text: str
    direction: Literal["positive", "negative"]
    weight: float = Described(description="Contribution in log-odds (LightGBM's SHAP values), summed per reason.")
