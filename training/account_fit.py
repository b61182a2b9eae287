"""Fitting and evaluating the account answer on history, beside the lead model of the same run.

An *account window* starts at an account's first hand-over and holds every hand-over of the
account in the next `accounts.window_days` days; the next hand-over after it starts the next
window. Its outcome: sales accepted at least one of them. Its inputs (`training.accounts.INPUTS`)
are read as of its first hand-over, from the account's contacts known then, each scored by the
evaluated lead model. A window that would end after the newest hand-over of the data is left out:
its outcome is not known yet.

Two answers are measured, and the better calibrated on the calibration period is kept:
- the roll-up 1 - prod(1 - p_i) of the members' calibrated probabilities, which treats contacts of
  one account as independent (they are not: one account's leads are accepted or not together) and
  counts contacts that are never handed over;
- the account model: a logistic regression on the inputs, cross-fitted on the calibration
  period's windows (the only windows whose members' probabilities come from a lead model that never
  saw them: on the training period they are the booster's own fit, too sure of itself), calibrated
  like the lead model on its out-of-fold margins (isotonic, sigmoid or none by cross-validated
  log-loss; `training/crossfit.py` does the same for the lead model of a flat snapshot), and
  compared out of fold.
The MQA threshold per segment is chosen on the calibration period like the lead thresholds. On the
test period the kept answer, both candidates, the best member's probability and the rule score's
roll-up (the best member's rule score) are measured against "any lead accepted in the window".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from features.rules import RuleConfig, rule_score
from training.accounts import EDGE, INPUTS, AccountModel, account_inputs, table_rows
from training.calibration import cross_validated_losses, fit_calibrator
from training.metrics import expected_calibration_error, score_metrics
from training.model import LeadModel
from training.run import TrainingData
from training.settings import TrainingConfig
from training.split import PARTS
from training.thresholds import choose_thresholds

DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class Windows:
    """Account windows: the row (into the training data's rows) of each window's first hand-over,
    its outcome, its part of the split, and how many hand-overs it holds."""

    first: np.ndarray
    y: np.ndarray
    part: np.ndarray
    handovers: np.ndarray
    of: np.ndarray  # per row of the training data: its window, -1 when its window is left out


@dataclass(frozen=True)
class AccountFit:
    """The account answer a run fitted (None when the data cannot support one: `notes` says why),
    its test-period figures (`account_*` metrics) and its notes."""

    model: AccountModel | None
    metrics: dict[str, float]
    notes: list[str]


def windows(rows: pd.DataFrame, parts: np.ndarray, window_days: int, censored: bool = True) -> Windows:
    """The account windows of labelled hand-overs (`account_id`, `mql_at`, `label`; `parts`: each
    row's part of the split), in time order within each account; `censored`: a window that would
    end after the newest hand-over is left out (a flat snapshot's outcomes are all known: its
    hand-overs share one time, and each account is one window)."""
    order = np.lexsort((rows["mql_at"].to_numpy(), rows["account_id"].to_numpy(dtype=object)))
    account = rows["account_id"].to_numpy(dtype=object)[order]
    at = pd.to_datetime(rows["mql_at"], utc=True).to_numpy()[order]
    label = rows["label"].to_numpy()[order]
    span = np.timedelta64(window_days, "D")
    newest = at.max() if len(at) else None
    first, y, count = [], [], []
    of = np.full(len(order), -1, dtype=np.int64)
    start = 0
    for i in range(1, len(order) + 1):
        if i < len(order) and account[i] == account[start] and at[i] < at[start] + span:
            continue
        if not censored or at[start] + span <= newest:  # the whole window is in the data: its outcome is known
            of[order[start:i]] = len(first)
            first.append(order[start])
            y.append(int(label[start:i].max()))
            count.append(i - start)
        start = i
    first = np.asarray(first, dtype=np.int64)
    return Windows(first, np.asarray(y, dtype=int), np.asarray(parts)[first], np.asarray(count), of)


def inputs_of(
    data: TrainingData, model: LeadModel, rules: RuleConfig, found: Windows
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The account inputs (`INPUTS`) of each window, with whether the rules send a member and the
    best member's rule score, as of its first hand-over: every contact of
    the account known then, scored by `model` (the window's hand-overs at that time as they were
    handed over, the others as contacts: `training.accounts.contact_view`)."""
    mql_at = data.rows["mql_at"].to_numpy()
    starts = np.flatnonzero(found.of >= 0)
    starts = starts[mql_at[starts] == mql_at[found.first[found.of[starts]]]]  # hand-overs at a window's start
    rows = data.rows.iloc[starts].reset_index(drop=True)
    features = data.features.iloc[starts].reset_index(drop=True)  # as of each hand-over's mql_at
    tables = (rows, data.dataset.leads, data.dataset.events)
    given = table_rows(data.contract, features, model.probability(features), rule_score(features, rules), *tables)
    inputs = account_inputs(model, rules, given)
    group = inputs.members.group[np.searchsorted(starts, found.first)]  # each window's first hand-over
    return inputs.matrix[group], inputs.rule_mql[group], inputs.rule_best[group]


def _enough(y: np.ndarray, minimum: int, folds: int) -> bool:
    """Enough windows, and of each outcome enough for every fold of a cross-validation to have both."""
    return len(y) >= minimum and min(y.sum(), len(y) - y.sum()) >= 2 * folds


def fit_accounts(data: TrainingData, model: LeadModel, config: TrainingConfig, rules: RuleConfig) -> AccountFit:
    """The account answer of a run (module doc): fitted on the calibration period's windows,
    measured on the test period's."""
    settings, folds = config.accounts, config.calibration.folds
    parts = np.full(len(data.rows), "", dtype=object)
    for name in PARTS:
        parts[data.split.mask(name)] = name
    found = windows(data.rows, parts, settings.window_days, censored=data.split.kind == "time")
    if not len(found.first):
        return AccountFit(None, {}, [_too_few("no account window of the data is complete", settings)])
    X, rule_mql, rule_best = inputs_of(data, model, rules, found)
    known = ~np.isnan(X).any(axis=1)
    cal, test = ((found.part == name) & known for name in ("calibrate", "test"))
    y = found.y
    if not _enough(y[cal], settings.min_episodes, folds):
        return AccountFit(None, {}, [_too_few(f"{int(cal.sum()):,} account windows", settings)])
    rollup = expit(X[:, INPUTS.index("rollup_log_odds")])
    estimator, margin = _crossfit(X[cal], y[cal], config.model.random_state, folds)
    method, oof = _calibration(margin, y[cal], config)
    calibrator = fit_calibrator(method, margin, y[cal])
    ece = {"model": expected_calibration_error(y[cal], oof), "roll-up": expected_calibration_error(y[cal], rollup[cal])}
    kept = min(ece, key=ece.get)
    # the MQA thresholds are chosen on probabilities of windows each answer never learnt from
    unseen = oof if kept == "model" else rollup[cal]
    segments = data.features["segment"].to_numpy(dtype=object)[found.first]
    mql_at = data.rows["mql_at"].iloc[found.first].reset_index(drop=True)[cal]
    thresholds = choose_thresholds(unseen, y[cal], segments[cal], mql_at, rule_mql[cal], config.thresholds)
    fitted = AccountModel(kept, settings.window_days, thresholds, estimator, calibrator, _why(kept, ece, cal.sum()))
    answers = {
        name: _answer(AccountModel(method_, settings.window_days, thresholds, estimator, calibrator), X, known)
        for name, method_ in (("account", kept), ("account_model", "model"), ("account_rollup", "roll-up"))
    }
    answers["account_best_lead"] = expit(X[:, INPUTS.index("best_log_odds")])
    metrics = {f"account_calibration_ece_{k.replace('-', '')}": v for k, v in ece.items()}
    metrics["account_kept_model"] = float(kept == "model")
    metrics.update(_test_figures(y[test], {k: v[test] for k, v in answers.items()}, rule_best[test]))
    metrics.update(_mqa_figures(y[test], answers["account"][test] >= fitted.threshold(segments[test]), rule_mql[test]))
    metrics.update(_handover_rollup(data, model, found, test))
    return AccountFit(fitted, metrics, [])


def _answer(account: AccountModel, X: np.ndarray, known: np.ndarray) -> np.ndarray:
    out = np.full(len(X), np.nan)
    out[known] = account.probability(X[known])
    return out


def _why(kept: str, ece: dict[str, float], windows_: int) -> str:
    other = "roll-up" if kept == "model" else "model"
    words = {"model": "account model", "roll-up": "roll-up"}
    return (
        f"kept the {words[kept]}: on the calibration period's {int(windows_):,} account windows its ECE is "
        f"{ece[kept]:.3f}, against {ece[other]:.3f} for the {words[other]} (the account model's out of fold)"
    )


def _mqa_figures(y: np.ndarray, mqa: np.ndarray, rule_mql: np.ndarray) -> dict[str, float]:
    """On the test windows: the share of accounts the model calls MQAs and the share with a rule
    MQL, and how often sales accepted a lead of each."""
    out = {"account_mqa_share": float(mqa.mean()) if len(y) else np.nan}
    out["account_rule_mql_share"] = float(rule_mql.mean()) if len(y) else np.nan
    out["account_mqa_acceptance"] = float(y[mqa].mean()) if mqa.any() else np.nan
    out["account_rule_mql_acceptance"] = float(y[rule_mql].mean()) if rule_mql.any() else np.nan
    return out


def _logistic():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1_000))


