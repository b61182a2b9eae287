"""Company sizes as CRMs export them: whole numbers, or bands such as '51-200', '10,001+', '1K-5K'.

A size reads as one whole number of employees:

- a number: `1200`, `1,200`, `1 200`, `1200.0`, `1.2K`, `3M` (K = thousand, M = million); a number
  that is not whole after its suffix (`12.5`, or `1.200` meant as 1,200 in a German export) is not
  read, rather than guessed;
- a band reads as its **lower bound**: `51-200` -> 51, `1K-5K` -> 1000, `10,001+` -> 10001,
  `1001 to 5000` -> 1001, `500 or more` -> 500, `<10` / `under 10` -> 1 (a company has at least
  one employee).

The lower bound is every company in the band: it is never a size the company does not reach. The
segments (features/settings.py: smb below 200, mid_market from 200, enterprise from 1000) are cut
where the usual CRM bands start (`1-10`, `11-50`, `51-200`, `201-500`, `501-1000`, `1001-5000`,
`5001-10000`, `10,001+`; or `200-499`, `1000-4999`), so each such band falls wholly in one segment
by its lower bound: `51-200` smb, `201-500` and `501-1000` mid_market, `1001-5000` enterprise. (A
geometric midpoint would put `101-250` at 159, smb, and `501-1000` at 708: the same segments for
these bands, but a size no company in a band of its own has said it is.) Anything else is not read
and counted by the caller: the row keeps no size and its segment is `unknown`.
"""

from __future__ import annotations

import re
from decimal import Decimal

import numpy as np
import pandas as pd

_NUMBER = r"(\d[\d,' \u00a0\u202f]*(?:\.\d+)?)\s*([km]?)"
_SCALE = {"": 1, "k": 1_000, "m": 1_000_000}
_PATTERNS = (
    (re.compile(rf"^{_NUMBER}$"), "exact"),
    (re.compile(rf"^{_NUMBER}\s*(?:-|–|—|to)\s*{_NUMBER}$"), "band"),
    (re.compile(rf"^{_NUMBER}\s*(?:\+|or more|and more|and above|and up)$"), "open"),
    (re.compile(rf"^(?:<|<=|≤|under|less than|fewer than|up to)\s*{_NUMBER}$"), "below"),
)


def _whole(digits: str, suffix: str) -> int | None:
    """A number with thousands separators and a K/M suffix as a whole number, or None."""
    value = Decimal(re.sub(r"[,' \u00a0\u202f]", "", digits)) * _SCALE[suffix]
    return int(value) if value == value.to_integral_value() else None


def read_size(text: str) -> int | None:
    """One company size (number or band, see the module) as whole employees, or None if unreadable."""
    cleaned = " ".join(str(text).strip().lower().replace("employees", "").split())
    for pattern, kind in _PATTERNS:
        match = pattern.match(cleaned)
        if match is None:
            continue
        if kind == "below":
            return 1
        low = _whole(match.group(1), match.group(2))
        if kind == "band":
            high = _whole(match.group(3), match.group(4))
            if low is None or high is None or high < low:
                return None
        return low
    return None


def read_sizes(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """The sizes of `values` as whole employees (Int64, missing where empty or unreadable) and the
    positions (0-based) of the filled values that could not be read."""
    filled = values.notna()
    uniques = values[filled].astype(str).unique()
    parsed = {u: read_size(u) for u in uniques}  # a column holds few distinct sizes: read each once
    sizes = pd.Series(pd.NA, index=values.index, dtype="Int64")
    read = values[filled].astype(str).map(parsed)
    sizes[filled] = read.astype("Int64")
    unreadable = np.flatnonzero((filled & sizes.isna()).to_numpy())
    return sizes, unreadable
