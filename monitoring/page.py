"""The monitoring page: the verdict on top, the alerts, then a table per figure group (drift as a
PSI heat table, calibration and accuracy over time, fallbacks, MQL volume, acceptance on the whole
funnel) and a chart of calibration by segment over time, in the report's style (core/style.py).
Self-contained: charts embedded, nothing fetched; every text from data escaped."""

from __future__ import annotations

import base64
import io
from html import escape
from pathlib import Path

import pandas as pd

from core.style import COLOURS, STYLE
from monitoring.alerts import Figures

DASH = "—"
LOCAL = """
.scroll { overflow-x: auto; max-width: 100%; }
table.fig { border-collapse: collapse; font-size: 13.5px; margin: 0.6em 0 0.3em; }
table.fig th, table.fig td { padding: 4px 9px; border-bottom: 1px solid var(--line); text-align: right; }
table.fig th:first-child, table.fig td:first-child { text-align: left; }
table.fig th { background: #f4f5f7; font-weight: 600; }
.alerts li { margin: 0.2em 0; font-family: ui-monospace, monospace; font-size: 13px; overflow-wrap: anywhere; }
.verdict code { background: #fff; padding: 0 0.3em; overflow-wrap: anywhere; }
"""


def _num(x, digits: int = 2) -> str:
    return DASH if x is None or pd.isna(x) else f"{x:.{digits}f}"


def _day(x) -> str:
    return DASH if x is None or pd.isna(x) else f"{pd.Timestamp(x):%-d %b %Y}"


def _table(frame: pd.DataFrame, cells: dict[str, callable]) -> str:
    """An HTML table of `frame`: one column per (heading, cell function of a row)."""
    if frame.empty:
        return '<p class="note">Nothing to show.</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in cells)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell(row)}</td>" for cell in cells.values()) + "</tr>"
        for row in frame.to_dict("records")
    )
    return f'<div class="scroll"><table class="fig"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def heat(frame: pd.DataFrame, threshold: float) -> str:
    """PSI of each lead field (its largest feature) by period, all leads: a cell shaded by its PSI."""
    if frame.empty:
        return '<p class="note">No drift measured (no reference profile or no feature rows).</p>'
    overall = frame[frame["segment"] == "all"]
    wide = overall.groupby(["field", "period"])["psi"].max().unstack("period")
    periods = list(wide.columns)
    head = "<th>Field</th>" + "".join(f"<th>{_day(p)}</th>" for p in periods)
    rows = []
    for name, values in wide.iterrows():
        cells = []
        for p in periods:
            v = values[p]
            strength = 0 if pd.isna(v) else min(1.0, v / (2 * threshold))
            colour = f"rgba(213, 94, 0, {strength:.2f})"
            cells.append(f'<td style="background:{colour}">{_num(v)}</td>')
        rows.append(f"<tr><td>{escape(str(name))}</td>{''.join(cells)}</tr>")
    note = f"PSI per week or month, all leads; shaded from 0 to {2 * threshold:.1f} (alert at {threshold})."
    table = f'<table class="fig"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    return f'<div class="scroll">{table}</div><p class="note">{note}</p>'


def calibration_chart(calibration: pd.DataFrame) -> str:
    """ECE by segment over time: realised (solid, where decisions matured) and CBPE's sampling
    floor (dashed), as an embedded PNG."""
    if calibration.empty or calibration["period"].nunique() < 1:
        return ""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    palette = list(COLOURS.values())
    fig, ax = plt.subplots(figsize=(9, 3.2))
    for i, (segment, part) in enumerate(calibration.groupby("segment")):
        colour = palette[i % len(palette)]
        for kind, style in (("realised", "-"), ("estimated", ":")):
            rows = part[part["kind"] == kind].sort_values("period")
            if len(rows):
                label = f"{segment} ({kind})"
                ax.plot(rows["period"], rows["ece"], style, marker="o", color=colour, label=label, markersize=4)
    ax.set_ylabel("ECE")
    ax.grid(axis="y", color="#e6e6e6")
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=8, ncols=2, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.autofmt_xdate()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    alt = "Calibration error by segment over time: realised where decisions matured, and the sampling floor"
    return f'<img class="chart" src="data:image/png;base64,{data}" alt="{alt}">'


