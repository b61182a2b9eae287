"""THE validation of a sales decision: one set of rules for the service's door (`/feedback`), the
contract's outcomes table (`validate`, `import`, `retrain --decisions`) and retraining from the
feedback store, so that anything the service stores can be trained on.

The rules are functions over a column (a pandas Series or an array; one value works too): cells
of text with a NUL or a lone surrogate (`bad_text`), times before 1970 or more than `SKEW` ahead
of this machine's clock (`bad_time`), a rejected or recycled decision without a reason
(`missing_reason`), a reason outside the configured codes (`unknown_reason`), a decision taken
before the hand-over it is about (`before_handover`). `Decision` is one decision as the service
takes it; `decision_problems` checks a table of them row by row. Messages name the field and
never repeat free text (a note or an id may hold a lead's personal data); a reason code is named.

Hand-overs: a decision belongs to the hand-over (lead_id, mql_at). One without mql_at belongs to
its lead's latest hand-over at or before decided_at. A newer decision for the same hand-over
supersedes the earlier one; "latest" is the greatest (decided_at, received_at, feedback_id).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, Protocol

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from core.errors import LeadscoreError
from core.tables import utc
from core.text import bad_text, text_problem
from core.wire import TEXT_PATTERN, TIME_PATTERN, Id, loose_time, time_of

__all__ = [
    "Decision",
    "bad_text",
    "bad_time",
    "before_handover",
    "decision_problems",
    "handovers_of",
    "missing_reason",
    "placed",
    "with_status",
]

SALES_DECISIONS: tuple[str, ...] = ("accepted", "rejected", "recycled")
DECISIONS: tuple[str, ...] = (*SALES_DECISIONS, "open")  # an outcomes table also has leads still open
NEEDS_REASON: tuple[str, ...] = ("rejected", "recycled")
REASONS: tuple[str, ...] = (
    "bad_fit",
    "student_or_personal",
    "competitor",
    "no_budget",
    "no_authority",
    "no_need",
    "not_now",
    "unreachable",
    "duplicate",
    "spam_or_invalid",
)
SKEW = timedelta(minutes=5)  # a CRM's clock may run a few minutes ahead of ours
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TEXT_FIELDS: dict[str, int] = {"feedback_id": 128, "lead_id": 128, "reason": 64, "rep_id": 128, "note": 2_000}
TIME_RANGE = "a time from 1970 to now (plus 5 minutes of clock skew)"
TOO_EARLY = "before 1970"
TOO_LATE = "in the future (more than 5 minutes ahead of this server's clock)"


class Rules(Protocol):
    """What the rules read from a data contract (`features.contract.ContractConfig` has both)."""

    reasons: list[str]
    require_reasons: bool


def context(contract: Rules | None) -> dict[str, Any]:
    """The validation context `Decision` reads its contract's reason codes from."""
    if contract is None:
        return {"reasons": list(REASONS), "require_reasons": True}
    return {"reasons": list(contract.reasons), "require_reasons": bool(contract.require_reasons)}


# --- the rules, per value and per column ---------------------------------------------------------


