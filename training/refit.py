"""The served model: after the honest evaluation, the same model refit on the newest history.

The evaluated model learns from the oldest part of the history (train), is calibrated on the next
(calibrate) and tested on the newest (test), so its figures come from hand-overs it never saw. Served
as is, it would never learn from the newest 40% of the history. So once it has been evaluated and
gated, the served model is fitted again with the same hyper-parameters on every hand-over but the
newest calibration window (boosting rounds scaled to the rows, as early stopping found them for
the evaluated model), then calibrated and thresholded on that newest window. Without hand-over
times (a random split) there is no "newest": the served model is cross-fitted on every row
(`training/crossfit.py`: fitted on all, calibrated on out-of-fold log-odds).

The run's figures and the gate stay those of the evaluated model; the run and the registered
version record the rows the served model was fitted and calibrated on (`Served.tags`). A served
model of a flat snapshot also keeps the keys of the leads it learnt from (`lead_keys`): every
hand-over of a snapshot carries the export time, so time cannot tell a later export's new leads
from the ones the model saw, and recalibration (`training/recalibrate.py`) tells them by lead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.errors import LeadscoreError
from features.contract import ContractConfig
from features.rules import RuleConfig
from features.settings import FeatureConfig
from training.crossfit import crossfit
from training.fit import Period, best_rounds, fit_model
from training.model import LeadModel
from training.settings import TrainingConfig
from training.split import Split


@dataclass(frozen=True)
class Window:
    """Hand-overs a model learnt from: how many, the oldest and the newest."""

    rows: int
    first: pd.Timestamp
    last: pd.Timestamp

    @classmethod
    def of(cls, mql_at: pd.Series) -> Window:
        return cls(len(mql_at), mql_at.min(), mql_at.max())


@dataclass(frozen=True)
class Served:
    """The model the registry serves, and what it was fitted and calibrated on."""

    model: LeadModel
    fitted: Window
    calibrated: Window
    rounds: int
    method: str  # "refit", "crossfit" (no hand-over times) or "evaluated" (refit switched off)

    def tags(self) -> dict[str, str]:
        """What the run and the registered version record about the served model."""
        out = {"served.method": self.method, "served.rounds": str(self.rounds)}
        for name, window in (("fitted", self.fitted), ("calibrated", self.calibrated)):
            out[f"served.{name}_rows"] = str(window.rows)
            out[f"served.{name}_from"] = window.first.isoformat()
            out[f"served.{name}_to"] = window.last.isoformat()
        return out

    def sentence(self) -> str:
        """What the console says about the served model."""
        f, c = self.fitted, self.calibrated
        how = {
            "refit": "refit after the evaluation",
            "crossfit": "cross-fitted on every hand-over, calibrated on out-of-fold log-odds",
            "evaluated": "the evaluated model itself",
        }[self.method]
        return (
            f"served model ({how}): fitted on {f.rows:,} hand-overs ({f.first:%Y-%m-%d} to {f.last:%Y-%m-%d}, "
            f"{self.rounds} rounds), calibrated on {c.rows:,} ({c.first:%Y-%m-%d} to {c.last:%Y-%m-%d})"
        )


def lead_keys(lead_ids) -> np.ndarray:
    """A 64-bit key per lead id (pandas' fixed-key hash of the id as text): what a flat-snapshot
    model keeps of the leads it learnt from (`np.unique` of them), without keeping the ids."""
    text = pd.Series(lead_ids, dtype=object).astype(str).to_numpy(dtype=object)
    return pd.util.hash_array(text, categorize=False)


def serving_parts(mql_at: pd.Series, calibrate_fraction: float):
    """Masks of the rows the served model is fitted and calibrated on (a time split): the
    newest `calibrate_fraction` of the history calibrates, everything older fits. Unlike the
    evaluation's split, an account may have leads in both: the served model meets new leads of
    accounts it learnt from every day, so its calibration should see them too (the evaluation
    keeps accounts apart so that its test figures are not flattered by them)."""
    newest = (mql_at >= mql_at.quantile(1 - calibrate_fraction)).to_numpy()
    return ~newest, newest


def rounds_for(evaluated: LeadModel, evaluated_rows: int, rows: int) -> int:
    """The evaluated booster's rounds (as early stopping chose them) scaled to `rows`."""
    best = best_rounds(evaluated.booster)
    return max(1, round(best * rows / max(evaluated_rows, 1)))


def refit(
    features: pd.DataFrame,
    rows: pd.DataFrame,
    split: Split,
    evaluated: LeadModel,
    config: TrainingConfig,
    rules: RuleConfig,
    feature_config: FeatureConfig,
    contract: ContractConfig,
    params: dict | None = None,
) -> Served:
    """The served model (see the module's docstring); `features` and `rows` hold every labelled
    hand-over in the same order, `split` is the evaluation's split of them."""
    mql_at = rows["mql_at"]
    train = split.mask("train")
    if not config.refit:
        model = evaluated
        model.trained_through = mql_at[train | split.mask("calibrate")].max()
        if split.kind != "time":
            model.learnt_leads = np.unique(lead_keys(rows.loc[train | split.mask("calibrate"), "lead_id"]))
        rounds = best_rounds(evaluated.booster)
        calibrated = Window.of(mql_at[split.mask("calibrate")])
        return Served(model, Window.of(mql_at[train]), calibrated, rounds, "evaluated")
    y, w = rows["label"].to_numpy(), rows["weight"].to_numpy()
    if split.kind != "time":
        every = Period(features, y, w)
        model = crossfit(every, rows["account_id"].to_numpy(), evaluated.feature_names, config, rules,
                         feature_config, contract, params)  # fmt: skip
        model.trained_through = mql_at.max()
        model.learnt_leads = np.unique(lead_keys(rows["lead_id"]))
        rounds = model.booster.current_iteration()
        return Served(model, Window.of(mql_at), Window.of(mql_at), rounds, "crossfit")
    fit_rows, cal_rows = serving_parts(mql_at, config.split.calibrate_fraction)
    for name, mask in (("fitted", fit_rows), ("calibrated", cal_rows)):
        if len(np.unique(y[mask])) < 2:
            raise LeadscoreError(f"training: the served model's {name} rows have only one outcome")
    rounds = rounds_for(evaluated, int(train.sum()), int(fit_rows.sum()))
    part = lambda mask: Period(features[mask], y[mask], w[mask])  # noqa: E731
    model = fit_model(
        part(fit_rows), part(cal_rows), evaluated.feature_names, config, rules, feature_config, contract, params, rounds
    )
    model.trained_through = mql_at[fit_rows | cal_rows].max()
    return Served(model, Window.of(mql_at[fit_rows]), Window.of(mql_at[cal_rows]), rounds, "refit")
