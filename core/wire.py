"""What a client may send as an id, a free text, a time or a number: each rule stated once, as a
regular expression or a strict type, and used twice: by the validation and by the JSON schema of
the API (so the OpenAPI document says exactly what the service takes).

- an id (`Id`): text with at least one visible character and no control character: C0, DEL,
  C1 or the bidi controls (which can make an id display as another);
- a free text (`TEXT_PATTERN`): no NUL; with no lone surrogate either (no store can hold them,
  but no schema pattern can name one), checked by `core.text.text_problem` (a 422 naming the field);
- a time (`time_of`): an ISO 8601 string `YYYY-MM-DDThh:mm`, optional seconds and fraction (up
  to 6 digits), optional offset (`Z`, `+05:30` or `+0530`; none means UTC), a real calendar date, written in
  the years `FIRST_YEAR`..`LAST_YEAR`: never a number (`-0.0` is no time);
- a number (`WHOLE`, `REAL`): JSON numbers only, never `true` or `"12"`.

Messages name what is expected, never the value sent (it may be a lead's personal data).
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field, Strict
from pydantic_core import PydanticCustomError

from core.text import text_problem

FIRST_YEAR, LAST_YEAR = 2000, 2099  # the years a time may be written in
YEARS = "20[0-9]{2}"  # the same, as a regular expression (tests/code/test_wire.py checks they agree)
# C0, DEL, C1 and the bidi controls (ALM, LRM, RLM, LRE..RLO, LRI..PDI). Lone surrogates are refused
# too (`core.text`), but no pattern can name them: the schema validators' regular expressions are Unicode
CONTROLS = r"\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
SPACES = r"\x20\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"  # blank, but not controls
ID_PATTERN = f"^[^{CONTROLS}]*[^{CONTROLS}{SPACES}][^{CONTROLS}]*$"
ID_RULE = "must have a visible character and no control character (C0, C1, bidi controls)"
TEXT_PATTERN = r"^[^\x00]*$"  # no NUL (PostgreSQL refuses it); no lone surrogate either (`core.text`)
TIME_RULE = (
    f"expected an ISO 8601 time string YYYY-MM-DDThh:mm[:ss[.ffffff]] (optional offset; none means UTC), "
    f"years {FIRST_YEAR}-{LAST_YEAR}, e.g. 2025-12-30T09:00:00Z"
)

WHOLE = Annotated[int, Strict()]  # a JSON integer: not true, not 12.0, not "12"
REAL = Annotated[float, Strict()]  # a JSON number (an integer too): not true, not "1.5"


def _time_pattern() -> str:
    """`TIME_RULE` as a regular expression: real calendar dates only (no February 30th)."""
    days = {31: "(?:0[1-9]|[12][0-9]|3[01])", 30: "(?:0[1-9]|[12][0-9]|30)", 28: "(?:0[1-9]|1[0-9]|2[0-8])"}
    month_day = f"(?:(?:0[13578]|1[02])-{days[31]}|(?:0[469]|11)-{days[30]}|02-{days[28]})"
    leap = "|".join(str(year) for year in range(FIRST_YEAR, LAST_YEAR + 1) if calendar.isleap(year))
    clock = r"T(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,6})?)?"
    offset = "(?:Z|[+-](?:[01][0-9]|2[0-3]):?[0-5][0-9])?"
    return f"^(?:{YEARS}-{month_day}|(?:{leap})-02-29){clock}{offset}$"


TIME_PATTERN = _time_pattern()
_ID, _TIME = re.compile(ID_PATTERN), re.compile(TIME_PATTERN)


def _id(value: str) -> str:
    unstorable = text_problem(value)  # said as for any text (a NUL, a lone surrogate)
    if unstorable is not None:
        raise PydanticCustomError("id", unstorable)
    if not _ID.fullmatch(value):
        raise PydanticCustomError("id", ID_RULE)
    return value


def Id(max_length: int) -> Any:
    """An id of at most `max_length` characters (see the module's docstring)."""
    return Annotated[
        str, Field(min_length=1, max_length=max_length, json_schema_extra={"pattern": ID_PATTERN}), AfterValidator(_id)
    ]


def time_of(value: object) -> datetime:
    """`value` as a datetime (naive: no offset was sent): an ISO time string as `TIME_PATTERN`
    states it, or a datetime (from Python callers); else an error naming what is expected."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and _TIME.fullmatch(value):
        return datetime.fromisoformat(value)
    raise PydanticCustomError("time", TIME_RULE)


def loose_time(value: object) -> datetime | None:
    """`value` read as any ISO 8601 time Python can read (to say why a time outside the
    pattern's years is refused), or None."""
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
