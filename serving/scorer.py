"""`Scorer`: one lead or a batch, model and rules side by side, with reasons and a next step.

It builds feature rows with the same `feature_columns` core as training and batch scoring, one
call per request, and falls back to the rule score, per lead, when there is no model, the model
raises, or the lead lacks what the model needs; the answer says which and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from features.build import feature_columns
from features.contract import ContractConfig
from features.rules import RuleConfig, rule_score
from features.settings import FeatureConfig
from serving.reasons import Explainer
from serving.schemas import Lead, Reason, Score
from training.model import LeadModel, to_matrix

Grade = str


class NextStep(BaseModel):
    """A routing rule: the first whose grades match and whose required flags are all set wins."""

    model_config = ConfigDict(extra="forbid")
    grades: list[Grade]
    requires: list[str] = Field(
        default_factory=list, description="Feature flags that must be 1, e.g. has_demo_request."
    )
    step: str


class ServingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_batch: int = Field(default=1_000, ge=1, le=100_000)
    next_steps: list[NextStep] = [
        NextStep(grades=["A"], requires=["has_demo_request"], step="route to sales now: first touch within 5 minutes"),
        NextStep(grades=["B"], requires=["has_demo_request"], step="route to sales: first touch within 1 hour"),
        NextStep(grades=["A"], step="route to sales: first touch within 1 hour"),
        NextStep(grades=["B"], step="route to sales: first touch the same business day"),
        NextStep(grades=["C"], step="nurture: keep in marketing programs"),
        NextStep(grades=["D"], step="recycle: no sales touch"),
    ]
    threads: int = Field(
        default=1,
        ge=1,
        le=64,
        description="LightGBM threads per worker; 1 with one worker per core (idle OpenMP threads "
        "spinning beside another worker halve the throughput)",
    )
    batch_threads: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="LightGBM threads for a request of more than 32 leads (default: every core); "
        "SHAP over a large batch is worth the cores",
    )
    rule_grades: dict[Grade, float] = Field(
        default={"A": 80.0, "B": 60.0, "C": 30.0}, description="Grade by rule score when the rules answer."
    )


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(value: datetime) -> int:
    """Exact UTC microseconds since the epoch (no pandas: any datetime the schema accepts)."""
    return (value - EPOCH) // timedelta(microseconds=1)


class Row(Mapping):
    """One lead's feature values, read from the feature columns only when asked for (the reasons
    and the next step read a handful of a hundred columns)."""

    __slots__ = ("columns", "i")

    def __init__(self, columns: dict, i: int):
        self.columns, self.i = columns, i

    def __getitem__(self, name: str):
        return self.columns[name][self.i]

    def __iter__(self):
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    def get(self, name: str, default=None):
        values = self.columns.get(name)
        return default if values is None else values[self.i]


class Scorer:
    def __init__(
        self,
        model: LeadModel | None,
        rules: RuleConfig,
        feature_config: FeatureConfig,
        contract: ContractConfig,
        config: ServingConfig | None = None,
        unavailable: str | None = None,
    ):
        self.model = model
        self.rules = rules
        self.feature_config = model.feature_config if model else feature_config
        self.contract = model.contract if model else contract
        self.config = config or ServingConfig()
        self.unavailable = unavailable or ("no model loaded" if model is None else None)
        self.descriptions = {rule.name: rule.description for rule in rules.rules}
        self.explainer = Explainer(model.feature_names) if model else None

    def _columns(self, leads: list[Lead], at: np.ndarray):
        names = [*self.contract.extra_fit_columns, *self.contract.counter_columns]
        rows: dict[str, list] = {
            k: []
            for k in (
                "lead_id",
                "account_id",
                "created_at",
                "email_domain",
                "job_title",
                "seniority",
                "department",
                "company_size",
                "industry",
                "country",
                "region",
                "source",
                *names,
            )
        }
        people = {k: [] for k in ("lead_id", "account_id", "created_at", "seniority", "job_title")}
        events = {"lead_id": [], "ts": [], "type": []}
        for lead, when in zip(leads, at, strict=True):
            account = lead.account_id or lead.lead_id
            created = _micros(lead.created_at) if lead.created_at else int(when)
            for key in rows:
                if key in ("account_id", "created_at"):
                    continue
                value = getattr(lead, key) if key in Lead.model_fields else lead.extra.get(key)
                rows[key].append(value)
            rows["account_id"].append(account)
            rows["created_at"].append(created)
            for contact in lead.contacts:
                for key, value in (
                    ("lead_id", contact.lead_id),
                    ("account_id", account),
                    ("created_at", _micros(contact.created_at)),
                    ("seniority", contact.seniority),
                    ("job_title", contact.job_title),
                ):
                    people[key].append(value)
                for event in contact.events:
                    events["lead_id"].append(contact.lead_id)
                    events["ts"].append(_micros(event.ts))
                    events["type"].append(event.type)
            for event in lead.events or []:
                events["lead_id"].append(lead.lead_id)
                events["ts"].append(_micros(event.ts))
                events["type"].append(event.type)
        numeric = {
            "company_size",
            *self.contract.counter_columns,
            *[n for n, k in self.contract.extra_fit_columns.items() if k == "numeric"],
        }
        columns = {
            k: np.array(v, dtype=float if k in numeric else np.int64 if k == "created_at" else object)
            for k, v in rows.items()
        }
        population = {k: np.array(v, dtype=np.int64 if k == "created_at" else object) for k, v in people.items()}
        event_columns = {
            "lead_id": np.array(events["lead_id"], dtype=object),
            "ts": np.array(events["ts"], dtype=np.int64),
            "type": np.array(events["type"], dtype=object),
        }
        return columns, population, event_columns

    def _missing(self, lead: Lead) -> str | None:
        """Why the model cannot answer for this lead, if it cannot."""
        if self.contract.counter_columns:
            absent = [c for c in self.contract.counter_columns if lead.extra.get(c) is None]
            return (
                f"no engagement counters ({', '.join(absent)})"
                if len(absent) == len(self.contract.counter_columns)
                else None
            )
        if lead.events is None:
            return "no engagement data: send the lead's recent events"
        return None

    def score(self, leads: list[Lead], now: datetime | None = None, reasons: bool = True) -> list[Score]:
        """Answers for `leads`, in order, as of `now` (default: the current time); without the
        model's reasons when `reasons` is false (SHAP is most of a large batch's time)."""
        default = _micros(now or datetime.now(UTC))
        at = np.array([_micros(lead.as_of) if lead.as_of else default for lead in leads], dtype=np.int64)
        rows, population, events = self._columns(leads, at)
        columns = feature_columns(rows, at, events, self.feature_config, self.contract, population)
        rules = rule_score(columns, self.rules)
        segments = np.asarray(columns["segment"], dtype=object)
        model_error, answered = self.unavailable, None
        if self.model is not None:
            try:
                answered = self._model_answers(columns, segments, reasons)
            except Exception as exc:  # the model must never take the answer down: rules answer
                model_error = f"model failed: {type(exc).__name__}"
        answers = []
        for i, lead in enumerate(leads):
            row = Row(columns, i)
            base = dict(
                lead_id=lead.lead_id,
                rule_score=round(float(rules.score[i]), 2),
                rule_is_mql=bool(rules.is_mql[i]),
                rule_threshold=float(rules.threshold[i]),
                segment=str(segments[i]),
            )
            reason = model_error or self._missing(lead)
            if answered is None or reason is not None:
                grade = self._rule_grade(base["rule_score"])
                fired = [
                    Reason(
                        text=self.descriptions[name], direction="positive" if p > 0 else "negative", weight=round(p, 2)
                    )
                    for name, p in rules.fired(i)[:5]
                ]
                answers.append(
                    Score(
                        **base,
                        probability=None,
                        score=None,
                        grade=grade,
                        is_mql=base["rule_is_mql"],
                        threshold=None,
                        scored_by="rules",
                        fallback_reason=reason,
                        top_reasons=fired,
                        next_step=self._next_step(grade, row),
                        model_version=None,
                    )
                )
                continue
            probability, threshold, grades, totals = answered
            p, grade = float(probability[i]), str(grades[i])
            answers.append(
                Score(
                    **base,
                    probability=round(p, 6),
                    score=round(p * 100),
                    grade=grade,
                    is_mql=p >= threshold[i],
                    threshold=round(float(threshold[i]), 6),
                    scored_by="model",
                    top_reasons=self.explainer.reasons(totals[i], row) if reasons else [],
                    next_step=self._next_step(grade, row),
                    model_version=self.model.version,
                )
            )
        return answers

    def _model_answers(self, columns: dict, segments: np.ndarray, reasons: bool = True):
        """Probability, threshold, grade and per-concept SHAP totals for every row: one booster
        pass (`pred_contrib`, whose rows sum to the raw log-odds) serves score and reasons."""
        matrix = to_matrix(columns, self.model.feature_names, self.model.lookups)
        threads = self.config.threads if len(matrix) <= 32 else self.config.batch_threads
        if reasons:
            contributions = self.model.contributions(matrix, threads)
            margin, totals = contributions.sum(axis=1), self.explainer.totals(contributions)
        else:
            margin, totals = self.model.margin(matrix, threads), None
        probability = self.model.calibrate(margin, segments)
        return probability, self.model.threshold(segments), self.model.grade(probability), totals

    def _rule_grade(self, score: float) -> str:
        for grade, minimum in sorted(self.config.rule_grades.items(), key=lambda kv: -kv[1]):
            if score >= minimum:
                return grade
        return "D"

    def _next_step(self, grade: str, row: Mapping) -> str:
        for rule in self.config.next_steps:
            if grade in rule.grades and all(float(row.get(flag) or 0) >= 1 for flag in rule.requires):
                return rule.step
        return "review by hand"
