"""The words a sales rep reads about a concept (pricing, demo, role...), from the lead's own feature
values. Feature names and windows come from the feature config (`features/names.py`), so a
configuration with other windows reads its own features, never a missing one as 0."""

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
Words = Callable[[Mapping, FeatureConfig], str]


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _n(row: Mapping, name: str) -> float:
    value = row.get(name)
    return 0.0 if _missing(value) else float(value)


def _times(n: float, thing: str) -> str:
    n = round(n)
    return f"{n} {thing}" if n != 1 else f"1 {thing.rstrip('s')}" if thing.endswith("s") else f"1 {thing}"


def _flag(event_type: str) -> str:
    return next(flag for flag, kind in names.FLAGS.items() if kind == event_type)


def _pricing(row: Mapping, config: FeatureConfig) -> str:
    recent = min(config.windows_days)
    visits = _n(row, names.count("pricing_page_view", recent))
    if visits:
        return f"visited the pricing page {_times(visits, 'times')} in the last {recent} days"
    if _n(row, _flag("pricing_page_view")):
        return f"last visited the pricing page {_n(row, 'days_since_pricing_page_view'):.0f} days ago"
    return "has not visited the pricing page"


def _in_window(event_type: str, verb: str, thing: str, suffix: str = "") -> Words:
    def words(row: Mapping, config: FeatureConfig) -> str:
        longest = max(config.windows_days)
        return f"{verb} {_times(_n(row, names.count(event_type, longest)), thing)}{suffix} in the last {longest} days"

    return words


def _email(row: Mapping, config: FeatureConfig) -> str:
    longest = max(config.windows_days)
    ctr = row.get(names.windowed(names.CLICK_RATE, longest))
    if not _missing(ctr):
        return f"clicked {float(ctr):.0%} of the marketing emails opened in the last {longest} days"
    return "has not opened marketing email lately"


def _account(row: Mapping, config: FeatureConfig) -> str:
    window = config.engaged_window_days
    contacts = _n(row, names.windowed(names.ENGAGED_CONTACTS, window))
    return f"{_times(contacts, 'contacts')} of the account active in the last {window} days"


def _activity(row: Mapping, config: FeatureConfig) -> str:
    since = row.get(names.LAST_ACTIVITY)
    if _missing(since):
        return "no recorded activity"
    span = config.active_days_window_days
    days = _n(row, names.windowed(names.ACTIVE_DAYS, span))
    return f"active on {_times(days, 'days')} in the last {span} days, last {since:.0f} days ago"


def _role(row: Mapping, config: FeatureConfig) -> str:
    level = row.get("seniority")
    return f"job title suggests {LEVEL_WORDS.get(level, level)}" if level else "job title gives no seniority"


def _size(row: Mapping, config: FeatureConfig) -> str:
    size = row.get("company_size")
    if _missing(size):
        return "company size unknown"
    return f"company of {int(size):,} employees ({str(row.get('segment', '')).replace('_', '-')})"


def _attribute(name: str, label: str) -> Words:
    def words(row: Mapping, config: FeatureConfig) -> str:
        value = row.get(name)
        return f"{label} {str(value).replace('_', ' ')}" if value else f"{name} unknown"

    return words


def _location(row: Mapping, config: FeatureConfig) -> str:
    place = row.get("country") or row.get("region")
    return f"based in {str(place).replace('_', ' ').title()}" if place else "location unknown"


def _email_type(row: Mapping, config: FeatureConfig) -> str:
    kind = row.get("email_type") or "unknown"
    return "no email domain given" if kind == "unknown" else f"signed up with a {kind} email address"


def _yes_no(flag: str, yes: str, no: str) -> Words:
    return lambda row, config: yes if _n(row, flag) else no


WORDS: dict[str, Words] = {
    "pricing": _pricing,
    "demo": _yes_no("has_demo_request", "requested a demo", "has not requested a demo"),
    "trial": _yes_no("trial_started", "started a free trial", "has not started a free trial"),
    "product": lambda row, config: f"used the product on {_times(_n(row, names.PRODUCT_DAYS), 'days')}",
    "webinar": _in_window("webinar_attended", "attended", "webinars"),
    "content": _in_window("content_download", "downloaded", "pieces", " of content"),
    "unsubscribed": _yes_no("unsubscribed", "unsubscribed from marketing email", "still subscribed to marketing email"),
    "email": _email,
    "form": _in_window("form_submit", "submitted", "forms"),
    "account": _account,
    "activity": _activity,
    "icp": lambda row, config: (
        f"matches {_n(row, 'icp_matches'):.0f} of 5 ideal-customer criteria "
        "(industry, size, region, seniority, department)"
    ),
    "student": _yes_no("is_student", "job title or email suggests a student", "not a student"),
    "role": _role,
    "size": _size,
    "industry": _attribute("industry", "works in"),
    "department": _attribute("department", "works in"),
    "source": _attribute("source", "came from"),
    "location": _location,
    "email_type": _email_type,
    "age": lambda row, config: f"became a lead {_n(row, 'lead_age_days'):.0f} days ago",
}


def describe(concept: str, row: Mapping, config: FeatureConfig) -> str:
    """One sentence about `concept` for the lead whose feature values are `row`; a flat export's own
    column or counter is named with its value."""
    words = WORDS.get(concept)
    if words is not None:
        return words(row, config)
    return f"{concept.replace('_', ' ')}: {row.get(concept)}"