def render(summary: dict, figures: Figures, by: str, psi_threshold: float = 0.2) -> str:
    """The whole page."""
    version = escape(summary["model_version"] or "no model version")
    verdict = "".join(f"<p class='sentence'>{_code(line)}</p>" for line in summary["verdict"])
    notes = "".join(f'<p class="qualifier">{escape(n)}</p>' for n in figures.notes)
    alerts = (
        '<ul class="alerts">' + "".join(f"<li>{escape(a['line'])}</li>" for a in summary["alerts"]) + "</ul>"
        if summary["alerts"]
        else "<p>No alert fired.</p>"
    )
    accuracy = _table(
        figures.calibration,
        {
            f"{by.title()} of": lambda r: _day(r["period"]),
            "Segment": lambda r: escape(str(r["segment"])),
            "Kind": lambda r: escape(str(r["kind"])),
            "Leads": lambda r: f"{int(r['n']):,}",
            "ECE": lambda r: _num(r["ece"], 3),
            "ECE (test)": lambda r: _num(r["reference_ece"], 3),
            "ROC AUC": lambda r: _num(r["roc_auc"]),
            "ROC AUC (test)": lambda r: _num(r["reference_auc"]),
            "MQL acceptance": lambda r: _num(r.get("mql_acceptance")),
        },
    )
    fallback = _table(
        figures.fallback,
        {
            f"{by.title()} of": lambda r: _day(r["period"]),
            "Answers": lambda r: f"{int(r['rows']):,}",
            "By the rules": lambda r: f"{int(r['rules']):,}",
            "Share": lambda r: f"{r['share']:.1%}",
            "Why": lambda r: escape(r["why"]) if isinstance(r.get("why"), str) else DASH,
        },
    )
    volume = _table(
        figures.volume[figures.volume["segment"] == "all"] if len(figures.volume) else figures.volume,
        {
            f"{by.title()} of": lambda r: _day(r["period"]),
            "Model answers": lambda r: f"{int(r['leads']):,}",
            "Model MQLs": lambda r: f"{int(r['mql']):,}",
            "Promised": lambda r: _num(r["expected"], 0),
        },
    )
    acceptance = _table(
        figures.acceptance,
        {
            "Group": lambda r: escape(str(r["group"])),
            "Leads": lambda r: f"{int(r['n']):,}",
            "Decided": lambda r: f"{int(r['decided']):,}",
            "Naive": lambda r: _num(r["naive"]),
            "IPW estimate": lambda r: _num(r["estimate"]),
            "95% interval": lambda r: f"{_num(r['low'])}–{_num(r['high'])}",
            "Note": lambda r: escape(str(r["note"] or "")),
        },
    )
    body = f"""
<h1>Is the model still right? <span class="sub">{version}</span></h1>
<div class="answer verdict">{verdict}{notes}</div>
<h2>Alerts</h2>{alerts}
<h2>Drift of the leads and of the score</h2>{heat(figures.drift, psi_threshold)}
<h2>Calibration and ranking</h2>{calibration_chart(figures.calibration)}{accuracy}
<p class="note">Estimated: CBPE from the calibrated probabilities (its ECE is the floor sampling alone gives);
realised: on the leads sales decided. Test: the model's own test period.</p>
<h2>Rule fallbacks</h2>{fallback}
<h2>MQL volume against the thresholds' promise</h2>{volume}
<h2>Acceptance on the whole funnel</h2>{acceptance}
"""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>Monitoring {version}</title><style>{STYLE}{LOCAL}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )


def _code(line: str) -> str:
    """A verdict line with its `command` as code."""
    parts = escape(line).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def write_page(summary: dict, figures: Figures, out: Path, by: str) -> Path:
    """The page at `out`, written whole."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    partial.write_text(render(summary, figures, by), encoding="utf-8")
    partial.replace(out)
    return out
