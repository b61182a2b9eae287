"""The account answer: for a lead's account, as of the lead's time, the calibrated probability that
sales accepts at least one of the account's leads handed over in the coming window, its grade and
MQA verdict, and the buying group's completeness (`features/buying.py`).

An account's *members* at a time are its known contacts then, the lead included, each scored by
the lead model (`training/members.py`); the account's inputs (`INPUTS`) are the best member's
log-odds, the roll-up 1 - prod(1 - p_i) of all of them, how many are known and engaged, the
account's decayed engagement and the buying group's completeness. `AccountModel` (fitted by
`training/account_fit.py`, registered inside the `LeadModel`) turns them into the answer by the
method its training kept: the roll-up as it is, or a logistic model on the inputs calibrated on
the calibration period like the lead model.

`account_columns` is the one place the account answer is computed (batch and Spark scoring, the
service, the monitor and the report call it, for one lead with its contacts or a million leads);
training reads the same `account_inputs`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from scipy.special import expit

from core.schema import ACCOUNT, joined, names
from features import names as feature_names
from features.arrays import Columns, micros, to_columns
from features.build import row_columns
from features.buying import describe
from features.rules import RuleConfig
from training.members import AccountRows, Members, Scored, account_groups, member_scores, prepare
from training.model import ALL, LeadModel, MarginCalibrator, MarginMap

METHODS = ("model", "roll-up")
INPUTS = ("best_log_odds", "rollup_log_odds", "log_contacts", "log_engaged", "log_engagement", "completeness")
EDGE = 1e-6  # probabilities are kept inside (EDGE, 1 - EDGE) before their log-odds are taken


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), EDGE, 1 - EDGE)
    return np.log(p / (1 - p))


@dataclass(frozen=True)
class AccountModel:
    """How a fitted model answers for accounts: the kept `method` ("model": `estimator`, a
    scikit-learn pipeline on `INPUTS`, through `calibrator` on its decision function; "roll-up":
    1 - prod(1 - p_i) as it is), the MQA threshold per segment (`ALL` for one without its own),
    the hand-over window the answer speaks for, and why the method was kept (in words)."""

    method: str
    window_days: int
    thresholds: dict[str, float]
    estimator: object | None = None
    calibrator: MarginCalibrator | None = None
    why: str = ""

    def probability(self, inputs: np.ndarray) -> np.ndarray:
        """The account answer for rows of `INPUTS` (NaN where no member could be scored)."""
        inputs = np.asarray(inputs, dtype=float).reshape(-1, len(INPUTS))
        out = np.full(len(inputs), np.nan)
        known = ~np.isnan(inputs).any(axis=1)
        if not known.any():
            return out
        if self.method == "roll-up":
            out[known] = expit(inputs[known, INPUTS.index("rollup_log_odds")])
        else:
            mean, scale, coef, intercept, calibrated = self._linear
            out[known] = calibrated(((inputs[known] - mean) / scale) @ coef + intercept)
        return np.clip(out, EDGE, 1 - EDGE)

    @cached_property
    def _linear(self) -> tuple:
        """The pipeline's decision function as numpy on its public fitted attributes (the scaler's
        `mean_` and `scale_`, the logistic model's `coef_` and `intercept_`) and the calibrator's
        map: no per-call input checks on the request path (they cost more than the answer)."""
        scaler, logistic = self.estimator[0], self.estimator[-1]
        return (
            scaler.mean_,
            scaler.scale_,
            logistic.coef_[0],
            float(logistic.intercept_[0]),
            MarginMap.of(self.calibrator),
        )

    def threshold(self, segments: np.ndarray) -> np.ndarray:
        return np.array([self.thresholds.get(str(s), self.thresholds[ALL]) for s in segments], dtype=float)


@dataclass(frozen=True)
class Inputs:
    """Per (account, time) group: the `INPUTS` (NaN rows where no member has a probability), the
    members known and engaged, whether the rules send any member to sales and the best member's
    rule score; `members` maps rows and members to their group."""

    members: Members
    matrix: np.ndarray
    contacts: np.ndarray
    engaged: np.ndarray
    rule_mql: np.ndarray
    rule_best: np.ndarray


def _inputs(found: Members, p: np.ndarray, features: Columns, config) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per group: the `INPUTS` matrix (NaN rows where no member has a probability), the members
    known and those engaged."""
    groups = len(found.first)
    contacts = np.bincount(found.of, minlength=groups).astype(float)
    scored = ~np.isnan(p)
    safe = np.where(scored, np.clip(p, EDGE, 1 - EDGE), 0.0)
    best = np.full(groups, -np.inf)
    np.maximum.at(best, found.of, np.where(scored, safe, -np.inf))
    log_none = np.bincount(found.of, weights=np.log1p(-safe), minlength=groups)
    any_scored = np.bincount(found.of, weights=scored, minlength=groups) > 0
    engaged_name = feature_names.windowed(feature_names.ENGAGED_CONTACTS, config.engaged_window_days)
    engaged, engagement, completeness = (
        _column(features, name)[found.first]
        for name in (engaged_name, "account_engagement_decayed", feature_names.COMPLETENESS)
    )
    matrix = np.column_stack(
        [
            logit(np.where(any_scored, best, 0.5)),
            logit(np.where(any_scored, -np.expm1(log_none), 0.5)),
            np.log1p(contacts),
            np.log1p(engaged),  # NaN (feature rows made before these columns): no account probability
            np.log1p(engagement),
            completeness,
        ]
    )
    matrix[~any_scored] = np.nan
    return matrix, contacts, engaged


