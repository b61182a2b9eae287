"""The names of the engagement and account features, defined once: the feature code builds its
columns with them, and the spec (`features/spec.py`) and the reasons' words read them."""

from __future__ import annotations

from typing import Literal

COUNT, DECAYED, DAYS_SINCE = "n", "decay", "days_since"  # per event type: n_demo_request_7d, decay_demo_request
EVENTS, ACTIVE_DAYS, CLICK_RATE = "n_events", "active_days", "email_ctr"  # per window: n_events_30d
ENGAGED_CONTACTS = "account_engaged_contacts"  # account contacts active in the window
LAST_ACTIVITY = "days_since_last_activity"
PRODUCT_DAYS = "product_active_days"
FLAGS = {  # flag -> the event type it says happened at least once
    "has_pricing_view": "pricing_page_view",
    "has_demo_request": "demo_request",
    "trial_started": "free_trial_signup",
    "unsubscribed": "unsubscribe",
}


def of_event(stem: str, event_type: str) -> str:
    """A feature about one event type: `decay_pricing_page_view`."""
    return f"{stem}_{event_type}"


def windowed(stem: str, days: int) -> str:
    """A feature over the last `days` days: `n_events_30d`."""
    return f"{stem}_{days}d"


def count(event_type: str, days: int) -> str:
    """Events of one type in the last `days` days: `n_pricing_page_view_7d`."""
    return windowed(of_event(COUNT, event_type), days)


CalendarPart = Literal["month", "weekday", "hour"]  # of the scoring time: the hand-over, when training


def calendar(part: str) -> str:
    """A calendar feature of the scoring time: `handover_weekday`."""
    return f"handover_{part}"


BUYING = "buying"  # per buying-group role: buying_finance (0 no one known, 1 known but quiet, 2 engaged)
COMPLETENESS = "buying_completeness"  # share of the buying group's roles known and engaged


def role(name: str) -> str:
    """The state of one buying-group role at the account: `buying_finance`."""
    return f"{BUYING}_{name}"
