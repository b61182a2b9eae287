"""The names of the engagement and account features, defined once: the feature code builds its
columns with them, and the spec (`features/spec.py`) and the reasons' words read them."""

from __future__ import annotations


def count(event_type: str, days: int) -> str:
    return f"n_{event_type}_{days}d"


def decayed(event_type: str) -> str:
    return f"decay_{event_type}"


def days_since(event_type: str) -> str:
    return f"days_since_{event_type}"


def events_in(days: int) -> str:
    return f"n_events_{days}d"


def active_days(days: int) -> str:
    return f"active_days_{days}d"


def click_rate(days: int) -> str:
    return f"email_ctr_{days}d"


def engaged_contacts(days: int) -> str:
    return f"account_engaged_contacts_{days}d"


LAST_ACTIVITY = "days_since_last_activity"
PRODUCT_DAYS = "product_active_days"
FLAGS = {  # flag -> the event type it says happened at least once
    "has_pricing_view": "pricing_page_view",
    "has_demo_request": "demo_request",
    "trial_started": "free_trial_signup",
    "unsubscribed": "unsubscribe",
}