def account_inputs(
    model: LeadModel | None, rules: RuleConfig, given: AccountRows, settings: tuple | None = None
) -> Inputs:
    """The account inputs of each row's (account, time) group (`Inputs`): its members are the known
    people of the account (the rows added to them), or without `given.people` the rows of the same
    account and time. `settings`: (contract, feature config) when there is no model."""
    contract, config = (model.contract, model.feature_config) if model is not None else settings
    rows, at, features, scored, people = given.rows, given.at, given.features, given.scored, given.people
    if people is None:
        group, first = account_groups(np.asarray(rows["account_id"], dtype=object), at)
        found = Members(group, np.arange(len(group)), group, first)
        p = np.full(len(group), np.nan) if scored.probability is None else np.asarray(scored.probability, float)
        mql, points = np.asarray(scored.rule_mql, dtype=bool), np.asarray(scored.rule_score, dtype=float)
    else:
        prepared = given.prepared or prepare(rows, at, people, contract)
        found = prepared.found
        p, mql, points = member_scores(model, rules, scored, prepared, given.events, contract, config)
    matrix, contacts, engaged = _inputs(found, p, features, config)
    groups = len(found.first)
    rule_best = np.full(groups, -np.inf)
    np.maximum.at(rule_best, found.of, np.where(np.isnan(points), -np.inf, points))
    rule_mql = np.bincount(found.of, weights=mql, minlength=groups) > 0
    return Inputs(found, matrix, contacts, engaged, rule_mql, rule_best)


def account_columns(
    model: LeadModel | None, rules: RuleConfig, given: AccountRows, contract=None, config=None
) -> Columns:
    """The account answer of every row (`core.schema.ACCOUNT`, as table columns): by the model's
    `accounts` when it has one and answered, else with no probability (the buying group and the
    rules' verdict are known either way). `contract` and `config`: the feature settings when there
    is no model."""
    config = model.feature_config if model is not None else config
    inputs = account_inputs(model, rules, given, (contract, config))
    rows, features, scored = given.rows, given.features, given.scored
    found = inputs.members
    accounts = getattr(model, "accounts", None)
    n = len(found.first)
    probability = np.full(n, np.nan)
    if accounts is not None and scored.probability is not None:
        probability = accounts.probability(inputs.matrix)
    known = ~np.isnan(probability)
    segments = np.asarray(features["segment"], dtype=object)[found.first]
    threshold = accounts.threshold(segments) if accounts is not None else np.full(n, np.nan)
    grade = np.full(n, None, dtype=object)
    if known.any():
        grade[known] = model.grade(probability[known])
    states = _role_states(features, config)
    missing, steps = (
        (None, None)
        if states is None
        else describe({name: values[found.first] for name, values in states.items()}, config)
    )
    values = {
        "account_id": np.asarray(rows["account_id"], dtype=object)[found.first],
        "account_probability": probability,
        "account_grade": grade,
        "account_is_mqa": np.where(known, probability >= np.where(np.isnan(threshold), np.inf, threshold), None),
        "account_threshold": np.where(known, threshold, np.nan),
        "account_rule_mql": inputs.rule_mql,
        "account_completeness": _column(features, feature_names.COMPLETENESS)[found.first],
        "account_missing_roles": np.array([joined(m) for m in missing or [None] * n], dtype=object),
        "account_contacts": inputs.contacts.astype(np.int64),
        "account_engaged_contacts": _counts(inputs.engaged),
        "account_next_step": np.array(steps or [None] * n, dtype=object),
    }
    return {name: values[name][found.group] for name in names(ACCOUNT)}


def _counts(values: np.ndarray) -> np.ndarray:
    """Counts as whole numbers; None where not known (object array), int64 when all are."""
    if np.isnan(values).any():
        return np.array([None if np.isnan(v) else int(v) for v in values], dtype=object)
    return values.astype(np.int64)


def _role_states(features: Columns, config) -> Columns | None:
    """The buying group's role columns of the feature rows (`features.buying`); None for feature
    rows built before the buying group was (its roles are then not known)."""
    wanted = [feature_names.role(r.name) for r in config.buying_group.roles]
    if any(name not in features for name in wanted):
        return None
    return {name: np.asarray(features[name], dtype=float) for name in wanted}


def _column(features: Columns, name: str) -> np.ndarray:
    """A feature column as numbers; NaN throughout for feature rows made before it existed."""
    if name in features:
        return np.asarray(features[name], dtype=float)
    return np.full(len(features["lead_id"]), np.nan)


def table_rows(
    contract,
    features: pd.DataFrame,
    probability: np.ndarray | None,
    by_rules,
    rows: pd.DataFrame | None = None,
    population: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
) -> AccountRows:
    """What account answers are read from, out of tables: the feature rows with their model
    probabilities and rule score (a `features.rules.RuleResult`), and the rows scored (lead
    columns), every lead of their accounts (`population`) and those leads' events; without `rows`,
    the feature rows alone (an account's members are then the rows of the same account and time)."""
    columns = {c: features[c].to_numpy() for c in features.columns}
    found = np.asarray(probability, dtype=float) if probability is not None else None
    scored = Scored(found, np.asarray(by_rules.is_mql, dtype=bool), np.asarray(by_rules.score, dtype=float))
    at = micros(features["as_of"])
    if rows is None:
        columns.setdefault("account_id", columns["lead_id"])  # feature rows made before accounts
        return AccountRows(columns, at, columns, scored)
    wanted = row_columns(contract)
    people, acts = to_columns(population, wanted), to_columns(events, ("lead_id", "ts", "type"), keep_categorical=True)
    return AccountRows(to_columns(rows, wanted), at, columns, scored, people, acts)
