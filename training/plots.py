"""Evaluation plots as PNG files: reliability, ROC, gain, score distribution, importance, rejection
reasons. Figures are `matplotlib.figure.Figure` objects written straight to files: no pyplot, so no
GUI backend is chosen or needed, and importing this module changes no matplotlib setting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_curve


def _figure(width: float, height: float):
    """A figure with one plot (Agg draws it when it is saved as PNG)."""
    fig = Figure(figsize=(width, height))
    return fig, fig.subplots()


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def evaluation_plots(
    out: Path, y, model_probability, rule_score, rule_probability, importance: pd.Series
) -> list[Path]:
    """Write the plots of one evaluation into `out`; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []

    fig, ax = _figure(5, 5)
    for name, p in (("model", model_probability), ("rule score (calibrated)", rule_probability)):
        rate, mean = calibration_curve(y, p, n_bins=10, strategy="uniform")
        ax.plot(mean, rate, marker="o", label=name)
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect")
    ax.set(xlabel="predicted acceptance", ylabel="observed acceptance", title="Reliability (test period)")
    ax.legend()
    paths.append(_save(fig, out / "reliability.png"))

    fig, ax = _figure(5, 5)
    for name, s in (("model", model_probability), ("rule score", rule_score)):
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (test period)")
    ax.legend()
    paths.append(_save(fig, out / "roc.png"))

    fig, ax = _figure(6, 4.5)
    share = np.arange(1, len(y) + 1) / len(y)
    for name, s in (("model", model_probability), ("rule score", rule_score)):
        gained = np.cumsum(y[np.argsort(-s, kind="stable")]) / max(y.sum(), 1)
        ax.plot(share, gained, label=name)
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="random")
    ax.set(xlabel="share of leads sent to sales", ylabel="share of accepted leads found", title="Gain (test period)")
    ax.legend()
    paths.append(_save(fig, out / "gain.png"))

    fig, ax = _figure(6, 4)
    bins = np.linspace(0, 1, 41)
    ax.hist(model_probability[y == 1], bins=bins, alpha=0.6, label="accepted", density=True)
    ax.hist(model_probability[y == 0], bins=bins, alpha=0.6, label="not accepted", density=True)
    ax.set(xlabel="calibrated probability", ylabel="density", title="Score by outcome (test period)")
    ax.legend()
    paths.append(_save(fig, out / "score_by_outcome.png"))

    top = importance.sort_values().tail(25)
    fig, ax = _figure(7, 7)
    ax.barh(top.index, top.to_numpy())
    ax.set(xlabel="total gain", title="Feature importance")
    paths.append(_save(fig, out / "feature_importance.png"))
    return paths


def reasons_plot(shares: pd.DataFrame, path: Path) -> Path:
    """Share of each rejection reason among rejections, stacked, per period (rows of `shares`)."""
    fig, ax = _figure(8, 4.5)
    if not shares.empty:
        ax.stackplot(np.arange(len(shares)), shares.to_numpy().T, labels=[str(c) for c in shares.columns], lw=0)
        ax.set_xticks(np.arange(len(shares)), [str(i) for i in shares.index], rotation=45, ha="right", fontsize=7)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    ax.set(title="Rejection reasons over time (share of rejections)", xlabel="month", ylabel="share")
    return _save(fig, path)
