"""`FeatureSpec`: every feature a configuration produces, generated from the feature config and the
contract, with its kind, its group (fit / engagement / account), the concept it belongs to, its
monotone direction and the words a sales rep reads about it.

Feature names are defined once (`features/names.py`) and the feature code builds its columns with
them, so the spec and the features cannot drift apart. Everything that
names features reads the spec: the reasons (`training/explain.py`), the monotone constraints and
the booster's matrix (`training/`), the next-step rules (`serving/scorer.py`); a configuration that
names a feature the spec lacks fails when it is checked against the spec, naming the feature.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from core.errors import LeadscoreError
from features import names
from features.calendar import KINDS
from features.contract import ContractConfig
from features.fit import CATEGORICAL, ICP, categorical_columns
from features.settings import FeatureConfig
from features.words import describe

Kind = Literal["number", "category", "flag", "days"]  # days: "days since" an event (never = long ago)
Group = Literal["fit", "engagement", "account"]


EVENT_CONCEPTS = {
    "page_view": "activity",
    "pricing_page_view": "pricing",
    "content_download": "content",
    "webinar_registered": "webinar",
    "webinar_attended": "webinar",
    "email_open": "email",
    "email_click": "email",
    "form_submit": "form",
    "demo_request": "demo",
    "free_trial_signup": "trial",
    "product_active_day": "product",
    "unsubscribe": "unsubscribed",
}
INTENT_EVENTS = ("pricing_page_view", "demo_request")  # more of these never makes a lead less likely
FIT_CONCEPTS = {
    "company_size": "size",
    "size_band": "size",
    "segment": "size",
    "industry": "industry",
    "department": "department",
    "region": "location",
    "country": "location",
    "source": "source",
}


@dataclass(frozen=True)
class FeatureInfo:
    """One feature: what it is, which concept a reason groups it under, and its monotone direction
    (+1: more never lowers the score; -1: more never raises it; 0: free)."""

    name: str
    kind: Kind
    group: Group
    concept: str
    monotone: int = 0


def _fit(config: FeatureConfig, contract: ContractConfig) -> list[FeatureInfo]:
    kinds = set(categorical_columns(contract))

    def one(name: str, concept: str, kind: Kind | None = None) -> FeatureInfo:
        return FeatureInfo(name, kind or ("category" if name in kinds else "number"), "fit", concept)

    out = [one(name, FIT_CONCEPTS[name]) for name in ("company_size", "size_band", "segment", *CATEGORICAL)]
    out += [one("seniority", "role"), one("seniority_rank", "role"), one("email_type", "email_type")]
    out += [one(name, "icp", "flag") for name in ICP]
    out += [one("icp_matches", "icp"), one("is_student", "student", "flag")]
    out += [one(name, name) for name in contract.extra_fit_columns]
    out += [FeatureInfo(name, "number", "engagement", name) for name in contract.counter_columns]
    out += [one(names.calendar(part), names.calendar(part), KINDS[part]) for part in contract.calendar]
    return out


def _events(config: FeatureConfig, contract: ContractConfig) -> list[FeatureInfo]:
    out = []
    for kind in contract.event_types:
        concept, up = EVENT_CONCEPTS.get(kind, kind), int(kind in INTENT_EVENTS)
        out += [FeatureInfo(names.count(kind, w), "number", "engagement", concept, up) for w in config.windows_days]
        out.append(FeatureInfo(names.of_event(names.DECAYED, kind), "number", "engagement", concept, up))
        if kind == "product_active_day":
            out.append(FeatureInfo(names.PRODUCT_DAYS, "number", "engagement", concept))
    for kind in config.recency_events:
        direction = -1 if kind in INTENT_EVENTS else 0
        out.append(
            FeatureInfo(
                names.of_event(names.DAYS_SINCE, kind), "days", "engagement", EVENT_CONCEPTS.get(kind, kind), direction
            )
        )
    out += [
        FeatureInfo(names.LAST_ACTIVITY, "days", "engagement", "activity", -1),
        FeatureInfo("engagement_decayed", "number", "engagement", "activity", 1),
        *(
            FeatureInfo(names.windowed(names.EVENTS, w), "number", "engagement", "activity", 1)
            for w in config.windows_days
        ),
        FeatureInfo(
            names.windowed(names.ACTIVE_DAYS, config.active_days_window_days), "number", "engagement", "activity", 1
        ),
        FeatureInfo(names.windowed(names.CLICK_RATE, max(config.windows_days)), "number", "engagement", "email"),
    ]
    out += [
        FeatureInfo(flag, "flag", "engagement", EVENT_CONCEPTS[kind], int(kind in INTENT_EVENTS))
        for flag, kind in names.FLAGS.items()
    ]
    return out


def _account(config: FeatureConfig) -> list[FeatureInfo]:
    return [
        FeatureInfo("account_contacts", "number", "account", "account"),
        FeatureInfo(
            names.windowed(names.ENGAGED_CONTACTS, config.engaged_window_days), "number", "account", "account", 1
        ),
        FeatureInfo("account_engagement_decayed", "number", "account", "account", 1),
        FeatureInfo("account_top_engaged_seniority", "number", "account", "account", 1),
        FeatureInfo("lead_age_days", "number", "engagement", "age"),
    ]


class FeatureSpec:
    """The features of one (feature config, contract) pair, in the order the feature code makes them."""

    def __init__(self, config: FeatureConfig | None = None, contract: ContractConfig | None = None):
        self.config = config or FeatureConfig()
        self.contract = contract or ContractConfig()
        features = [*_fit(self.config, self.contract), *_events(self.config, self.contract), *_account(self.config)]
        self.features: dict[str, FeatureInfo] = {f.name: f for f in features}
        self.days = frozenset(self.of_kind("days"))  # "days since" features: never = long ago

    @property
    def names(self) -> list[str]:
        return list(self.features)

    def __getitem__(self, name: str) -> FeatureInfo:
        return self.features[name]

    def __contains__(self, name: object) -> bool:
        return name in self.features

    def of_kind(self, kind: Kind) -> list[str]:
        return [f.name for f in self.features.values() if f.kind == kind]

    def check(self, wanted: Iterable[str], where: str, kind: Kind | None = None) -> None:
        """Raise, naming them, if the features a config at `where` names are not features of this
        spec (or not of `kind`)."""
        allowed = self.features if kind is None else self.of_kind(kind)
        unknown = [n for n in dict.fromkeys(wanted) if n not in allowed]
        if unknown:
            what = "feature" if kind is None else f"{kind} feature"
            raise LeadscoreError(
                f"{where}: {', '.join(repr(n) for n in unknown)} is not a {what} of this feature configuration "
                f"(windows {self.config.windows_days}); e.g. {', '.join(list(allowed)[:6])}"
            )

    def matching(self, patterns: list[str], where: str) -> set[str]:
        """The features a list of names or prefix patterns (`n_pricing_page_view_*`) names; a pattern
        that names none is an error."""
        out: set[str] = set()
        for pattern in patterns:
            hit = {n for n in self.features if (n.startswith(pattern[:-1]) if pattern.endswith("*") else n == pattern)}
            if not hit:
                self.check([pattern], where)
            out |= hit
        return out

    def monotone(
        self, columns: list[str], increasing: list[str] | None = None, decreasing: list[str] | None = None
    ) -> list[int]:
        """LightGBM's monotone constraints for `columns`: the spec's directions, or the features that
        `increasing` / `decreasing` name (patterns as in `matching`) when given."""
        if increasing is None and decreasing is None:
            return [self.features[n].monotone if n in self.features else 0 for n in columns]
        up = self.matching(increasing or [], "training config model.monotone_increasing")
        down = self.matching(decreasing or [], "training config model.monotone_decreasing")
        return [1 if n in up else -1 if n in down else 0 for n in columns]

    def words(self, concept: str, row: Mapping, low: bool = False) -> str:
        """One sentence about `concept` for the lead whose feature values are `row` (as a reason
        that lowered the probability when `low`)."""
        return describe(concept, row, self.config, low)
