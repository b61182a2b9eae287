"""What a request sent that its answer did not read, said in the answer's `warnings`: nothing is
dropped silently.

One line per kind of thing, naming where it was (`extra.visits`, `contacts[0].events`): event
types and keys are named (codes, cut at 64 characters), a lead's values never. It lists event
types outside the served model's contract, `extra` keys that are not its extra fit columns or
counters, and events after the time the lead is scored as of (a feature never sees the future).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable

from serving.columns import number
from serving.schemas import Event, Lead

SHOWN = 5  # unknown event types named per line; the rest counted
LONGEST = 64  # characters of a key or an event type repeated in a warning


def unread(
    lead: Lead, event_types: Collection[str], extra_keys: Collection[str], as_of, numeric: Collection[str] = ()
) -> list[str]:
    """The warnings of one lead scored as of `as_of` (an aware datetime): `event_types` the
    contract knows, `extra_keys` the scorer reads from `extra`, the `numeric` ones of them."""
    unknown = [key for key in lead.extra if key not in extra_keys]
    out = [_extra([key], extra_keys) for key in unknown if key in Lead.model_fields]
    others = [key for key in unknown if key not in Lead.model_fields]
    out += [_extra(others, extra_keys)] if others else []  # one line, however many keys were sent
    out += [
        f"extra.{key}: not a number >= 0, read as missing"
        for key, value in lead.extra.items()
        if key in numeric and isinstance(value, str) and number(value) is None
    ]
    out += _events("events", lead.events or (), event_types, as_of)
    for i, contact in enumerate(lead.contacts):
        out += _events(f"contacts[{i}].events", contact.events, event_types, as_of)
    return out


def _short(text: str) -> str:
    return text if len(text) <= LONGEST else f"{text[: LONGEST - 3]}..."


def _extra(keys: list[str], read: Collection[str], shown: int = 5) -> str:
    """One warning for `keys` of `extra` that are not read (the first `shown` named)."""
    if len(keys) == 1 and keys[0] in Lead.model_fields:
        return f"extra.{keys[0]}: not read: send it as the lead's own field {keys[0]}"
    where = ", ".join(f"extra.{_short(key)}" for key in keys[:shown])
    where += f" and {len(keys) - shown} more" if len(keys) > shown else ""
    if not read:
        return f"{where}: not read: the served model reads no extra columns"
    what = ", ".join(sorted(read))
    return f"{where}: not read: not an extra fit column or counter of the served model (it reads: {what})"


def _events(where: str, events: Iterable[Event], known: Collection[str], as_of) -> list[str]:
    unknown, later = Counter(), 0
    for event in events:
        if event.type not in known:
            unknown[event.type] += 1
        elif event.ts > as_of:
            later += 1
    out = []
    if unknown:
        kinds = ", ".join(f"'{_short(kind)}' ({n})" for kind, n in unknown.most_common(SHOWN))
        more = f" and {len(unknown) - SHOWN} more" if len(unknown) > SHOWN else ""
        count = sum(unknown.values())
        out.append(f"{where}: {_events_word(count)} of a type outside the contract not read: {kinds}{more}")
    if later:
        out.append(f"{where}: {_events_word(later)} after the time scored as of (as_of) not read")
    return out


def _events_word(n: int) -> str:
    return f"{n} event" if n == 1 else f"{n} events"
