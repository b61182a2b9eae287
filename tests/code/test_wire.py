"""What a client may send as an id, a time or a number (core.wire): each rule's regular
expression is exactly the rule (every calendar day of the years, and nothing else), and a refusal
says what is expected, never the value."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pytest
from pydantic import ValidationError

from core.decisions import one_line
from core.wire import FIRST_YEAR, ID_PATTERN, LAST_YEAR, TIME_PATTERN, time_of
from serving.schemas import Lead


def test_the_time_pattern_takes_every_day_of_its_years_and_no_other():
    pattern = re.compile(TIME_PATTERN)
    day = date(FIRST_YEAR, 1, 1)
    while day.year <= LAST_YEAR:
        assert pattern.fullmatch(f"{day.isoformat()}T23:59:59.123456+05:30"), day
        day += timedelta(days=1)
    for wrong in ("2001-02-29", "2100-01-01", "1999-12-31", "2025-04-31", "2025-13-01", "2025-00-10"):
        assert not pattern.fullmatch(f"{wrong}T00:00:00Z"), wrong


@pytest.mark.parametrize(
    "written",
    ["2025-12-30T09:00:00Z", "2025-12-30T09:00", "2025-12-30T09:00:00.000+0000", "2025-12-30T04:00:00.5-05:00"],
)
def test_iso_times_as_crms_send_them_are_taken(written):
    assert re.fullmatch(TIME_PATTERN, written) and time_of(written).year == 2025


@pytest.mark.parametrize(
    "written",
    ["2025-12-30 09:00:00", "2025-12-30", "2025-12-30T09:00:00z", "2025-12-30T24:00:00Z", "2025-12-30T09:00:00Z\n"],
)
def test_other_spellings_are_not_times(written):
    assert not re.fullmatch(TIME_PATTERN, written)
    with pytest.raises(ValueError, match="expected an ISO 8601 time"):
        time_of(written)


@pytest.mark.parametrize("given", ["L-1", "lead 7", "Åsa-42", "東京-1"])
def test_ids_with_a_visible_character_are_taken(given):
    assert re.fullmatch(ID_PATTERN, given) and Lead(lead_id=given).lead_id == given


@pytest.mark.parametrize("given", [" ", "\t", "\u3000", "L\x01", "L\x85", "L\u202eevil", "L\u2066", "L-1\n"])
def test_blank_ids_and_ids_with_control_characters_are_refused(given):
    assert not re.fullmatch(ID_PATTERN, given)
    with pytest.raises(ValidationError) as info:
        Lead.model_validate_json(json.dumps({"lead_id": given}))
    assert one_line(info.value, root="lead").startswith("lead_id: must have a visible character")


# (field, a value of the wrong kind): JSON's own types only, never coerced
WRONG_KINDS = [
    ("company_size", True),
    ("company_size", 850.5),
    ("company_size", "850"),
    ("created_at", -0.0),
    ("created_at", 1767225600),
    ("created_at", "1 Jan 2026"),
    ("extra", {"visits": True}),
    ("extra", {"visits": -1}),
    ("extra", {"visits": [1]}),
]


@pytest.mark.parametrize(("field", "value"), WRONG_KINDS)
def test_a_value_of_the_wrong_kind_is_refused_naming_the_field(field, value):
    with pytest.raises(ValidationError) as info:
        Lead.model_validate_json(json.dumps({"lead_id": "L-1", field: value}))
    message = one_line(info.value, root="lead")
    assert message.startswith(field) and str(value) not in message.replace(field, "")