def _utc(value: datetime) -> datetime:
    """Naive = UTC; an aware time is compared as it is (converting 9999-12-31 at -05:00 to UTC would
    overflow, and it is simply in the future)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def time_problem(value: datetime | None, now: datetime | None = None) -> str | None:
    """Why `value` is no usable decision time (naive = UTC), or None (also for a missing value)."""
    if value is None or value is pd.NaT:
        return None
    try:
        value = _utc(value)
        if value < EPOCH:
            return TOO_EARLY
        if value > (now or datetime.now(UTC)) + SKEW:
            return TOO_LATE
    except (OverflowError, ValueError, TypeError):
        return "not a usable time"
    return None


def instants(values) -> pd.Series:
    """A column of times as UTC instants (naive = UTC; what does not parse is NaT)."""
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert(UTC)
    if pd.api.types.is_datetime64_dtype(series.dtype):
        return series.dt.tz_localize(UTC)
    return pd.to_datetime(series, utc=True, errors="coerce", format="ISO8601")


def _outside(parsed: pd.Series, now: datetime) -> tuple[pd.Series, pd.Series]:
    """Masks of UTC instants before 1970 and after now + SKEW (NaT in neither)."""
    return (parsed < pd.Timestamp(EPOCH)).fillna(False), (parsed > pd.Timestamp(now + SKEW)).fillna(False)


def bad_time(times, now: datetime | None = None):
    """A bool mask of times before 1970 or after now + SKEW (missing ones are fine); a Series gives
    a Series on its index, another array-like a numpy array, one value a bool."""
    if np.ndim(times) == 0:
        return time_problem(times, now) is not None
    early, late = _outside(instants(times), now or datetime.now(UTC))
    mask = early | late
    return mask.astype(bool) if isinstance(times, pd.Series) else mask.to_numpy(dtype=bool)


def _missing(values) -> pd.Series:
    return values.isna() | (values.astype(object) == "")


def missing_reason(decision, reason, required: bool = True):
    """A bool mask of rejected or recycled decisions without a reason (none when not `required`)."""
    if np.ndim(decision) == 0:
        return bool(required) and decision in NEEDS_REASON and not (isinstance(reason, str) and reason)
    decision, reason = pd.Series(decision), pd.Series(reason, index=getattr(decision, "index", None))
    return (decision.isin(NEEDS_REASON) & _missing(reason)) & bool(required)


def unknown_reason(reason, reasons):
    """A bool mask of reasons given but not one of `reasons`."""
    if np.ndim(reason) == 0:
        return reason is not None and reason is not pd.NA and reason not in reasons
    reason = pd.Series(reason)
    return reason.notna() & ~reason.isin(list(reasons))


def before_handover(mql_at, decided_at):
    """A bool mask of decisions taken before their hand-over (decided_at < mql_at; missing: fine)."""
    if np.ndim(decided_at) == 0:
        if mql_at is None or decided_at is None or pd.isna(mql_at) or pd.isna(decided_at):
            return False
        return _utc(decided_at) < _utc(mql_at)
    return (instants(decided_at) < instants(mql_at)).fillna(False).astype(bool)


def reason_problem(decision: str, reason: str | None, reasons, required: bool) -> str | None:
    """The message for a decision's reason (never repeating it), or None when it is fine. At the
    door, a reason is only for the decisions that need one (`NEEDS_REASON`)."""
    if missing_reason(decision, reason, required):
        return f"reason: required for a {decision} decision"
    if reason is not None and decision not in NEEDS_REASON:
        return f"reason: only for a {' or '.join(NEEDS_REASON)} decision (leave it out for {decision})"
    if unknown_reason(reason, reasons):
        return f"reason: not one of {', '.join(reasons)}"
    return None


BEFORE_HANDOVER = "decided_at: before mql_at (a decision comes after the hand-over it is about)"


# --- one decision: the service's door ------------------------------------------------------------


def _refuse(problem: str) -> PydanticCustomError:
    return PydanticCustomError("sales_decision", "{problem}", {"problem": problem})


def _instant(value: object) -> datetime:
    """A time a client sent (`core.wire.time_of`), as a UTC instant, not in the future."""
    try:
        moment = time_of(value)
    except PydanticCustomError:
        loose = loose_time(value)  # a time, but outside the years a client may write: say why
        if loose is not None and time_problem(loose) in (TOO_EARLY, TOO_LATE):
            raise _refuse(time_problem(loose)) from None
        raise
    problem = time_problem(moment)
    if problem is not None:
        raise _refuse(problem)
    return utc(moment)


# a time in a request: an ISO 8601 string (`core.wire.TIME_PATTERN`), from 1970 to now (+ SKEW)
Instant = Annotated[datetime, BeforeValidator(_instant), WithJsonSchema({"type": "string", "pattern": TIME_PATTERN})]


class Decision(BaseModel):
    """A sales decision about a lead sent to sales, as the CRM posts it to /feedback."""

    model_config = ConfigDict(extra="forbid")

    feedback_id: Id(TEXT_FIELDS["feedback_id"]) = Field(
        description="Client id: posting it again is a no-op; the same id with another body is refused (409). "
        "A correction is a new id for the same hand-over: it supersedes the earlier decision.",
    )
    lead_id: Id(TEXT_FIELDS["lead_id"])
    decision: Literal[SALES_DECISIONS] = Field(description="What sales did with the lead.")  # type: ignore[valid-type]
    reason: str | None = Field(
        default=None,
        max_length=TEXT_FIELDS["reason"],
        description=f"Required for {' and '.join(NEEDS_REASON)}, left out for the others. One of: "
        f"{', '.join(REASONS)} (or the served model's configured codes).",
    )
    decided_at: Instant = Field(
        description="When sales decided (ISO 8601; no offset means UTC), not in the future; at or after mql_at."
    )
    mql_at: Instant | None = Field(
        default=None,
        description="The hand-over this decision is about. Without it: the lead's latest hand-over at or "
        "before decided_at.",
    )
    rep_id: Id(TEXT_FIELDS["rep_id"]) | None = None
    note: str | None = Field(default=None, max_length=TEXT_FIELDS["note"], json_schema_extra={"pattern": TEXT_PATTERN})

    @field_validator("feedback_id", "lead_id", "reason", "rep_id", "note")
    @classmethod
    def _storable(cls, value: str | None) -> str | None:
        problem = text_problem(value)
        if problem is not None:
            raise _refuse(problem)
        return value

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> Decision:
        rules = info.context or context(None)
        problem = reason_problem(self.decision, self.reason, rules["reasons"], rules["require_reasons"])
        if problem is None and before_handover(self.mql_at, self.decided_at):
            problem = BEFORE_HANDOVER
        if problem is not None:
            raise _refuse(problem)
        return self


def one_line(exc: ValidationError, root: str = "feedback", most: int = 5) -> str:
    """A validation error as one line, each problem as `field: what` (never the value sent)."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False)[:most]:
        where = ".".join(str(part) for part in error["loc"])
        message = " ".join(str(error["msg"]).split())
        parts.append(message if error["type"] == "sales_decision" and not where else f"{where or root}: {message}")
    more = exc.error_count() - most
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


