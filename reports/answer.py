"""The top of the report: what was compared, the answer in one sentence with its headline
numbers, and plain warnings when the figures need them (a random hold-out, too few decided
leads, rows left out of live traffic)."""

from __future__ import annotations

from html import escape

import pandas as pd

from reports.compare import MIN_DECIDED
from reports.page import day, leads, number, span, whole

RANDOM_SPLIT = (
    "<b>This model was tested on a random sample of accounts, not on the newest weeks.</b> Its history has no "
    "hand-over dates (a flat snapshot), so its training could not hold back the most recent leads to test on. "
    "Figures from a random hold-out can look better than what the model will do on future leads, which come "
    "after everything it learned from. These hand-overs may include ones it trained on, which flatters the "
    "model further: judge it again on leads scored live."
)
NO_TEST_PERIOD = (
    "Its training run recorded no test period (an older run): these hand-overs may include ones it trained on, "
    "which flatters the model."
)


def context(info: dict, frame: pd.DataFrame, dated: bool, unseen: bool) -> str:
    """One line: the period, how many hand-overs, which model, where the rows came from."""
    first, last = frame["handed_over_at"].min(), frame["handed_over_at"].max()
    weeks = frame["week"].nunique()
    when = (
        f"{day(first)} to {day(last)} ({weeks:,} week{'s' if weeks != 1 else ''})"
        if dated
        else f"a snapshot of {day(last)}"
    )
    where = {
        "history": "history, each lead scored as it looked when it was handed over",
        "live": (
            "live traffic: the scoring service's log, each score's time as its hand-over, and the decisions "
            "sales posted back"
        ),
    }[info["source"]]
    parts = [
        f"<b>Period:</b> {when}",
        f"<b>Hand-overs:</b> {len(frame):,}",
        f"<b>Model:</b> {escape(str(info['model_version'] or '—'))}",
    ]
    today = day(pd.Timestamp.now(tz="UTC"))
    text = " · ".join(parts) + f'<br><span class="sub">Written {today}, from {where}.'
    return f'<p class="context">{text}{learnt(info, first, unseen)}</span></p>'


def learnt(info: dict, first, unseen: bool) -> str:
    """What the served model learnt from, against these hand-overs (the first at `first`): all of
    it before a separately exported folder, or only the period it never trained on, and where its
    calibration window lies."""
    if info.get("after_training"):
        learnt_to = info["learnt_to"]
        gap = (info["folder_from"] - learnt_to).days
        before = f"{gap:,} day{'s' if gap != 1 else ''} before" if gap >= 1 else "just before"
        text = (
            f" Every hand-over in this folder came after all the served model learnt from (up to "
            f"{day(learnt_to)}, {before} the folder's first hand-over on {day(info['folder_from'])}): new leads to it, "
            "so these figures are a test of both its ranking and its calibration."
        )
        return text + _calibration(info, first)
    if not unseen:
        return ""
    since = day(info["unseen_from"])
    if not info.get("refit"):
        return f" Only hand-overs the model never saw in training: accounts first handed over from {since} on."
    return f" Only hand-overs the model's ranking never learnt from: accounts first handed over from {since} on." + (
        _calibration(info, first)
    )


def _calibration(info: dict, first) -> str:
    """Where the served model's calibration window lies against hand-overs from `first` on."""
    start, end = info.get("calibrated_from"), info.get("calibrated_to")
    if start is None or end is None:
        return ""
    window = (
        f"The served model's calibration and MQL threshold were fitted on hand-overs from {day(start)} to {day(end)}"
    )
    if end < first:
        return f" {window}, before this period."
    return (
        f" {window}, which overlaps this period (it learns from the newest decisions), so its calibration here is not "
        "a test."
    )


def warnings(info: dict) -> str:
    """Boxes that say what a reader must know before trusting the figures."""
    boxes = []
    # history it may have learnt from: not live traffic, nor a folder exported after all it learnt from
    overlaps = info["source"] == "history" and not info.get("after_training")
    if overlaps and info.get("split_kind") == "random":
        boxes.append(RANDOM_SPLIT)
    elif overlaps and info.get("unseen_from") is None:
        boxes.append(NO_TEST_PERIOD)
    if info.get("rules_answered"):
        boxes.append(
            f"{info['rules_answered']:,} scores given by the rules alone, while the model was unavailable, "
            "are left out."
        )
    if info.get("unplaced"):
        boxes.append(f"{info['unplaced']:,} decisions about leads the service had not scored by then are left out.")
    return "".join(f'<div class="warning">{b}</div>' for b in boxes)


def _rate(row) -> str:
    return f"{row['rate']:.0%} ({span(row['low'], row['high'])})"


