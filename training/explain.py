"""Why a lead scored as it did, in words a sales rep understands: contributions -> concepts -> words.

LightGBM's own SHAP contributions (`pred_contrib`) are per feature; several features describe one
thing the lead did or is (seven features are about the pricing page). Contributions are summed
per such concept and the strongest ones are described from the lead's own feature values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from core.schema import Reason

LEVEL_WORDS = {
    "c_level": "a C-level executive",
    "vp": "a vice president",
    "director": "a director",
    "manager": "a manager",
    "individual_contributor": "an individual contributor",
    "intern": "an intern",
    "student": "a student",
}
CONCEPTS = (  # (concept, substrings of feature names), first match wins
    ("icp", ("icp_",)),
    ("student", ("is_student",)),
    ("pricing", ("pricing",)),
    ("demo", ("demo_request",)),
    ("trial", ("free_trial", "trial_started")),
    ("product", ("product_active",)),
    ("webinar", ("webinar",)),
    ("content", ("content_download",)),
    ("unsubscribed", ("unsubscribe",)),
    ("email", ("email_click", "email_open", "email_ctr")),
    ("form", ("form_submit",)),
    ("account", ("account_",)),
    ("activity", ("page_view", "n_events_", "engagement_decayed", "active_days", "days_since_last_activity")),
    ("role", ("seniority",)),
    ("size", ("company_size", "size_band", "segment")),
    ("industry", ("industry",)),
    ("location", ("region", "country")),
    ("department", ("department",)),
    ("email_type", ("email_type",)),
    ("source", ("source",)),
    ("age", ("lead_age_days",)),
)


def concept_of(feature: str) -> str:
    for concept, parts in CONCEPTS:
        if any(part in feature for part in parts):
            return concept
    return feature  # a flat export's own fit column or counter


def _n(row: Mapping, name: str) -> float:
    value = row.get(name)
    return 0.0 if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _times(n: float, thing: str) -> str:
    n = round(n)
    return f"{n} {thing}" if n != 1 else f"1 {thing.rstrip('s')}" if thing.endswith("s") else f"1 {thing}"


def describe(concept: str, row: Mapping) -> str:
    """One sentence about `concept` for the lead whose feature values are `row`."""
    if concept == "pricing":
        if _n(row, "n_pricing_page_view_7d"):
            return f"visited the pricing page {_times(_n(row, 'n_pricing_page_view_7d'), 'times')} in the last 7 days"
        if _n(row, "has_pricing_view"):
            return f"last visited the pricing page {_n(row, 'days_since_pricing_page_view'):.0f} days ago"
        return "has not visited the pricing page"
    if concept == "demo":
        return "requested a demo" if _n(row, "has_demo_request") else "has not requested a demo"
    if concept == "trial":
        return "started a free trial" if _n(row, "trial_started") else "has not started a free trial"
    if concept == "product":
        return f"used the product on {_times(_n(row, 'product_active_days'), 'days')}"
    if concept == "webinar":
        return f"attended {_times(_n(row, 'n_webinar_attended_90d'), 'webinars')} in the last 90 days"
    if concept == "content":
        return f"downloaded {_times(_n(row, 'n_content_download_90d'), 'pieces')} of content in the last 90 days"
    if concept == "unsubscribed":
        return "unsubscribed from marketing email" if _n(row, "unsubscribed") else "still subscribed to marketing email"
    if concept == "email":
        ctr = row.get("email_ctr_90d")
        if ctr is not None and not (isinstance(ctr, float) and math.isnan(ctr)):
            return f"clicked {float(ctr):.0%} of the marketing emails opened in the last 90 days"
        return "has not opened marketing email lately"
    if concept == "form":
        return f"submitted {_times(_n(row, 'n_form_submit_90d'), 'forms')} in the last 90 days"
    if concept == "account":
        n = _n(row, "account_engaged_contacts_30d")
        return f"{_times(n, 'contacts')} of the account active in the last 30 days"
    if concept == "activity":
        since = row.get("days_since_last_activity")
        if since is None or (isinstance(since, float) and math.isnan(since)):
            return "no recorded activity"
        return f"active on {_times(_n(row, 'active_days_90d'), 'days')} in the last 90 days, last {since:.0f} days ago"
    if concept == "icp":
        n = _n(row, "icp_matches")
        return f"matches {n:.0f} of 5 ideal-customer criteria (industry, size, region, seniority, department)"
    if concept == "student":
        return "job title or email suggests a student" if _n(row, "is_student") else "not a student"
    if concept == "role":
        level = row.get("seniority")
        return f"job title suggests {LEVEL_WORDS.get(level, level)}" if level else "job title gives no seniority"
    if concept == "size":
        size = row.get("company_size")
        if size is None or (isinstance(size, float) and math.isnan(size)):
            return "company size unknown"
        return f"company of {int(size):,} employees ({str(row.get('segment', '')).replace('_', '-')})"
    if concept in ("industry", "department", "source"):
        value = row.get(concept)
        label = {"industry": "works in", "department": "works in", "source": "came from"}[concept]
        return f"{label} {str(value).replace('_', ' ')}" if value else f"{concept} unknown"
    if concept == "location":
        place = row.get("country") or row.get("region")
        return f"based in {str(place).replace('_', ' ').title()}" if place else "location unknown"
    if concept == "email_type":
        kind = row.get("email_type") or "unknown"
        return "no email domain given" if kind == "unknown" else f"signed up with a {kind} email address"
    if concept == "age":
        return f"became a lead {_n(row, 'lead_age_days'):.0f} days ago"
    value = row.get(concept)
    return f"{concept.replace('_', ' ')}: {value}"


class Row(Mapping):
    """One lead's feature values, read from the feature columns only when asked for (its reasons
    read a handful of a hundred columns)."""

    __slots__ = ("columns", "i")

    def __init__(self, columns: Mapping, i: int):
        self.columns, self.i = columns, i

    def __getitem__(self, name: str):
        return self.columns[name][self.i]

    def __iter__(self):
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    def get(self, name: str, default=None):
        values = self.columns.get(name)
        return default if values is None else values[self.i]


class Explainer:
    """Per-feature SHAP contributions of one model's features, summed per concept, in words."""

    def __init__(self, names: list[str]):
        concept = [concept_of(n) for n in names]
        self.concepts = list(dict.fromkeys(concept))
        self.membership = np.zeros((len(names), len(self.concepts)))
        for j, c in enumerate(concept):
            self.membership[j, self.concepts.index(c)] = 1.0

    def totals(self, contributions: np.ndarray) -> np.ndarray:
        """Contribution per concept for each row (`contributions` as `pred_contrib` gives them,
        the expected value last)."""
        return contributions[:, : len(self.membership)] @ self.membership

    def texts(self, contributions: np.ndarray, columns: Mapping) -> list[str]:
        """Each row's reasons as one line ("reason; reason; ..."), from `pred_contrib` rows and the
        feature columns they were computed on."""
        totals = self.totals(contributions)
        return ["; ".join(r.text for r in self.reasons(totals[i], Row(columns, i))) for i in range(len(totals))]

    def reasons(
        self, totals: np.ndarray, row: Mapping, positive: int = 3, negative: int = 2, minimum: float = 0.02
    ) -> list[Reason]:
        """The strongest positive and negative concepts for one lead (one row of `totals`)."""
        ranked = np.argsort(-np.abs(totals), kind="stable")
        ups = [j for j in ranked if totals[j] >= minimum][:positive]
        downs = [j for j in ranked if totals[j] <= -minimum][:negative]
        return [
            Reason(
                text=describe(self.concepts[j], row),
                direction="positive" if totals[j] > 0 else "negative",
                weight=round(float(totals[j]), 4),
            )
            for j in sorted(ups + downs, key=lambda j: -abs(totals[j]))
        ]