# --- a table of decisions ------------------------------------------------------------------------


def _first(problems: pd.Series, mask, message) -> None:
    """Record `message` (one text, or one per row) where `mask` holds and no problem is known yet."""
    fill = problems.isna() & pd.Series(mask, index=problems.index).fillna(False).astype(bool)
    if fill.any():
        problems[fill] = message[fill] if isinstance(message, pd.Series) else message


def decision_problems(frame: pd.DataFrame, contract: Rules | None = None) -> pd.Series:
    """Per row of a table of decisions, the first problem (`field: what`) or None: the rules of
    `Decision`, with the contract's reason codes (defaults: REASONS, reasons required)."""
    required = [c for c in ("lead_id", "decision", "decided_at") if c not in frame.columns]
    if required:
        raise LeadscoreError(f"decisions: missing column(s) {', '.join(required)}")
    rules = context(contract)
    problems = pd.Series(None, index=frame.index, dtype=object)
    for name, limit in TEXT_FIELDS.items():
        if name not in frame.columns:
            continue
        values = frame[name].astype(object)
        flagged = values.map(text_problem)
        _first(problems, flagged.notna(), f"{name}: " + flagged.fillna(""))
        too_long = values.map(lambda v, n=limit: isinstance(v, str) and len(v) > n)
        _first(problems, too_long, f"{name}: longer than {limit} characters")
    for name in ("feedback_id", "lead_id"):
        if name in frame.columns:
            _first(problems, _missing(frame[name]), f"{name}: missing")
    _first(problems, ~frame["decision"].isin(SALES_DECISIONS), f"decision: not one of {', '.join(SALES_DECISIONS)}")
    decided = instants(frame["decided_at"])
    _first(problems, decided.isna(), "decided_at: missing or not a time")
    mql = instants(frame["mql_at"]) if "mql_at" in frame.columns else pd.Series(pd.NaT, index=frame.index)
    if "mql_at" in frame.columns:
        _first(problems, frame["mql_at"].notna() & mql.isna(), "mql_at: not a time")
    now = datetime.now(UTC)
    for name, times in (("decided_at", decided), ("mql_at", mql)):
        early, late = _outside(times, now)
        _first(problems, early, f"{name}: {TOO_EARLY}")
        _first(problems, late, f"{name}: {TOO_LATE}")
    reason = frame["reason"] if "reason" in frame.columns else pd.Series(None, index=frame.index, dtype=object)
    _first(
        problems,
        missing_reason(frame["decision"], reason, rules["require_reasons"]),
        "reason: required for a " + frame["decision"].astype(object).fillna("") + " decision",
    )
    listed = ", ".join(rules["reasons"])
    _first(
        problems,
        unknown_reason(reason, rules["reasons"]),
        f"reason: not one of {listed}",
    )
    _first(problems, before_handover(mql, decided), BEFORE_HANDOVER)
    return problems.astype(object).where(problems.notna(), None)