def sentence(head: dict, dated: bool) -> str:
    """The answer in one sentence."""
    rates, weeks = head["rates"], head["weeks"]
    model, rules = rates.loc["model only"], rates.loc["rules only"]
    every = "Each week the model" if dated else "In this snapshot the model"
    scale = weeks if dated else 1
    send = f"would send sales {leads(model['leads'] / scale)} the rules hold back"
    hold = f"hold back {number(rules['leads'] / scale)} that the rules would send"
    if head["enough"]:
        send += f", accepted {_rate(model)}"
        hold += f", accepted {_rate(rules)}"
    gained = head["gained_per_week"] if dated else head["gained_per_week"] * weeks
    if abs(gained) < 0.05:
        result = "at equal volume both would find about as many leads that sales accept"
    else:
        more = "more" if gained > 0 else "fewer"
        counted = leads(abs(gained)).replace(" lead", f" {more} accepted lead")
        result = f"at equal volume that is {counted}{' a week' if dated else ''}"
    return f"{every} {send}, and {hold}: {result}."


def qualifier(head: dict) -> str:
    """How far the sentence can be trusted."""
    model, rules = head["rates"].loc["model only"], head["rates"].loc["rules only"]
    if not head["enough"]:
        return (
            "<b>Too few to say which method picks better leads yet:</b> sales decided "
            f"{whole(model['decided'])} of the "
            f"model-only leads and {whole(rules['decided'])} of the rules-only ones; {MIN_DECIDED} of each are needed "
            "before their acceptance means much."
        )
    decided = model["decided"] + rules["decided"]
    if head["p_value"] < 0.05:
        return (
            f"With {whole(decided)} of these leads decided, the difference is unlikely to be chance "
            f"({_p(head['p_value'])})."
        )
    return (
        f"With {whole(decided)} of these leads decided, the difference could still be chance "
        f"({_p(head['p_value'])}): "
        "watch the weekly view below."
    )


def _p(p: float) -> str:
    """Fisher's exact test's p-value as people read it."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}" if p < 0.05 else f"p = {p:.2f}"


def cards(head: dict, dated: bool) -> str:
    """Four headline numbers."""
    rates, weeks = head["rates"], head["weeks"]
    out = [
        _rate_card(rates.loc["model only"], "model only", "Only the model would send"),
        _rate_card(rates.loc["rules only"], "rules only", "Only the rules would send"),
    ]
    volume = head["equal_volume"]
    gained = head["gained_per_week"] if dated else head["gained_per_week"] * weeks
    unit = "accepted leads a week" if dated else "accepted leads"
    model, rules = whole(volume.loc["model", "accepted"]), whole(volume.loc["rules", "accepted"])
    detail = (
        f"each sends its top {head['per_week']:,}{' a week' if dated else ''}: sales accepted {model} of the "
        f"model's, {rules} of the rules'" + (f" in {weeks:,} weeks" if dated else "")
    )
    shown = (f"{gained:+,.1f}" if abs(gained) < 10 else f"{gained:+,.0f}").replace("-", "\u2212")
    out.append(_card("At equal volume", shown, unit, detail, "even"))
    changing = rates.loc["model only", "leads"] + rates.loc["rules only", "leads"]
    out.append(
        _card(
            "Leads that change hands",
            number(head["changing_per_week"]) if dated else f"{whole(changing)}",
            "a week" if dated else "leads",
            f"{whole(changing)} of {head['handovers']:,} hand-overs; on the rest the two agree",
            "neither",
        )
    )
    return '<div class="cards">' + "".join(out) + "</div>"


def _rate_card(row, group: str, title: str) -> str:
    if row["decided"] < MIN_DECIDED:
        value = "too few to say" if row["decided"] else "none decided"
        detail = (
            f"{whole(row['accepted'])} of {whole(row['decided'])} decided accepted; {whole(row['leads'])} leads in all"
        )
        return _card(title, value, "", detail, group, few=True)
    detail = (
        f"95% interval {span(row['low'], row['high'])}; {whole(row['decided'])} of {whole(row['leads'])} leads decided"
    )
    return _card(title, f"{row['rate']:.0%}", "accepted by sales", detail, group)


def _card(title: str, value: str, unit: str, detail: str, kind: str, few: bool = False) -> str:
    css = kind.replace(" ", "-")
    return (
        f'<div class="card {css}{" few" if few else ""}"><div class="card-title">{title}</div>'
        f'<div class="card-value">{value}</div><div class="card-unit">{unit}</div>'
        f'<div class="card-detail">{detail}</div></div>'
    )


def headline(head: dict, dated: bool) -> str:
    """The answer block: the sentence, its qualifier, the four numbers."""
    return (
        f'<div class="answer"><p class="sentence">{sentence(head, dated)}</p>'
        f'<p class="qualifier">{qualifier(head)}</p>{cards(head, dated)}</div>'
    )
