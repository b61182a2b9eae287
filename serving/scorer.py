"""`Scorer`: one lead or a batch, model and rules side by side, with reasons and a next step.

It builds feature rows with the same `feature_columns` core as training and batch scoring, one
call per request, and falls back to the rule score, per lead, when there is no model, the model
raises, or the lead lacks what the model needs; the answer says which and why. Every answer also
carries fit and intent side by side with their quadrant, the probability's interval and the
confidence it gives (`serving/parts.py`), the trend against the lead's previous answer (given by
the caller from the score log, `serving/trend.py`) and what the request sent that was not read
(`serving/unread.py`). A lead below both thresholds may be sent to sales by the exploration
hold-out (`serving/explore.py`): its answer says so (`explore`, `propensity`, the next step). With
`score_and_features`, the model-answered leads' input feature rows come back too, for the feature
log (by the model's own feature names, never the request).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from core.schema import Reason
from core.store import LastScores
from features.arrays import is_missing
from features.build import feature_columns, row_columns
from features.contract import ContractConfig
from features.rules import RuleConfig, rule_score
from features.settings import FeatureConfig
from features.spec import FeatureSpec
from serving.columns import LeadColumns, _micros, worded
from serving.explore import Exploration, held, sampled, speaks_for, step
from serving.parts import PartsConfig, interval, model_parts, quadrant, rule_parts
from serving.schemas import Lead, Score
from serving.trend import NO_LOG, trend, unknown
from serving.unread import unread
from training.accounts import account_columns
from training.answer import answer_columns, answer_rows
from training.explain import PART_OF_GROUP, PARTS, Explainer, Row
from training.interval import missing
from training.members import AccountRows, Prepared, Scored, prepare
from training.model import Answers, LeadModel

Grade = str


def _plain(value):
    """A feature value as Python keeps it (a number, a text, None): numpy scalars unboxed."""
    return value.item() if isinstance(value, np.generic) else value


def _logged(column, keep: list[int], private: bool) -> list:
    """A feature column's values at rows `keep` as the feature log keeps them (`_plain`, in one
    conversion for a typed column); a private column's as "given" or None (missing)."""
    array = np.asarray(column)
    values = (array if len(keep) == len(array) else array[keep]).tolist()  # `keep` is every row: as is
    if array.dtype == object:  # may hold numpy scalars
        values = [_plain(v) for v in values]
    return [None if is_missing(v) else "given" for v in values] if private else values


class NextStep(BaseModel):
    """A routing rule: the first whose grades match and whose required flags are all set wins."""

    model_config = ConfigDict(extra="forbid")
    grades: list[Grade]
    requires: list[str] = Field(
        default_factory=list, description="Feature flags that must be 1, e.g. has_demo_request."
    )
    step: str


class ServingConfig(PartsConfig):
    """The service's scoring settings (`LEADSCORE_SERVING_CONFIG`), with fit and intent levels,
    quadrants, the interval's width and the trend's steady band (`serving.parts.PartsConfig`)."""

    model_config = ConfigDict(extra="forbid")
    max_batch: int = Field(default=1_000, ge=1, le=100_000)
    next_steps: list[NextStep] = Field(
        default_factory=lambda: [
            NextStep(
                grades=["A"], requires=["has_demo_request"], step="route to sales now: first touch within 5 minutes"
            ),
            NextStep(grades=["B"], requires=["has_demo_request"], step="route to sales: first touch within 1 hour"),
            NextStep(grades=["A"], step="route to sales: first touch within 1 hour"),
            NextStep(grades=["B"], step="route to sales: first touch the same business day"),
            NextStep(grades=["C"], step="nurture: keep in marketing programs"),
            NextStep(grades=["D"], step="recycle: no sales touch"),
        ]
    )
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


@dataclass(frozen=True)
class Request:
    """What a request's feature columns were built from (`serving.columns.LeadColumns`): the
    leads' columns, their times (UTC microseconds), their contacts and every event; and the
    leads' account members (`training.members.Prepared`), with the feature rows of the contacts
    among them, built in the same call as the leads' own."""

    rows: dict
    at: np.ndarray
    population: dict
    events: dict
    prepared: Prepared


