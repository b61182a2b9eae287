"""The report's words, numbers and tables as HTML for people: percentages and thousands
separators, plain labels, a dash (explained under the table) where there is nothing to show, a
greyed rate under `MIN_DECIDED` decided leads and "too few to say" under `MIN_SHOWN`, full reason
texts, each marked as raising or lowering the probability. Tables are great_tables tables; every
text that came from data is escaped before it is placed."""

from __future__ import annotations

from html import escape

import numpy as np
import pandas as pd
from great_tables import GT, html, md

from reports.compare import MIN_DECIDED, MIN_SHOWN, block_weeks, blocks
from reports.figures import COLOURS, LABELS
from training.explain import SIGNS

DASH = "—"
SEGMENTS = {"smb": "Small business", "mid_market": "Mid-market", "enterprise": "Enterprise", "unknown": "Size unknown"}
DECISIONS = {"accepted": "Accepted", "rejected": "Rejected", "recycled": "Recycled", "open": "Open"}
FEW_NOTE = (
    f"Greyed: fewer than {MIN_DECIDED} decided leads, so the rate could be far off (see its range). *Too few to "
    f"say*: fewer than {MIN_SHOWN}; the figures after it are accepted of decided."
)
MARKS = {  # a reason's sign as a shape and a word (not colour alone), in the page's text and in print
    SIGNS["positive"]: ("up", "▲ for"),
    SIGNS["negative"]: ("down", "▼ against"),
}
MARKS_NOTE = "▲ for: raised the model's probability; ▼ against: lowered it (strongest first)."
RATE_NOTE = (
    "Accepted: the share of decided leads (accepted, rejected or recycled) that sales accepted; open leads are "
    "left out. The range after it is the 95% interval: the true rate lies there with 95% confidence."
)
FONTS = ["system-ui", "Segoe UI", "Helvetica", "Arial", "sans-serif"]


def label(code) -> str:
    """A code as words: 'paid_search' -> 'Paid search'; nothing -> a dash."""
    if code is None or code is pd.NA or (isinstance(code, float) and np.isnan(code)) or code == "":
        return DASH
    text = str(code).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def segment(code) -> str:
    return SEGMENTS.get(str(code), label(code))


def pct(x) -> str:
    return DASH if x is None or pd.isna(x) else f"{x:.0%}"


def span(low: float, high: float) -> str:
    """An interval: '41–66%'."""
    return f"{low * 100:.0f}–{high:.0%}"


def whole(x) -> str:
    """A count with thousands separators (counts come out of pandas rows as floats)."""
    return f"{int(x):,}"


def day(stamp) -> str:
    return f"{pd.Timestamp(stamp):%-d %b %Y}"


def number(x: float) -> str:
    """One decimal under 10 (none for a whole number), whole numbers from 10, thousands separated."""
    return f"{x:,.1f}" if abs(x) < 10 and x != round(x) else f"{x:,.0f}"


def leads(x: float) -> str:
    """'1 lead', '2.5 leads', '1,384 leads'."""
    shown = number(x)
    return f"{shown} lead" if shown == "1" else f"{shown} leads"


def swatch(group: str, text: str | None = None) -> str:
    """The group's colour as a small square before its name (or `text`)."""
    return f'<span class="swatch" style="background:{COLOURS[group]}"></span>{escape(text or LABELS[group])}'


def rate_cell(row) -> str:
    """'56% 41–70% · 35 decided', greyed under MIN_DECIDED; 'too few to say 3 of 5' under MIN_SHOWN;
    a dash when none decided."""
    if row["decided"] == 0:
        return DASH
    accepted, decided = whole(row["accepted"]), whole(row["decided"])
    if row["decided"] < MIN_SHOWN:
        return f'<span class="few">too few to say</span> <span class="sub">{accepted} of {decided}</span>'
    if row["decided"] < MIN_DECIDED:
        return (
            f'<span class="few">{row["rate"]:.0%}</span> '
            f'<span class="sub">{span(row["low"], row["high"])} · {decided} decided</span>'
        )
    return f'<b>{row["rate"]:.0%}</b> <span class="sub">{span(row["low"], row["high"])} · {decided} decided</span>'


