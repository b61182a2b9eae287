"""What the simulated CRM sends for a lead: its fields, its events up to `as_of` and its account's
other contacts (with their recent events), as the service's `Lead` body; and batches of them
within the service's default limits."""

from __future__ import annotations

import itertools
import time
from collections import defaultdict

import numpy as np
import pandas as pd
import pyarrow as pa

from core.schema import LEAD
from synthetic.crm import MOST_CONTACTS, MOST_EVENTS, MOST_LEADS

CONTACTS = 25  # the most recent other contacts of the account sent with a lead
CONTACT_DAYS = 90  # their events of the last 90 days (the longest feature window)


def iso(seconds: int) -> str:
    """An instant as ISO 8601 UTC."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(seconds)))


class Directory:
    """Every lead the CRM knows (history and simulated) by account, and their events by lead."""

    def __init__(self, leads: pd.DataFrame, events: pd.DataFrame):
        self.leads = leads.reset_index(drop=True)
        self.by_account: dict[str, np.ndarray] = defaultdict(lambda: np.empty(0, dtype=np.int64))
        for account, rows in self.leads.groupby("account_id", sort=False).indices.items():
            self.by_account[account] = rows
        # the contacts' fields as arrays: a lead's contacts are read per request (pandas row
        # selection cost ~10 ms a lead, most of a simulated week's time)
        self.lead_id = self.leads["lead_id"].to_numpy(dtype=object)
        self.created_at = self.leads["created_at"].to_numpy(dtype=np.int64)
        self.job_title = self.leads["job_title"].to_numpy(dtype=object)
        self.seniority = self.leads["seniority"].to_numpy(dtype=object)
        events = events.sort_values(["lead_id", "ts"], kind="stable").reset_index(drop=True)
        self.ts = events["ts"].to_numpy()
        self.type = events["type"].to_numpy(dtype=object)
        self.detail = events["detail"].to_numpy(dtype=object)
        ids = events["lead_id"].to_numpy(dtype=object)
        bounds = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1], True]) if len(ids) else np.array([0])
        self.span = {ids[a]: (a, b) for a, b in itertools.pairwise(bounds)}

    def events(self, lead_id: str, since: int, until: int) -> list[dict]:
        """The lead's events in (since, until]."""
        a, b = self.span.get(lead_id, (0, 0))
        ts = self.ts[a:b]
        lo, hi = a + np.searchsorted(ts, since, "right"), a + np.searchsorted(ts, until, "right")
        return [
            {"ts": iso(self.ts[i]), "type": self.type[i]}
            | ({"detail": self.detail[i]} if isinstance(self.detail[i], str) else {})
            for i in range(lo, hi)
        ]

    def contacts(self, lead_id: str, account_id: str, as_of: int) -> list[dict]:
        """The account's other leads created by `as_of`, the most recent first, with their events
        of the last CONTACT_DAYS days."""
        rows = self.by_account[account_id]
        rows = rows[(self.lead_id[rows] != lead_id) & (self.created_at[rows] <= as_of)]
        rows = rows[np.argsort(-self.created_at[rows], kind="stable")][:CONTACTS]
        return [
            {"lead_id": self.lead_id[i], "created_at": iso(self.created_at[i])}
            | {
                k: v
                for k, v in (("job_title", self.job_title[i]), ("seniority", self.seniority[i]))
                if isinstance(v, str)
            }
            | {"events": self.events(self.lead_id[i], as_of - CONTACT_DAYS * 86_400, as_of)}
            for i in rows
        ]


def bodies(leads: pa.Table, rows: np.ndarray, as_of: np.ndarray, directory: Directory) -> list[dict]:
    """The `Lead` bodies of `leads` rows `rows`, each scored as of its `as_of` (seconds)."""
    fields = [f.name for f in LEAD if f.name in leads.column_names]
    frame = leads.take(pa.array(rows)).to_pylist() if len(rows) else []
    out = []
    for lead, moment in zip(frame, as_of, strict=True):
        body = {k: (iso(v.timestamp()) if k == "created_at" else v) for k in fields if (v := lead[k]) is not None}
        body["events"] = directory.events(lead["lead_id"], -1, int(moment))
        body["contacts"] = directory.contacts(lead["lead_id"], lead["account_id"], int(moment))
        body["as_of"] = iso(moment)
        out.append(body)
    return out


def batches(bodies: list[dict]) -> list[list[dict]]:
    """`bodies` in batches within the service's default limits (leads, events, contacts)."""
    out: list[list[dict]] = []
    batch, events, contacts = [], 0, 0
    for body in bodies:
        e = len(body["events"]) + sum(len(c["events"]) for c in body["contacts"])
        c = len(body["contacts"])
        if batch and (len(batch) == MOST_LEADS or events + e > MOST_EVENTS or contacts + c > MOST_CONTACTS):
            out.append(batch)
            batch, events, contacts = [], 0, 0
        batch.append(body)
        events, contacts = events + e, contacts + c
    return [*out, batch] if batch else out