@dataclass(frozen=True)
class Batch:
    """What a request's answers are built from: the feature columns (and the ones the reasons'
    words read: a lead age unknown where the lead gave no created_at), the rule score, each lead's
    rule points per part (fit, intent), and the model's answers with its contributions per concept
    and per part (when computed)."""

    columns: dict
    words: dict
    rules: object
    points: np.ndarray
    answers: Answers | None = None
    totals: np.ndarray | None = None
    parts: np.ndarray | None = None


class Scorer:
    def __init__(
        self,
        model: LeadModel | None,
        rules: RuleConfig,
        feature_config: FeatureConfig,
        contract: ContractConfig,
        config: ServingConfig | None = None,
        unavailable: str | None = None,
        exploration: Exploration | None = None,
    ):
        self.model = model
        self.exploration = exploration or Exploration()
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
        if model is not None:
            model.warm()  # the SHAP tables and kernel before the first answer, not during it
        # each rule's part (fit or intent), from its feature's group in the spec
        self.rule_parts = np.array(
            [[PART_OF_GROUP[self.spec[rule.feature].group] == part for part in PARTS] for rule in rules.rules],
            dtype=float,
        ).reshape(len(rules.rules), len(PARTS))
        self.event_types = frozenset(self.contract.event_types)
        self.columns = LeadColumns(self.contract)
        self._routes = [(rule, frozenset(rule.grades)) for rule in self.config.next_steps]

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
        return self._request(leads, now)[0]

    def _request(self, leads: list[Lead], now: datetime | None) -> tuple[dict, Request]:
        """The feature columns of `leads` and what they were built from (`Request`)."""
        default = _micros(now or datetime.now(UTC))
        at = np.array([_micros(lead.as_of) if lead.as_of else default for lead in leads], dtype=np.int64)
        rows, population, events = self.columns(leads, at)
        prepared = prepare(rows, at, population, self.contract)
        if not len(prepared.build):  # no contact to score beside the leads
            columns = feature_columns(rows, at, events, self.feature_config, self.contract, population)
            return columns, Request(rows, at, population, events, prepared)
        n, wanted = len(at), row_columns(self.contract)
        both = {name: np.concatenate([rows[name], prepared.rows[name]]) for name in wanted}
        columns = feature_columns(
            both, np.concatenate([at, prepared.at]), events, self.feature_config, self.contract, population
        )
        built = {name: values[n:] for name, values in columns.items()}
        columns = {name: values[:n] for name, values in columns.items()}
        return columns, Request(rows, at, population, events, replace(prepared, built=built))

    def score(
        self,
        leads: list[Lead],
        now: datetime | None = None,
        reasons: bool = True,
        last: Mapping[str, LastScores] | str | None = None,
    ) -> list[Score]:
        """Answers for `leads`, in order, as of `now` (default: the current time); without the
        model's reasons and the parts' log-odds when `reasons` is false (SHAP is most of a large
        batch's time). `last`: each lead's last scores in the score log for its trend, or why
        there are none (None: no score log)."""
        return self.score_and_features(leads, now, reasons, last)[0]

    def score_and_features(
        self,
        leads: list[Lead],
        now: datetime | None = None,
        reasons: bool = True,
        last: Mapping[str, LastScores] | str | None = None,
        rate: float = 0.0,
    ) -> tuple[list[Score], list[dict]]:
        """`score`, and the input feature rows of the model-answered leads that the feature log
        samples at `rate` (`serving.explore.sampled`): lead_id, scored_at (`speaks_for`),
        model_version, segment, features ({the model's feature name: value})."""
        now = now or datetime.now(UTC)
        columns, request = self._request(leads, now)
        rules = rule_score(columns, self.rules)
        batch = Batch(columns, worded(columns, leads), rules, rules.points @ self.rule_parts)
        model_error = self.unavailable
        if self.model is not None:
            try:
                batch = self._model_answers(batch, reasons)
            except Exception as exc:  # the model must never take the answer down: rules answer
                model_error = f"model failed: {type(exc).__name__}"
        lacking = [self._missing(lead) for lead in leads]
        why = [model_error or lack for lack in lacking]
        by_rules = np.array([batch.answers is None or reason is not None for reason in why], dtype=bool)
        values = self._answer_columns(leads, batch, request, by_rules, model_error is None)
        steps = self._next_steps(values["grade"].tolist(), columns)
        out = []
        for i, (lead, row) in enumerate(zip(leads, answer_rows(values), strict=True)):
            base = dict(
                row,
                next_step=steps[i],
                warnings=unread(lead, self.event_types, self.columns.extra, lead.as_of or now, self.columns.numeric),
            )
            if by_rules[i]:
                answer = self._by_rules(base, batch, i, why[i], lacking[i])
            else:
                answer = self._by_model(base, batch, i)
            out.append(self._explored(self._with_trend(answer, last), speaks_for(lead, now)))
        return out, self._feature_rows(columns, leads, out, now, rate)

    def _answer_columns(
        self, leads: list[Lead], batch: Batch, request: Request, by_rules: np.ndarray, model_ok: bool
    ) -> dict:
        """The answer's fields for every lead (`training.answer.answer_columns`), with each lead's
        account answer read from the lead and the contacts it sent."""
        rules, answers = batch.rules, batch.answers
        model = self.model if model_ok and answers is not None else None
        probability = None if model is None else answers.probability
        scored = Scored(probability, np.asarray(rules.is_mql, dtype=bool), np.asarray(rules.score, dtype=float))
        given = AccountRows(
            request.rows, request.at, batch.columns, scored, request.population, request.events, request.prepared
        )
        accounts = account_columns(model, self.rules, given, self.contract, self.feature_config)
        accounts["account_id"] = np.array([lead.account_id or lead.lead_id for lead in leads], dtype=object)
        rule_grades = np.array([self._rule_grade(round(float(x), 2)) for x in rules.score], dtype=object)
        version = self.model.version if self.model is not None else None
        return answer_columns(
            np.array([lead.lead_id for lead in leads], dtype=object),
            batch.columns["segment"],
            rules,
            accounts,
            answers,
            version,
            by_rules,
            rule_grades,
        )

    def _explored(self, answer: Score, at: datetime) -> Score:
        """`answer` with the exploration hold-out's verdict for the week of `at`; a lead it sends
        gets a next step saying why."""
        verdict = held(self.exploration, answer.lead_id, at, not answer.is_mql and not answer.rule_is_mql)
        answer.explore, answer.propensity = verdict.explore, verdict.propensity
        if verdict.explore:
            answer.next_step = step(self.exploration.share)
        return answer

    def _feature_rows(
        self, columns: Mapping, leads: list[Lead], answers: list[Score], now: datetime, rate: float
    ) -> list[dict]:
        """The model's input feature row of each model answer the feature log samples (each column
        read once for all of them: `_logged`)."""
        if self.model is None or rate <= 0:
            return []
        keep = [i for i, answer in enumerate(answers) if answer.scored_by == "model" and sampled(answer.lead_id, rate)]
        if not keep:
            return []
        names = list(self.model.feature_names)
        private = self.contract.private_columns  # logged as given or missing, never their text
        logged = [_logged(columns[name], keep, name in private) for name in names]
        values = zip(*logged, strict=True) if names else [()] * len(keep)
        return [
            {
                "lead_id": answers[i].lead_id,
                "scored_at": speaks_for(leads[i], now),
                "model_version": answers[i].model_version,
                "segment": answers[i].segment,
                "features": dict(zip(names, row, strict=True)),
            }
            for i, row in zip(keep, values, strict=True)
        ]

    def _by_rules(self, base: dict, batch: Batch, i: int, why: str | None, lacking: str | None) -> Score:
        """The rules' answer for lead `i`, with the rules that fired as its reasons; intent has no
        level when the lead's activity is unknown (`lacking`)."""
        fired = [
            Reason(text=self.descriptions[name], direction="positive" if p > 0 else "negative", weight=round(p, 2))
            for name, p in batch.rules.fired(i)[:5]
        ]
        fit, intent = rule_parts(batch.points[i], self.config, lacking)
        spread, confidence = interval(None, None, self.config, "the rules answered: there is no probability")
        return Score(
            **base,
            scored_by="rules",
            fallback_reason=why,
            **self._parts(fit, intent, spread, confidence),
            top_reasons=fired,
        )

    def _parts(self, fit, intent, spread, confidence) -> dict:
        """The parts beside the score, alike in model and rule answers (the trend is filled in
        later, from the score log)."""
        quadrant_ = quadrant(fit, intent, self.config)
        return dict(
            confidence=confidence, fit=fit, intent=intent, quadrant=quadrant_, interval=spread, trend=unknown(NO_LOG)
        )

    def _by_model(self, base: dict, batch: Batch, i: int) -> Score:
        """The model's answer for lead `i`, with its reasons and its parts' log-odds when the
        contributions were computed."""
        answers = batch.answers
        fit, intent = model_parts(batch.parts[i] if batch.parts is not None else None, batch.points[i], self.config)
        bounds = (float(answers.interval[0][i]), float(answers.interval[1][i])) if answers.interval else (None, None)
        spread, confidence = interval(*bounds, self.config, missing(self.model.version))
        reasons = []
        if batch.totals is not None:
            reasons = self.explainer.reasons(batch.totals[i], Row(batch.words, i))
        return Score(
            **base,
            scored_by="model",
            **self._parts(fit, intent, spread, confidence),
            top_reasons=reasons,
        )

    def _with_trend(self, answer: Score, last: Mapping[str, LastScores] | str | None) -> Score:
        """`answer` with its trend against `last` (or the reason there is none)."""
        if last is None or isinstance(last, str):
            answer.trend = unknown(last or NO_LOG)
            return answer
        now = answer.score if answer.scored_by == "model" else answer.rule_score
        answer.trend = trend(answer.scored_by, float(now), last.get(answer.lead_id), self.config.steady_points)
        return answer

    def _model_answers(self, batch: Batch, reasons: bool = True) -> Batch:
        """`batch` with the model's arrays for every row (`LeadModel.answers`), and with
        contributions per concept and per part (fit, intent) when `reasons`."""
        columns = batch.columns
        threads = self.config.threads if len(columns["lead_id"]) <= 32 else self.config.batch_threads
        answers = self.model.answers(columns, contributions=reasons, threads=threads)
        if not reasons:
            return replace(batch, answers=answers)
        contributions = answers.contributions
        totals, parts = self.explainer.totals(contributions), self.explainer.parts(contributions)
        return replace(batch, answers=answers, totals=totals, parts=parts)

    def _rule_grade(self, score: float) -> str:
        for grade, minimum in sorted(self.config.rule_grades.items(), key=lambda kv: -kv[1]):
            if score >= minimum:
                return grade
        return "D"

    def _next_steps(self, grades: list[str], columns: Mapping) -> list[str]:
        """Each lead's next step: the first rule whose grades hold the lead's grade and whose
        required flags are all >= 1 (a flag the features lack, or a missing value, is not set)."""
        flags = {}  # each required flag's set rows, read once
        for flag in dict.fromkeys(f for rule in self.config.next_steps for f in rule.requires):
            values = columns.get(flag)
            flags[flag] = [False] * len(grades) if values is None else (np.asarray(values, dtype=float) >= 1).tolist()
        steps = []
        for i, grade in enumerate(grades):
            for rule, wanted in self._routes:
                if grade in wanted and all(flags[flag][i] for flag in rule.requires):
                    steps.append(rule.step)
                    break
            else:
                steps.append("review by hand")
        return steps
