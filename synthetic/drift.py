"""The drift `simulate --drift SPEC` injects into the simulated future, from a date on.

A spec is one or more parts separated by `;`, each `from=DATE` and one or more changes:
- `company_size=F`: every new lead's company size times F (0.1: cut tenfold; the CRM's field
  only, the company is the same: the service sees smaller companies);
- `source=NAME`: every new lead comes from that source (its acceptance follows the source);
- `accept=SEGMENT:F` or `accept=source:NAME:F`: the probability that sales accept a hand-over in
  that segment (smb, mid_market, enterprise) or from that source times F, capped at 0.95.
Dates are UTC days (YYYY-MM-DD) or instants; a lead's arrival decides the first two, the hand-over
time the third. Example: `from=2026-02-01,company_size=0.1;from=2026-03-01,accept=enterprise:2`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import LeadscoreError
from synthetic import world as w


class Accept(BaseModel):
    """Sales' acceptance probability times `factor` for one segment or one source."""

    model_config = ConfigDict(extra="forbid")
    by: Literal["segment", "source"]
    value: str
    factor: float = Field(gt=0, le=100, allow_inf_nan=False)


class Change(BaseModel):
    """What changes from `start` (UTC seconds since epoch) on."""

    model_config = ConfigDict(extra="forbid")
    start: int
    company_size: float | None = Field(default=None, gt=0, le=1000, allow_inf_nan=False)
    source: Literal[w.SOURCES] | None = None  # type: ignore[valid-type]
    accept: Accept | None = None


class Drift(BaseModel):
    """A drift spec: its changes, in the order given (a later one wins where two say the same)."""

    model_config = ConfigDict(extra="forbid")
    changes: list[Change] = Field(default_factory=list)
    spec: str = ""

    def size_factor(self, created: np.ndarray) -> np.ndarray:
        """The factor on each lead's company size, by its arrival time."""
        factor = np.ones(len(created))
        for c in self.changes:
            if c.company_size is not None:
                factor = np.where(created >= c.start, factor * c.company_size, factor)
        return factor

    def forced_source(self, created: np.ndarray) -> np.ndarray:
        """The source every lead arriving at `created` comes from (index into world.SOURCES), -1 for none."""
        source = np.full(len(created), -1)
        for c in self.changes:
            if c.source is not None:
                source = np.where(created >= c.start, w.SOURCES.index(c.source), source)
        return source

    def accept_scale(self, moment: np.ndarray, segment: np.ndarray, source: np.ndarray) -> np.ndarray:
        """The factor on sales' acceptance probability of hand-overs at `moment` with these
        segments and sources (indices into world.SEGMENTS and world.SOURCES)."""
        scale = np.ones(len(moment))
        for c in self.changes:
            if c.accept is not None:
                names = w.SEGMENTS if c.accept.by == "segment" else w.SOURCES
                of = segment if c.accept.by == "segment" else source
                hit = (moment >= c.start) & (of == names.index(c.accept.value))
                scale = np.where(hit, scale * c.accept.factor, scale)
        return scale


def parse(spec: str | None) -> Drift:
    """The drift that `spec` describes (none for None or ""); a LeadscoreError naming the part that
    is wrong."""
    if not spec or not spec.strip():
        return Drift()
    changes = [_part(part.strip(), i) for i, part in enumerate(spec.split(";"), 1) if part.strip()]
    return Drift(changes=changes, spec=spec.strip())


def _part(part: str, i: int) -> Change:
    """One part of a spec, `from=DATE,key=value,...`."""
    where = f"--drift: part {i} ({part!r})"
    fields: dict[str, object] = {}
    for item in part.split(","):
        key, sep, value = (s.strip() for s in item.partition("="))
        if not sep or not value:
            raise LeadscoreError(f"{where}: {item.strip()!r} is not key=value")
        if key in fields or (key == "from" and "start" in fields):
            raise LeadscoreError(f"{where}: {key} is given twice")
        if key == "from":
            fields["start"] = _instant(value, where)
        elif key == "accept":
            fields["accept"] = _accept(value, where)
        elif key in ("company_size", "source"):
            fields[key] = value
        else:
            raise LeadscoreError(f"{where}: unknown key {key!r} (from, company_size, source, accept)")
    if "start" not in fields:
        raise LeadscoreError(f"{where}: from=DATE is missing")
    if len(fields) == 1:
        raise LeadscoreError(f"{where}: no change (company_size=F, source=NAME, accept=SEGMENT:F)")
    try:
        return Change.model_validate(fields)
    except ValidationError as exc:
        problem = exc.errors()[0]
        key = ".".join(str(p) for p in problem["loc"])
        raise LeadscoreError(f"{where}: {key}: {problem['msg']}") from None


def _instant(value: str, where: str) -> int:
    """A date or instant as UTC seconds since epoch."""
    try:
        moment = pd.Timestamp(value)
    except ValueError:
        raise LeadscoreError(f"{where}: from={value!r} is not a date (YYYY-MM-DD)") from None
    if pd.isna(moment):
        raise LeadscoreError(f"{where}: from={value!r} is not a date (YYYY-MM-DD)")
    moment = moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")
    return int(moment.timestamp())


def _accept(value: str, where: str) -> Accept:
    """`SEGMENT:F` or `source:NAME:F`."""
    parts = value.split(":")
    if len(parts) == 2 and parts[0] in w.SEGMENTS:
        by, name, factor = "segment", parts[0], parts[1]
    elif len(parts) == 3 and parts[0] == "source" and parts[1] in w.SOURCES:
        by, name, factor = "source", parts[1], parts[2]
    else:
        raise LeadscoreError(
            f"{where}: accept={value!r}: expected SEGMENT:F ({', '.join(w.SEGMENTS)}) or source:NAME:F "
            f"({', '.join(w.SOURCES)})"
        )
    try:
        return Accept(by=by, value=name, factor=float(factor))
    except (ValueError, ValidationError):
        raise LeadscoreError(f"{where}: accept factor {factor!r} is not a number above 0 (at most 100)") from None