def table(frame: pd.DataFrame, id: str, notes=(), groups: dict | None = None, group_column: str | None = None) -> str:
    """One great_tables table of cells built here (HTML, data escaped): no index, a dash for a
    missing value, coloured group spanners over columns named 'group|label' (titled by `groups`'
    text, the group's label when None), notes under it."""
    gt = GT(frame, id=id, groupname_col=group_column)
    shown = [c for c in frame.columns if c != group_column]
    gt = gt.fmt(lambda v: v, columns=shown).sub_missing(missing_text=DASH)
    for group, text in (groups or {}).items():
        columns = [c for c in shown if c.startswith(f"{group}|")]
        gt = gt.tab_spanner(html(swatch(group, text)), columns=columns, id=f"{id}-{group}")
    gt = gt.cols_label({c: c.split("|", 1)[-1] for c in shown if "|" in c})
    gt = gt.opt_row_striping().tab_options(
        table_width="100%",
        table_font_names=FONTS,
        table_font_size="14px",
        table_font_color="#222222",
        column_labels_font_weight="600",
        column_labels_background_color="#f4f5f7",
        row_group_background_color="#e9edf3",
        row_group_font_weight="600",
        data_row_padding="5px",
        source_notes_font_size="12.5px",
        table_border_top_color="#777777",
        column_labels_border_bottom_color="#777777",
        row_striping_background_color="#fafbfc",
    )
    for note in notes:
        gt = gt.tab_source_note(md(note))
    return gt.as_raw_html()


def _group_cells(rates: pd.DataFrame, groups) -> dict:
    cells = {}
    for g in groups:
        row = rates.loc[g]
        cells[f"{g}|Leads"] = whole(row["leads"])
        cells[f"{g}|Accepted"] = rate_cell(row)
    return cells


def weekly_table(weekly: pd.DataFrame, totals: pd.DataFrame) -> str:
    """Week by week, or by blocks of weeks when a week's leads that change hands are too few
    (`compare.block_weeks`): leads and acceptance of both / model only / rules only; the whole
    period below."""
    groups = ["both", "model only", "rules only"]
    k = block_weeks(weekly)
    heading = "Week of" if k == 1 else f"{k} weeks from"
    rows = []
    for (week, weeks), part in blocks(weekly, k).groupby(["week", "weeks"], sort=False):
        short = f' <span class="sub">({weeks} week{"s" if weeks != 1 else ""})</span>' if weeks < k else ""
        rows.append({heading: day(week) + short, **_group_cells(part.set_index("who"), groups)})
    rows.append({heading: "<b>Whole period</b>", **_group_cells(totals, groups)})
    notes = [RATE_NOTE, FEW_NOTE, f"{DASH} none of these leads decided yet."]
    if k > 1:
        notes.insert(
            0,
            f"Rows of {k} weeks: one week's leads that change hands are too few to judge on their own (the chart "
            "above shows each week).",
        )
    return table(pd.DataFrame(rows), "weekly", notes, groups={g: None for g in groups})


def source_segment_table(rates: pd.DataFrame) -> str:
    """The leads that change hands by segment (row groups) and source."""
    groups = ["model only", "rules only"]
    rows = []
    for (seg, source), part in rates.groupby(["segment", "source"], sort=False):
        name = "<b>All sources</b>" if source == "all sources" else escape(label(source))
        heading = "All segments" if seg == "all segments" else segment(seg)
        rows.append({"segment": heading, "Source": name, **_group_cells(part.set_index("who"), groups)})
    notes = [RATE_NOTE, FEW_NOTE, f"{DASH} none of these leads decided yet."]
    return table(
        pd.DataFrame(rows), "by-source-segment", notes, groups={g: None for g in groups}, group_column="segment"
    )


def reasons_table(reasons: pd.DataFrame) -> str:
    """Why sales turned leads down: each reason's share of each group's turned-down leads."""
    if reasons.empty or reasons["count"].sum() == 0:
        return '<p class="note">Sales has turned none of these leads down yet.</p>'
    groups = list(dict.fromkeys(reasons["who"]))
    totals = reasons.groupby("who")["count"].sum()
    rows = []
    for reason, part in reasons.groupby("reason", sort=False):
        part = part.set_index("who")
        rows.append({"Reason": escape(label(reason)), **{f"{g}|Share": _share(part.loc[g]) for g in groups}})
    rows.append({"Reason": "<b>Turned down in all</b>", **{f"{g}|Share": f"<b>{whole(totals[g])}</b>" for g in groups}})
    frame = pd.DataFrame(rows)
    note = f"Share of the group's turned-down leads (rejected or recycled), then their number. {DASH} none turned down."
    gt_html = table(frame, "reasons", [note], groups={g: None for g in groups})
    return gt_html


def _share(row) -> str:
    if pd.isna(row["share"]):
        return DASH
    return f'{row["share"]:.0%} <span class="sub">{whole(row["count"])}</span>'


