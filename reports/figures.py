"""Charts of the model-vs-rules report (matplotlib), as PNG images the page embeds.

One colour per group on every chart and table, from the Okabe-Ito palette, which people with
any common colour-vision deficiency tell apart: the model's side blue, the rules' side orange,
leads both would send green, the rest grey. Values sit in a column of their own beside the plot,
so no label crosses a bar, an interval or another label.
"""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")  # no display: charts are written as images

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from core.style import COLOURS, FEW, LABELS
from reports.compare import MIN_DECIDED

INK = "#333333"
STYLE = {
    "font.size": 10,
    "axes.edgecolor": "#bbbbbb",
    "axes.labelcolor": INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "xtick.color": INK,
    "ytick.color": INK,
    "grid.color": "#e6e6e6",
    "legend.frameon": False,
}


def png(fig, alt: str, dpi: int = 150) -> str:
    """The figure as an <img> with its picture inside the page (a data: URL) and `alt` text."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    from html import escape

    return f'<img class="chart" src="data:image/png;base64,{data}" alt="{escape(alt)}">'


def _percent(ax, axis: str = "y") -> None:
    formatter = matplotlib.ticker.PercentFormatter(xmax=1, decimals=0)
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(formatter)


def acceptance_chart(rates: pd.DataFrame):
    """Acceptance of each group (rows of `rates`, index: group) as a dot with its 95% interval;
    the figures in a column on the right; a group with too few decided leads in grey."""
    groups = [g for g in rates.index if g in LABELS]
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(8, 0.5 * len(groups) + 0.8))
        for y, group in enumerate(groups):
            row = rates.loc[group]
            few = row["decided"] < MIN_DECIDED
            colour = FEW if few else COLOURS[group]
            if row["decided"]:
                ax.plot(
                    [row["low"], row["high"]], [y, y], color=colour, linewidth=3, alpha=0.45, solid_capstyle="round"
                )
                ax.plot(row["rate"], y, "o", color=colour, markersize=9, markerfacecolor="white" if few else colour)
            text = _figure_text(row)
            ax.annotate(
                text,
                (1.03, y),
                xycoords=("axes fraction", "data"),
                va="center",
                fontsize=9.5,
                color=FEW if few else INK,
            )
        ax.set_yticks(range(len(groups)), [LABELS[g] for g in groups])
        ax.set_ylim(len(groups) - 0.5, -0.7)
        ax.set_xlim(0, 1)
        _percent(ax, "x")
        ax.grid(axis="x")
        ax.set_xlabel("accepted by sales (dot) and its 95% interval (bar)")
    return fig


def _figure_text(row) -> str:
    if row["decided"] == 0:
        return "none decided yet"
    accepted, decided = int(row["accepted"]), int(row["decided"])
    if decided < MIN_DECIDED:
        return f"too few to say ({accepted:,} of {decided:,})"
    return f"{row['rate']:.0%} ({row['low'] * 100:.0f}–{row['high']:.0%}), {decided:,} decided"


def weekly_acceptance_chart(table: pd.DataFrame):
    """One panel per group: each week's acceptance (a dot; hollow when fewer than MIN_DECIDED
    decided) and the acceptance to date with its 95% interval (line and band)."""
    groups = [g for g in ("both", "model only", "rules only") if g in set(table["who"])]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(groups), figsize=(10, 3.3), sharey=True, squeeze=False)
        for ax, group in zip(axes[0], groups, strict=True):
            part = table[table["who"] == group]
            colour, weeks = COLOURS[group], part["week"]
            ax.fill_between(weeks, part["low_to_date"], part["high_to_date"], color=colour, alpha=0.18, linewidth=0)
            ax.plot(weeks, part["rate_to_date"], color=colour, linewidth=2, marker="" if len(part) > 1 else "_")
            many = part["decided"] >= MIN_DECIDED
            ax.plot(weeks[many], part["rate"][many], "o", color=colour, markersize=5)
            ax.plot(weeks[~many], part["rate"][~many], "o", color=colour, markersize=5, markerfacecolor="white")
            ax.set_title(LABELS[group], color=colour)
            ax.set_ylim(0, 1)
            _percent(ax)
            ax.grid(axis="y")
            _dates(ax, weeks)
        axes[0][0].set_ylabel("accepted by sales")
        fig.legend(
            handles=_weekly_legend(),
            loc="lower center",
            ncols=3,
            fontsize=9,
            bbox_to_anchor=(0.5, -0.08),
        )
        fig.tight_layout()
    return fig


def _weekly_legend() -> list:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    return [
        Line2D([], [], color=INK, linewidth=2, label="acceptance to date"),
        Patch(color=INK, alpha=0.18, label="its 95% interval"),
        Line2D(
            [],
            [],
            color=INK,
            marker="o",
            linestyle="",
            markerfacecolor="white",
            label=f"one week (hollow: under {MIN_DECIDED} decided)",
        ),
    ]


def _dates(ax, weeks: pd.Series) -> None:
    span = (weeks.max() - weeks.min()).days if len(weeks) else 0
    locator = mdates.AutoDateLocator(minticks=2, maxticks=4)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%-d %b" if span < 300 else "%b %Y"))
    if span == 0 and len(weeks):
        day = weeks.iloc[0]
        ax.set_xlim(day - pd.Timedelta(days=4), day + pd.Timedelta(days=4))
        ax.set_xticks([day], [f"week of {day:%-d %b}"])


def volume_chart(table: pd.DataFrame):
    """Leads each method would send, week by week, stacked: both, model only, rules only."""
    groups = ["both", "model only", "rules only"]
    wide = table.pivot(index="week", columns="who", values="leads").reindex(columns=groups, fill_value=0).fillna(0)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(10, 3.2))
        width = 5 if len(wide) > 1 else 3
        bottom = np.zeros(len(wide))
        for group in groups:
            ax.bar(wide.index, wide[group], bottom=bottom, width=width, color=COLOURS[group], label=LABELS[group])
            bottom = bottom + wide[group].to_numpy()
        ax.set_ylabel("leads sent per week")
        ax.grid(axis="y")
        ax.set_axisbelow(True)
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncols=3, fontsize=9)
        _dates(ax, pd.Series(wide.index))
        fig.tight_layout()
    return fig
