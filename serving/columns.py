"""A request's leads as the column arrays the features read (`features.build.feature_columns`):
the leads' own fields and the `extra` columns the contract names, their accounts' contacts, and
every event, in one pass; times as exact UTC microseconds."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np

from core.schema import ACCOUNT_LEVEL, LEAD
from features.build import PEOPLE
from features.contract import ContractConfig
from serving.schemas import Lead

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DEFAULTED = ("account_id", "created_at")  # the lead's account and creation time get defaults
# the lead's own columns `feature_columns` reads
LEAD_COLUMNS = tuple(f.name for f in LEAD if f.name not in DEFAULTED)
# a contact of a lead's account: its own person (`features.build.PEOPLE`) and the lead's account
# profile (`core.schema.ACCOUNT_LEVEL`: size, industry, region...); its source, extra fit columns and
# counters are not known


def _micros(value: datetime) -> int:
    """Exact UTC microseconds since the epoch (no pandas: any datetime the schema accepts)."""
    return (value - EPOCH) // timedelta(microseconds=1)


def micros(values: list[datetime]) -> np.ndarray:
    """`_micros` of many validated (UTC-aware) times at once, from `timestamp()`: exact for any time
    the schema accepts (1970 to now: the float's rounding error stays under 0.5 microseconds)."""
    return np.rint(np.array([v.timestamp() for v in values], dtype=float) * 1e6).astype(np.int64)


class LeadColumns:
    """The columns of one contract: the schema's own fields, and the contract's extra fit columns
    and counters, which a lead carries in `extra` (`extra`: the keys read from there)."""

    def __init__(self, contract: ContractConfig):
        names = [*contract.extra_fit_columns, *contract.counter_columns]
        own = [*LEAD_COLUMNS, *(n for n in names if n in Lead.model_fields and n not in DEFAULTED)]
        self.own = list(dict.fromkeys(own))
        self.extra = [n for n in names if n not in Lead.model_fields]
        numeric = [n for n, kind in contract.extra_fit_columns.items() if kind == "numeric"]
        self.numeric = {"company_size", *contract.counter_columns, *numeric}

    def __call__(self, leads: list[Lead], at: np.ndarray):
        """The leads (each scored as of `at`, UTC microseconds), their account contacts and all
        their events as the columns `feature_columns` reads (a lead is its own account when it
        names none, and was created at `at` when it gives no created_at).

        Each lead of a batch is answered from what it sent alone: its account and its contacts are
        keyed by the lead's place in the request (`_own`), so that two leads of one account, or a
        lead sent again as another's contact, never pool their contacts or count an event twice
        (the answer for a lead does not depend on the other leads of the batch)."""
        rows: dict[str, list] = {k: [getattr(lead, k) for lead in leads] for k in self.own}
        for key in self.extra:  # a number sent as text is read as the number; other text: missing
            values = [lead.extra.get(key) for lead in leads]
            rows[key] = [number(v) for v in values] if key in self.numeric else values
        rows["account_id"] = accounts = [_own(lead.account_id or lead.lead_id, i) for i, lead in enumerate(leads)]
        # the lead itself too: a lead sent twice in one batch is two people, each with its own events
        rows["lead_id"] = keys = [_own(lead.lead_id, i) for i, lead in enumerate(leads)]
        rows["created_at"] = [
            _micros(lead.created_at) if lead.created_at else int(when) for lead, when in zip(leads, at, strict=True)
        ]
        people: dict[str, list] = {k: [] for k in rows}
        ev_lead, ev_ts, ev_type = [], [], []
        for i, (lead, account) in enumerate(zip(leads, accounts, strict=True)):
            for contact in lead.contacts:
                # a lead that lists itself among its contacts stays one person, as when it is alone
                person = _own(contact.lead_id, i)  # the lead listed among its contacts stays one person
                own = {"account_id": account, "lead_id": person}
                for name in people:
                    if name in own:
                        people[name].append(own[name])
                    elif name in PEOPLE:
                        people[name].append(getattr(contact, name))
                    else:  # the account's profile is the lead's; the rest of the contact is not known
                        people[name].append(rows[name][i] if name in ACCOUNT_LEVEL else None)
                for event in contact.events:
                    ev_lead.append(person)
                    ev_ts.append(event.ts)
                    ev_type.append(event.type)
            for event in lead.events or ():
                ev_lead.append(keys[i])
                ev_ts.append(event.ts)
                ev_type.append(event.type)
        columns = {
            k: np.array(v, dtype=float if k in self.numeric else np.int64 if k == "created_at" else object)
            for k, v in rows.items()
        }
        population = {
            k: micros(v) if k == "created_at" else np.array(v, dtype=float if k in self.numeric else object)
            for k, v in people.items()
        }
        events = {
            "lead_id": np.array(ev_lead, dtype=object),
            "ts": micros(ev_ts),
            "type": np.array(ev_type, dtype=object),
        }
        return columns, population, events


def _own(key: str, place: int) -> str:
    """`key` (an account or a contact's lead id) as the lead at `place` in the request sent it: NUL
    never occurs in a validated id, so these keys meet no id of another lead's request."""
    return f"{key}\x00{place}"


def number(value) -> float | None:
    """An `extra` value of a numeric column as a number: text that reads as a finite number >= 0
    ("12", "3.5") is that number, any other text None (missing; the answer's warnings say so)."""
    if not isinstance(value, str):
        return value
    try:
        read = float(value)
    except ValueError:
        return None
    return read if math.isfinite(read) and read >= 0 else None


def worded(columns: dict, leads: list[Lead]) -> dict:
    """The columns the reasons' words read: the lead's age unknown (NaN) where it gave no
    created_at (its features read the scoring time, a new lead; its words say the date is missing)."""
    undated = np.array([lead.created_at is None for lead in leads], dtype=bool)
    if not undated.any() or "lead_age_days" not in columns:
        return columns
    return {**columns, "lead_age_days": np.where(undated, np.nan, columns["lead_age_days"])}