def equal_volume(head: dict, dated: bool, whose: str) -> str:
    """The capacity and the top leads of each method within it, and what sales made of them."""
    per_week, weeks, volume = head["per_week"], head["weeks"], head["equal_volume"]
    unit = " a week" if dated else ""
    whose = {"given": "", "rules": " (the rules' own volume)", "model": " (the model's volume: the rules send no one)"}[
        whose
    ]
    rows = []
    for who, name in (("model", "The model's"), ("rules", "The rules'")):
        row = volume.loc[who]
        rows.append(
            {
                "Sent to sales": swatch(f"{who} only", f"{name} top {per_week:,}{unit}"),
                "Leads": whole(row["sent"]),
                "Decided": whole(row["decided"]),
                "Accepted": whole(row["accepted"]),
                **({"Accepted a week": number(row["accepted"] / weeks)} if dated else {}),
                "Acceptance": pct(row["acceptance"]),
            }
        )
    leads = "lead" if per_week == 1 else "leads"
    return f"<p>Sales capacity: <b>{per_week:,} {leads}{unit}</b>{whose}.</p>" + table(
        pd.DataFrame(rows), "equal-volume"
    )


def threshold(cut: dict, target: float, dated: bool) -> str:
    """The model threshold that reaches the target acceptance, in a sentence."""
    if cut["leads"] == 0:
        return f"<p>No model threshold reached <b>{target:.0%} acceptance</b> in this period.</p>"
    volume = leads(cut["leads"]) + (f" ({number(cut['per_week'])} a week)" if dated else "")
    return (
        f"<p>To reach <b>{target:.0%} acceptance</b>, send the leads the model gives <b>{cut['threshold']:.0%} or "
        f"more</b>: {volume}, accepted at {pct(cut['acceptance'])} in this period.</p>"
    )


def leads_table(sample: pd.DataFrame, id: str) -> str:
    """Leads that change hands, the model's reasons in full (one a line)."""
    if sample.empty:
        return '<p class="note">No such leads in this period.</p>'
    rows = []
    for lead in sample.to_dict("records"):
        decision = DECISIONS.get(lead["decision"], label(lead["decision"]))
        if lead["decision"] in ("rejected", "recycled") and label(lead["reason"]) != DASH:
            decision += f": {escape(label(lead['reason'])).lower()}"
        row = {
            "Lead": escape(str(lead["lead_id"])),
            "Segment": escape(segment(lead["segment"])),
            "Source": escape(label(lead["source"])),
            "Model": pct(lead["probability"]),
            "Rule score": f"{lead['rule_score']:.0f}",
            "Sales decision": decision,
        }
        if "top_reasons" in lead:
            reasons = [r.strip() for r in str(lead["top_reasons"] or "").split(";") if r.strip()]
            row["The model's reasons"] = (
                '<ul class="reasons">' + "".join(map(reason_item, reasons)) + "</ul>" if reasons else DASH
            )
        rows.append(row)
    notes = [
        f"Model: the model's probability that sales accepts the lead. Rule score: the points score, 0–100. {DASH} none."
    ]
    if "top_reasons" in sample:
        notes.append(MARKS_NOTE)
    return table(pd.DataFrame(rows), id, notes)


def reason_item(reason: str) -> str:
    """One reason of a signed line (`training.explain.Explainer.texts`) as a list item that says
    whether it raised or lowered the probability: '▲ for requested a demo'."""
    sign, _, text = reason.partition(" ")
    if sign not in MARKS:  # a line without signs
        return f"<li>{escape(reason)}</li>"
    kind, mark = MARKS[sign]
    return f'<li class="reason {kind}"><span class="mark">{mark}</span> {escape(text)}</li>'


def calibration_list(bands: pd.DataFrame) -> str:
    """'Of the leads the model gave 30–40%, sales accepted 34% (120 decided).', per band."""
    items = []
    for band in bands.to_dict("records"):
        where = f"Of the leads the model gave {span(band['from'], band['to'])}"
        if band["decided"] < MIN_DECIDED:
            items.append(f'<li class="few">{where}: too few decided to say ({whole(band["decided"])}).</li>')
        else:
            decided = whole(band["decided"])
            items.append(f"<li>{where}, sales accepted <b>{band['rate']:.0%}</b> ({decided} decided).</li>")
    return (
        '<ul class="calibration">' + "".join(items) + "</ul>" if items else '<p class="note">No decided leads yet.</p>'
    )
