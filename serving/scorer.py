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

from core.schema import LEAD, Reason
from features.build import feature_columns
from features.contract import ContractConfig
from features.rules import RuleConfig, rule_score
from features.settings import FeatureConfig
from features.spec import FeatureSpec
from serving.schemas import Lead, Score
from training.explain import Explainer, Row
from training.model import Answers, LeadModel

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
# the lead's own columns `feature_columns` reads (the account and creation time get defaults)
LEAD_COLUMNS = tuple(f.name for f in LEAD if f.name not in ("account_id", "created_at"))


def _micros(value: datetime) -> int:
    """Exact UTC microseconds since the epoch (no pandas: any datetime the schema accepts)."""
    return (value - EPOCH) // timedelta(microseconds=1)


def micros(values: list[datetime]) -> np.ndarray:
    """`_micros` of many validated (UTC-aware) times at once, from `timestamp()`: exact for any time
    the schema accepts (1970 to now: the float's rounding error stays under 0.5 microseconds)."""
    return np.rint(np.array([v.timestamp() for v in values], dtype=float) * 1e6).astype(np.int64)


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
        self.spec = model.spec if model else FeatureSpec(self.feature_config, self.contract)
        self.spec.check([rule.feature for rule in rules.rules], "rules: feature")
        needs = [flag for step in self.config.next_steps for flag in step.requires]
        self.spec.check(needs, "serving config next_steps: requires", kind="flag")
        self.explainer = Explainer(model.feature_names, self.spec) if model else None
        names = [*self.contract.extra_fit_columns, *self.contract.counter_columns]
        # the lead columns `feature_columns` reads: the schema's own fields, and the contract's
        # extra fit columns and counters, which a lead carries in `extra`
        own = [*LEAD_COLUMNS, *(n for n in names if n in Lead.model_fields and n not in ("account_id", "created_at"))]
        self._fields = (list(dict.fromkeys(own)), [n for n in names if n not in Lead.model_fields])
        self._numeric = {
            "company_size",
            *self.contract.counter_columns,
            *[n for n, k in self.contract.extra_fit_columns.items() if k == "numeric"],
        }

    def _columns(self, leads: list[Lead], at: np.ndarray):
        """The leads, their account contacts and all their events as the columns `feature_columns`
        reads (one pass over the leads; a lead is its own account when it names none)."""
        own, extra = self._fields
        rows: dict[str, list] = {k: [getattr(lead, k) for lead in leads] for k in own}
        for key in extra:
            rows[key] = [lead.extra.get(key) for lead in leads]
        rows["account_id"] = accounts = [lead.account_id or lead.lead_id for lead in leads]
        rows["created_at"] = [
            _micros(lead.created_at) if lead.created_at else int(when) for lead, when in zip(leads, at, strict=True)
        ]
        people = {k: [] for k in ("lead_id", "account_id", "created_at", "seniority", "job_title")}
        ev_lead, ev_ts, ev_type = [], [], []
        for lead, account in zip(leads, accounts, strict=True):
            for contact in lead.contacts:
                people["lead_id"].append(contact.lead_id)
                people["account_id"].append(account)
                people["created_at"].append(contact.created_at)
                people["seniority"].append(contact.seniority)
                people["job_title"].append(contact.job_title)
                for event in contact.events:
                    ev_lead.append(contact.lead_id)
                    ev_ts.append(event.ts)
                    ev_type.append(event.type)
            for event in lead.events or ():
                ev_lead.append(lead.lead_id)
                ev_ts.append(event.ts)
                ev_type.append(event.type)
        columns = {
            k: np.array(v, dtype=float if k in self._numeric else np.int64 if k == "created_at" else object)
            for k, v in rows.items()
        }
        population = {k: micros(v) if k == "created_at" else np.array(v, dtype=object) for k, v in people.items()}
        event_columns = {
            "lead_id": np.array(ev_lead, dtype=object),
            "ts": micros(ev_ts),
            "type": np.array(ev_type, dtype=object),
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

    def features(self, leads: list[Lead], now: datetime | None = None) -> dict:
        """The feature columns of `leads`, each as of its `as_of`, else `now` (default: the
        current time)."""
        default = _micros(now or datetime.now(UTC))
        at = np.array([_micros(lead.as_of) if lead.as_of else default for lead in leads], dtype=np.int64)
        rows, population, events = self._columns(leads, at)
        return feature_columns(rows, at, events, self.feature_config, self.contract, population)

    def score(self, leads: list[Lead], now: datetime | None = None, reasons: bool = True) -> list[Score]:
        """Answers for `leads`, in order, as of `now` (default: the current time); without the
        model's reasons when `reasons` is false (SHAP is most of a large batch's time)."""
        columns = self.features(leads, now)
        rules = rule_score(columns, self.rules)
        model_error, answered = self.unavailable, None
        if self.model is not None:
            try:
                answered = self._model_answers(columns, reasons)
            except Exception as exc:  # the model must never take the answer down: rules answer
                model_error = f"model failed: {type(exc).__name__}"
        rule_scores = [round(float(x), 2) for x in rules.score]
        why = [model_error or self._missing(lead) for lead in leads]
        by_rules = [answered is None or reason is not None for reason in why]
        grades = [
            self._rule_grade(rule_scores[i]) if by_rules[i] else str(answered[0].grade[i]) for i in range(len(leads))
        ]
        steps = self._next_steps(grades, columns)
        out = []
        for i, lead in enumerate(leads):
            base = dict(
                lead_id=lead.lead_id,
                rule_score=rule_scores[i],
                rule_is_mql=bool(rules.is_mql[i]),
                rule_threshold=float(rules.threshold[i]),
                segment=str(columns["segment"][i]),
                grade=grades[i],
                next_step=steps[i],
            )
            out.append(
                self._by_rules(base, rules, i, why[i]) if by_rules[i] else self._by_model(base, answered, columns, i)
            )
        return out

    def _by_rules(self, base: dict, rules, i: int, why: str | None) -> Score:
        """The rules' answer for lead `i`, with the rules that fired as its reasons."""
        fired = [
            Reason(text=self.descriptions[name], direction="positive" if p > 0 else "negative", weight=round(p, 2))
            for name, p in rules.fired(i)[:5]
        ]
        return Score(
            **base,
            probability=None,
            score=None,
            is_mql=base["rule_is_mql"],
            threshold=None,
            scored_by="rules",
            fallback_reason=why,
            top_reasons=fired,
            model_version=None,
        )

    def _by_model(self, base: dict, answered: tuple[Answers, np.ndarray | None], columns: dict, i: int) -> Score:
        """The model's answer for lead `i`, with its reasons when the per-concept totals were asked for."""
        answers, totals = answered
        p, threshold = float(answers.probability[i]), float(answers.threshold[i])
        return Score(
            **base,
            probability=round(p, 6),
            score=round(p * 100),
            is_mql=p >= threshold,
            threshold=round(threshold, 6),
            scored_by="model",
            top_reasons=self.explainer.reasons(totals[i], Row(columns, i)) if totals is not None else [],
            model_version=self.model.version,
        )

    def _model_answers(self, columns: dict, reasons: bool = True) -> tuple[Answers, np.ndarray | None]:
        """The model's arrays for every row (`LeadModel.answers`), with per-concept SHAP totals
        when `reasons`."""
        threads = self.config.threads if len(columns["lead_id"]) <= 32 else self.config.batch_threads
        answers = self.model.answers(columns, contributions=reasons, threads=threads)
        return answers, self.explainer.totals(answers.contributions) if reasons else None

    def _rule_grade(self, score: float) -> str:
        for grade, minimum in sorted(self.config.rule_grades.items(), key=lambda kv: -kv[1]):
            if score >= minimum:
                return grade
        return "D"

    def _next_steps(self, grades: list[str], columns: Mapping) -> list[str]:
        """Each lead's next step: the first rule whose grades hold the lead's grade and whose
        required flags are all >= 1 (a flag the features lack, or a missing value, is not set)."""
        grade = np.asarray(grades, dtype=object)
        steps = np.full(len(grade), "review by hand", dtype=object)
        open_ = np.ones(len(grade), dtype=bool)
        for rule in self.config.next_steps:
            hit = open_ & np.isin(grade, rule.grades)
            for flag in rule.requires:
                values = columns.get(flag)
                hit &= False if values is None else np.asarray(values, dtype=float) >= 1
            steps[hit] = rule.step
            open_ &= ~hit
        return steps.tolist()
