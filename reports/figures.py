"""Charts for the model-vs-rules report (matplotlib; the notebook embeds them as images)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

COLOURS = {"both": "#4c72b0", "model only": "#55a868", "rules only": "#dd8452", "neither": "#c7c7c7"}


def volume_chart(weekly: pd.DataFrame):
    """Stacked weekly MQLs by overlap group, with the rule and model MQL totals as lines."""
    fig, ax = plt.subplots(figsize=(10, 4))
    bottom = None
    for group in ("both", "model only", "rules only"):
        ax.bar(weekly.index, weekly[group], bottom=bottom, label=group, color=COLOURS[group])
        bottom = weekly[group] if bottom is None else bottom + weekly[group]
    ax.plot(weekly.index, weekly["rule MQLs"], color="#dd8452", linestyle="--", label="rule MQLs")
    ax.plot(weekly.index, weekly["model MQLs"], color="#55a868", linestyle="--", label="model MQLs")
    ax.set(ylabel="leads per week", title="Who each method would send to sales, week by week")
    ax.set_xticks(range(0, len(weekly), max(1, len(weekly) // 12)))
    ax.tick_params(axis="x", rotation=45)
    ax.legend(loc="upper left", ncols=5, fontsize="small")
    fig.tight_layout()
    return fig


def acceptance_chart(rates: pd.DataFrame):
    """Acceptance rate of each group with its 95% interval."""
    shown = rates[rates["decided"] > 0]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    colours = [COLOURS.get(w, "#8172b3") for w in shown["who"]]
    ax.barh(shown["who"], shown["rate"], color=colours)
    ax.errorbar(
        shown["rate"],
        shown["who"],
        xerr=[shown["rate"] - shown["low"], shown["high"] - shown["rate"]],
        fmt="none",
        ecolor="black",
        capsize=3,
    )
    for y, (rate, n) in enumerate(zip(shown["rate"], shown["decided"], strict=True)):
        ax.text(rate, y, f"  {rate:.0%} of {n:,}", va="center", fontsize="small")
    ax.set(xlabel="accepted by sales (95% interval)", xlim=(0, 1), title="How often sales accepted each group")
    ax.invert_yaxis()
    fig.tight_layout()
    return fig
