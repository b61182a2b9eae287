"""The words a sales rep reads about a concept (pricing, demo, role...), from the lead's own feature
values. Feature names and windows come from the feature config (`features/names.py`), so a
configuration with other windows reads its own features, never a missing one as 0. A zero is said
as what did not happen ("has not submitted a form"), a recent time in hours ("5 hours ago"), and a
missing value as missing ("creation date not given"), never as "0 days ago". A reason that lowered
the probability (`low`) reads as one: a count the model found small says "only" ("active on only 3
days in the last 90 days"), and a recent time, which never lowers it, is not said there."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from features import names
from features.settings import FeatureConfig

LEVEL_WORDS = {
    "c_level": "a C-level executive",
    "vp": "a vice president",
    "director": "a director",
    "manager": "a manager",
    "individual_contributor": "an individual contributor",
    "intern": "an intern",
    "student": "a student",
}
Words = Callable[[Mapping, FeatureConfig, bool], str]  # (row, config, low)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _n(row: Mapping, name: str) -> float:
    value = row.get(name)
    return 0.0 if _missing(value) else float(value)


def _times(n: float, thing: str) -> str:
    n = round(n)
    return f"{n} {thing}" if n != 1 else f"1 {thing.rstrip('s')}" if thing.endswith("s") else f"1 {thing}"


def _ago(days: float) -> str:
    """How long ago, as a rep says it: "within the last hour", "5 hours ago", "1 day ago"."""
    if days * 24 < 1:
        return "within the last hour"
    return f"{_times(days * 24, 'hours')} ago" if days < 1 else f"{_times(days, 'days')} ago"


def _flag(event_type: str) -> str:
    return next(flag for flag, kind in names.FLAGS.items() if kind == event_type)


def _only(low: bool) -> str:
    """ "only " before a count that lowered the probability."""
    return "only " if low else ""


def _pricing(row: Mapping, config: FeatureConfig, low: bool = False) -> str:
    recent = min(config.windows_days)
    visits = _n(row, names.count("pricing_page_view", recent))
    if visits:
        return f"visited the pricing page {_only(low)}{_times(visits, 'times')} in the last {recent} days"
    if _n(row, _flag("pricing_page_view")):
        since = row.get(names.of_event(names.DAYS_SINCE, "pricing_page_view"))
        return "has visited the pricing page" if _missing(since) else f"last visited the pricing page {_ago(since)}"
    return "has not visited the pricing page"


def _in_window(event_type: str, verb: str, thing: str, suffix: str = "", none: str = "") -> Words:
    """ "verb N things in the last D days", or `none` (what did not happen) for zero."""

    def words(row: Mapping, config: FeatureConfig, low: bool = False) -> str:
        longest = max(config.windows_days)
        n = round(_n(row, names.count(event_type, longest)))
        done = f"{verb} {_only(low)}{_times(n, thing)}{suffix}" if n else none
        return f"{done} in the last {longest} days"

    return words


def _email(row: Mapping, config: FeatureConfig, low: bool = False) -> str:
    longest = max(config.windows_days)
    ctr = row.get(names.windowed(names.CLICK_RATE, longest))
    if _missing(ctr):
        return "has not opened marketing email lately"
    if not float(ctr):
        return f"opened marketing email but has not clicked one in the last {longest} days"
    return f"clicked {_only(low)}{float(ctr):.0%} of the marketing emails opened in the last {longest} days"


def _account(row: Mapping, config: FeatureConfig, low: bool = False) -> str:
    window = config.engaged_window_days
    contacts = round(_n(row, names.windowed(names.ENGAGED_CONTACTS, window)))
    if not contacts:
        return f"no contact of the account active in the last {window} days"
    return f"{_only(low)}{_times(contacts, 'contacts')} of the account active in the last {window} days"


def _activity(row: Mapping, config: FeatureConfig, low: bool = False) -> str:
    """How often and how lately; when it lowered the probability, how seldom (and how long ago,
    unless within the shortest window: a recent visit never lowers it, a thin record does)."""
    since = row.get(names.LAST_ACTIVITY)
    if _missing(since):
        return "no recorded activity"
    span = config.active_days_window_days
    days = round(_n(row, names.windowed(names.ACTIVE_DAYS, span)))
    if not days:
        return f"not active in the last {span} days, last active {_ago(since)}"
    if not low:
        return f"active on {_times(days, 'days')} in the last {span} days, most recently {_ago(since)}"
    stale = f", the last {_ago(since)}" if since >= min(config.windows_days) else ""
    return f"active on only {_times(days, 'days')} in the last {span} days{stale}"


def _product(row: Mapping, config: FeatureConfig, low: bool = False) -> str:
    days = round(_n(row, names.PRODUCT_DAYS))
    return f"used the product on {_only(low)}{_times(days, 'days')}" if days else "has not used the product"


def _icp(row: Mapping, config: FeatureConfig, low: bool = False) -> str:
    matches = round(_n(row, "icp_matches"))
    criteria = "5 ideal-customer criteria (industry, size, region, seniority, department)"
    return f"matches {_only(low)}{matches} of {criteria}" if matches else f"matches none of the {criteria}"


def _age(row: Mapping, config: FeatureConfig, low: bool = False) -> str:
    age = row.get("lead_age_days")
    return "creation date not given (read as a new lead)" if _missing(age) else f"became a lead {_ago(age)}"


def _value(value) -> str:
    number = float(value)
    return f"{number:,.0f}" if number.is_integer() else f"{number:,.2f}"


def _role(row: Mapping, config: FeatureConfig, low: bool = False) -> str:
    level = row.get("seniority")
    return f"job title suggests {LEVEL_WORDS.get(level, level)}" if level else "job title gives no seniority"


def _size(row: Mapping, config: FeatureConfig, low: bool = False) -> str:
    size = row.get("company_size")
    if _missing(size):
        return "company size unknown"
    return f"company of {int(size):,} employees ({str(row.get('segment', '')).replace('_', '-')})"


def _attribute(name: str, label: str) -> Words:
    def words(row: Mapping, config: FeatureConfig, low: bool = False) -> str:
        value = row.get(name)
        return f"{label} {str(value).replace('_', ' ')}" if value else f"{name} unknown"

    return words


def _location(row: Mapping, config: FeatureConfig, low: bool = False) -> str:
    place = row.get("country") or row.get("region")
    return f"based in {str(place).replace('_', ' ').title()}" if place else "location unknown"


def _email_type(row: Mapping, config: FeatureConfig, low: bool = False) -> str:
    kind = row.get("email_type") or "unknown"
    return "no email domain given" if kind == "unknown" else f"signed up with a {kind} email address"


def _yes_no(flag: str, yes: str, no: str) -> Words:
    return lambda row, config, low=False: yes if _n(row, flag) else no


WORDS: dict[str, Words] = {
    "pricing": _pricing,
    "demo": _yes_no("has_demo_request", "requested a demo", "has not requested a demo"),
    "trial": _yes_no("trial_started", "started a free trial", "has not started a free trial"),
    "product": _product,
    "webinar": _in_window("webinar_attended", "attended", "webinars", none="has not attended a webinar"),
    "content": _in_window("content_download", "downloaded", "pieces", " of content", none="has not downloaded content"),
    "unsubscribed": _yes_no("unsubscribed", "unsubscribed from marketing email", "still subscribed to marketing email"),
    "email": _email,
    "form": _in_window("form_submit", "submitted", "forms", none="has not submitted a form"),
    "account": _account,
    "activity": _activity,
    "icp": _icp,
    "student": _yes_no("is_student", "job title or email suggests a student", "not a student"),
    "role": _role,
    "size": _size,
    "industry": _attribute("industry", "works in"),
    "department": _attribute("department", "works in"),
    "source": _attribute("source", "came from"),
    "location": _location,
    "email_type": _email_type,
    "age": _age,
}


def describe(concept: str, row: Mapping, config: FeatureConfig, low: bool = False) -> str:
    """One sentence about `concept` for the lead whose feature values are `row`, as a reason that
    lowered the probability when `low`; a flat export's own column or counter is named with its
    value ("total visits: 12", "no total visits", "total visits not given")."""
    words = WORDS.get(concept)
    if words is not None:
        return words(row, config, low)
    label, value = concept.replace("_", " "), row.get(concept)
    if _missing(value) or value == "":
        return f"{label} not given"
    if isinstance(value, str):
        return f"{label}: {value.replace('_', ' ')}"
    return f"{label}: {_only(low)}{_value(value)}" if float(value) else f"no {label}"