def placed(lead_id: pd.Series, at: pd.Series, times: pd.DataFrame, time: str) -> pd.DataFrame:
    """Where a decision belongs: for each (lead, time `at`), the lead's latest row of `times`
    (with `lead_id` and the time column `time`) at or before `at`, all missing when there is none;
    indexed as `at`, the columns of `times` but `lead_id`. The one rule for a decision's hand-over:
    its lead's latest hand-over, or score in the score log, at or before its `mql_at`, or at or
    before `decided_at` when the CRM sent no `mql_at` (retraining from the store, `leadscore
    feedback export`, the live report and recalibration all place decisions with it)."""
    ns = pd.DatetimeTZDtype("ns", "UTC")
    left = pd.DataFrame(
        {"lead_id": lead_id.astype(str).to_numpy(), "_at": pd.to_datetime(at, utc=True).astype(ns).to_numpy()}
    )
    left = left.reset_index(names="_row").dropna(subset=["_at"]).sort_values("_at")
    right = times.assign(lead_id=times["lead_id"].astype(str), _time=pd.to_datetime(times[time], utc=True).astype(ns))
    right = right.dropna(subset=["_time"]).sort_values("_time", kind="stable")  # of equal times, the last row
    matched = pd.merge_asof(left, right, left_on="_at", right_on="_time", by="lead_id", direction="backward").set_index(
        "_row"
    )
    out = matched.reindex(range(len(at)))[[c for c in times.columns if c != "lead_id"]]
    out.index = at.index
    return out


LATEST_FIRST = ["decided_at", "received_at", "feedback_id"]  # of one hand-over's decisions, the last is in force


def handovers_of(frame: pd.DataFrame, known: pd.DataFrame | None = None) -> pd.Series:
    """Each stored decision's hand-over (`placed`): its `mql_at`, else its lead's latest hand-over at
    or before `decided_at` among the `mql_at` that the lead's decisions not voided name and `known`
    (lead_id, mql_at: the history's hand-overs, or the score log's times); NaT when there is none."""
    at = instants(frame["mql_at"]).astype(pd.DatetimeTZDtype("ns", "UTC"))  # one unit: any store's times fit
    undated = at.isna()
    named = frame.loc[~undated & frame["voided_at"].isna(), ["lead_id"]].assign(mql_at=at[~undated])
    if known is not None and len(known):
        named = pd.concat([named, known[["lead_id", "mql_at"]].assign(mql_at=instants(known["mql_at"]))])
    if undated.any() and len(named):
        on = placed(frame.loc[undated, "lead_id"], instants(frame.loc[undated, "decided_at"]), named, "mql_at")
        at[undated] = instants(on["mql_at"]).astype(at.dtype)
    return at


def with_status(frame: pd.DataFrame, known: pd.DataFrame | None = None) -> pd.DataFrame:
    """Stored decision rows with `handover` (`handovers_of`), `status` and `superseded_by`: each
    decision placed on its hand-over first, then per placed hand-over (lead_id, handover; the
    decisions of a lead that could not be placed are one of their own) the voided ones left out
    and the latest (greatest decided_at, received_at, feedback_id) "latest", in force; the others
    "superseded" by it. Sorted by received_at."""
    frame = frame.copy()
    for column in ("mql_at", "decided_at", "received_at", "voided_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["handover"] = handovers_of(frame, known)
    frame = frame.sort_values(LATEST_FIRST, kind="stable")
    voided = frame["voided_at"].notna()
    live = frame[~voided]
    latest = live.groupby(["lead_id", "handover"], dropna=False, sort=False)["feedback_id"].transform("last")
    superseded_by = latest.where(latest != live["feedback_id"]).reindex(frame.index)
    frame["status"] = np.where(voided, "voided", np.where(superseded_by.notna(), "superseded", "latest"))
    frame["superseded_by"] = superseded_by.astype(object).where(superseded_by.notna(), None)
    return frame.sort_values(["received_at", "feedback_id"], kind="stable").reset_index(drop=True)