def _crossfit(X: np.ndarray, y: np.ndarray, seed: int, folds: int) -> tuple[object, np.ndarray]:
    """The logistic model fitted on every window, and each window's margin from a model fitted on
    the other folds (what its calibrator learns from)."""
    margin = np.empty(len(y))
    for fit, held in StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(X, y):
        margin[held] = _logistic().fit(X[fit], y[fit]).decision_function(X[held])
    return _logistic().fit(X, y), margin


def _calibration(margin: np.ndarray, y: np.ndarray, config: TrainingConfig) -> tuple[str, np.ndarray]:
    """The calibration method with the lowest cross-validated log-loss on the account model's
    margin, and its out-of-fold probabilities (each fold calibrated on the others)."""
    seed = config.model.random_state
    losses = cross_validated_losses(margin, y, config.calibration, seed)
    method = min(losses, key=losses.get)
    oof = np.empty(len(y))
    folds = StratifiedKFold(n_splits=config.calibration.folds, shuffle=True, random_state=seed)
    for fit, held in folds.split(margin, y):
        oof[held] = fit_calibrator(method, margin[fit], y[fit]).predict(margin[held])
    return method, oof


def _test_figures(y: np.ndarray, answers: dict[str, np.ndarray], rule_best: np.ndarray) -> dict[str, float]:
    """ROC AUC, PR AUC, ECE and log-loss of each account answer on the test windows, and the
    ranking figures of the rule score's roll-up (the best member's rule score)."""
    if len(np.unique(y)) < 2:
        return {}
    out = {"account_test_windows": float(len(y)), "account_acceptance_rate": float(y.mean())}
    for name, p in answers.items():
        figures = score_metrics(y, p, p)
        out.update({f"{name}_{k}": figures[k] for k in ("roc_auc", "pr_auc", "ece", "log_loss")})
    rule = score_metrics(y, rule_best, np.clip(rule_best / 100, 0, 1))
    out.update({f"account_rule_rollup_{k}": rule[k] for k in ("roc_auc", "pr_auc")})
    return out


def _handover_rollup(data: TrainingData, model: LeadModel, found: Windows, test: np.ndarray) -> dict[str, float]:
    """The independence check on the test windows of two or more hand-overs: the roll-up of the
    handed-over leads' own probabilities against how often sales accepted at least one."""
    several = np.flatnonzero(test & (found.handovers >= 2))
    rows = np.flatnonzero(np.isin(found.of, several))
    if len(several) < 20:
        return {}
    p = model.probability(data.features.iloc[rows])
    log_none = pd.Series(np.log1p(-np.clip(p, 0, 1 - EDGE))).groupby(found.of[rows]).sum()
    predicted = -np.expm1(log_none.reindex(several).to_numpy())
    return {
        "account_handover_rollup_windows": float(len(several)),
        "account_handover_rollup_predicted": float(predicted.mean()),
        "account_handover_rollup_observed": float(found.y[several].mean()),
    }


def _too_few(what: str, settings) -> str:
    return (
        f"account answer: not fitted ({what}; the account model needs {settings.min_episodes} windows of both "
        "outcomes in the calibration period): answers carry the buying group but no account "
        "probability"
    )
