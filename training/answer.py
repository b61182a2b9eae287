"""The one assembly of the answer (`core.schema.ANSWER`) from what was computed for a batch of
rows: the model's arrays, the rule score, the account answer, and who answered each row.

Batch and Spark scoring (`frame`), the service (`serving/scorer.py`) and the report
all take their answers from `answer_columns`; the service adds only the parts it alone computes
(reasons, fit and intent, interval, trend). `answer_rows` turns the rows into the API's shape:
the account fields (`core.schema.ACCOUNT`) nested under their `path`, lists where `many`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from core.schema import ACCOUNT, ACCOUNT_ID, ANSWER, Field, listed, names
from features.arrays import Columns
from features.rules import RuleConfig, rule_score
from training.accounts import account_columns, table_rows
from training.model import Answers, LeadModel

DIGITS = 6  # decimals of a number in the API's answer
MODEL_ONLY = tuple(f.name for f in ANSWER if f.by_model)  # null when the rules answer


def answer_columns(
    lead_ids: np.ndarray,
    segments: np.ndarray,
    rules,
    accounts: Columns,
    answers=None,
    version: str | None = None,
    by_rules: np.ndarray | None = None,
    rule_grades: np.ndarray | None = None,
) -> Columns:
    """The answer's fields as columns: the model's (`answers`, a `training.model.Answers`, by
    model `version`) for each row, except the rows `by_rules` (then the rules' verdict, grade
    `rule_grades`, and no probability or account probability); every row carries the rule score
    (`rules`, a `features.rules.RuleResult`) and its account answer (`accounts`)."""
    n = len(lead_ids)
    rules_answer = np.ones(n, dtype=bool) if answers is None else np.zeros(n, dtype=bool)
    if by_rules is not None:
        rules_answer |= np.asarray(by_rules, dtype=bool)
    probability = np.full(n, np.nan) if answers is None else np.asarray(answers.probability, dtype=float)
    threshold = np.full(n, np.nan) if answers is None else np.asarray(answers.threshold, dtype=float)
    model_grade = np.full(n, "D", dtype=object) if answers is None else np.asarray(answers.grade, dtype=object)
    grades = model_grade if rule_grades is None else np.where(rules_answer, rule_grades, model_grade)
    values = {
        "lead_id": np.asarray(lead_ids, dtype=object),
        "probability": probability,
        "score": np.rint(np.where(np.isnan(probability), 0.0, probability) * 100).astype(np.int64),
        "grade": grades,
        "is_mql": np.where(rules_answer, rules.is_mql, probability >= threshold).astype(bool),
        "threshold": threshold,
        "rule_score": np.asarray(rules.score, dtype=float),
        "rule_is_mql": np.asarray(rules.is_mql, dtype=bool),
        "rule_threshold": np.asarray(rules.threshold, dtype=float),
        "segment": np.asarray(segments, dtype=object),
        "model_version": np.full(n, version, dtype=object),
        **accounts,
    }
    if rules_answer.any():
        for name in MODEL_ONLY:
            values[name] = np.where(rules_answer, None, values[name].astype(object))
    return {name: values[name] for name in names(ANSWER)}


def plain(value, field: Field | None = None):
    """A column's value as the API sends it: numpy scalars unboxed, NaN as None, a `many` text as
    its list."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        value = None if math.isnan(value) else round(value, field.digits if field is not None else DIGITS)
    if field is not None and field.many and value is not None:
        return listed(value)
    return value


def answer_rows(columns: Columns, fields: tuple[Field, ...] = ANSWER) -> list[dict]:
    """Every row of `answer_columns` in the API's shape: top-level fields, and each `path` field
    under its object (`{"account": {"probability": ...}}`); each value as `plain` makes it, a
    column at a time (numpy unboxes a column at once)."""
    n = len(columns[fields[0].name])
    out: list[dict] = [{} for _ in range(n)]
    for field in fields:
        values = [plain(value, field) for value in np.asarray(columns[field.name]).tolist()]
        if field.path:
            top, name = field.path
            for row, value in zip(out, values, strict=True):
                row.setdefault(top, {})[name] = value
        else:
            for row, value in zip(out, values, strict=True):
                row[field.name] = value
    return out


def predict(model: LeadModel, features: pd.DataFrame, rules: RuleConfig | None = None) -> pd.DataFrame:
    """The full answer per feature row (`core.schema.ANSWER`): model and rules (the model's, or
    `rules`) side by side; each row's account answer reads the rows of its account and time."""
    return frame(model, features, model.answers(features), rules)


def frame(
    model: LeadModel,
    features: pd.DataFrame,
    answers: Answers,
    rules: RuleConfig | None = None,
    tables: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """`answers` of `features` as the answer table, with the rule score beside them and each row's
    account answer, read from `tables` (the rows scored, every lead of their accounts and those
    leads' events: `training.accounts.table_rows`), or without them from the rows of the same
    account and time."""
    rules = rules or model.rules
    scored = rule_score(features, rules)
    given = table_rows(model.contract, features, answers.probability, scored, *(tables or ()))
    accounts = account_columns(model, rules, given)
    lead_ids, segments = features["lead_id"].to_numpy(), features["segment"].to_numpy()
    values = answer_columns(lead_ids, segments, scored, accounts, answers, model.version)
    return pd.DataFrame(values, index=features.index)


# an account row (`account_rows`): the account's answer, then what its scored leads were
ACCOUNT_LEADS: tuple[Field, ...] = (
    Field("leads", "long", "The account's leads scored.", nullable=False),
    Field("model_mqls", "long", "Of them, those the model sends to sales.", nullable=False),
    Field("rule_mqls", "long", "Of them, those the rules send to sales.", nullable=False),
    Field("best_lead_id", "string", "The lead with the highest probability (rule score without one).", max_length=128),
)


def account_rows(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per (account, as_of) of a table of scores (`frame`, with `as_of`): the account's
    answer (`core.schema.ACCOUNT`), how many of its leads were scored, how many of them the model
    and the rules send to sales, and the lead with the highest probability (rule score without
    one); accounts in the order they first appear."""
    key = ACCOUNT_ID.name
    fields = [name for name in names(ACCOUNT) if name != key]
    columns = [key, "as_of", *fields, *names(ACCOUNT_LEADS)]
    if scores.empty:
        return pd.DataFrame(columns=columns)
    ranked = scores.assign(_rank=scores["probability"].astype(float).fillna(-1.0), _rule=scores["rule_score"])
    ranked = ranked.sort_values(["_rank", "_rule", "lead_id"], ascending=[False, False, True], kind="stable")
    groups = ranked.groupby([key, "as_of"], sort=False, dropna=False)
    out = groups[fields].first()
    out["leads"] = groups.size()
    out["model_mqls"] = groups["is_mql"].sum().astype(np.int64)
    out["rule_mqls"] = groups["rule_is_mql"].sum().astype(np.int64)
    out["best_lead_id"] = groups["lead_id"].first()
    keys = scores[[key, "as_of"]].drop_duplicates()
    out = out.reset_index().merge(keys, on=[key, "as_of"], how="right")
    return out[columns].reset_index(drop=True)
