"""`leadscore feedback`: the sales decisions the service stored, seen, exported and voided.

`list` shows every stored decision with its status (latest, superseded, voided), `export` writes
the contract's `outcomes` table (the decision in force per hand-over, times in UTC) for
`validate`, `import` or `retrain --decisions`, `void` leaves a decision out of training while the
history keeps it. Each works on SQLite and PostgreSQL: `--db URL`, or `default`
($LEADSCORE_DB_URL, else ./leadscore.db), as `retrain --feedback-db` takes it.

A decision posted without `mql_at` belongs to its lead's latest hand-over at or before the
decision. `export` finds that hand-over in the score log: the lead's latest score time at or
before `decided_at` (the answer sales acted on). A decision whose lead was never scored by then
is left out and counted; `retrain --feedback-db` resolves the same decisions against the
history's hand-overs instead.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from core.decisions import SALES_DECISIONS, placed
from core.errors import LeadscoreError
from core.store import FeedbackStore, StoreUnavailable, database_url, redacted, scores, utc

stdout = Console(soft_wrap=True)
OUTCOMES = ["lead_id", "mql_at", "decision", "reason", "decided_at"]
TIMES = ("mql_at", "decided_at", "received_at", "voided_at")
SHOWN = 200  # rows of `list` printed as a table; --out writes them all

DbOption = Annotated[
    str,
    typer.Option(
        "--db", help="The feedback store: a database URL, or 'default' ($LEADSCORE_DB_URL or ./leadscore.db)."
    ),
]


def _scrubbed(message: str, url: str) -> str:
    """`message` without the database password, whatever quoted it."""
    from sqlalchemy.engine import make_url

    try:
        password = make_url(url).password
    except Exception:
        return message
    return message.replace(str(password), "***") if password else message


def open_store(db: str) -> FeedbackStore:
    """The feedback store `db` names, open; one clear line (password hidden) when it cannot be."""
    from sqlalchemy.engine import make_url

    url = database_url(None if db == "default" else db)
    try:
        parsed = make_url(url)
    except Exception:
        raise LeadscoreError(f"--db: not a database URL ({redacted(url)})") from None
    path = parsed.database or ""
    local = parsed.get_backend_name() == "sqlite" and path and path != ":memory:" and not path.startswith("file:")
    if local and not Path(path).is_file():
        raise LeadscoreError(f"{path}: no feedback store there (the service creates it when it first starts)")
    store = FeedbackStore(url)
    if not store.open():
        raise LeadscoreError(_scrubbed(f"feedback store unavailable: {store.problem or redacted(url)}", url))
    return store


def _run(store: FeedbackStore, operation):
    try:
        return operation()
    except StoreUnavailable as exc:
        raise LeadscoreError(_scrubbed(f"{redacted(store.url)}: {exc}", store.url)) from None


def parse_since(value: str | None) -> datetime | None:
    """`--since` as a UTC instant: an ISO 8601 date or time, no offset meaning UTC."""
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise LeadscoreError(
            f"--since {value!r}: not a date or time (ISO 8601, e.g. 2026-01-02 or 2026-01-02T10:30:00Z)"
        ) from None
    return utc(when)


def _iso(times: pd.Series) -> pd.Series:
    """UTC instants as ISO 8601 text ending in Z (fractions of a second only when there are some)."""
    times = pd.to_datetime(times, utc=True)
    whole = times.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    fraction = times.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return whole.where(times.dt.microsecond == 0, fraction).astype(object).where(times.notna(), None)


def _short(times: pd.Series) -> pd.Series:
    """UTC instants to the minute, for a table people read in a terminal (files keep every digit)."""
    times = pd.to_datetime(times, utc=True)
    return times.dt.strftime("%Y-%m-%d %H:%MZ").astype(object).where(times.notna(), None)


def write(frame: pd.DataFrame, out: Path) -> None:
    """A table as Parquet (times as UTC timestamps) or CSV (times as ISO 8601 with Z)."""
    from features.tables import write_table

    if out.suffix not in (".csv", ".parquet"):
        raise LeadscoreError(f"--out {out}: use a .csv or .parquet file name")
    frame = frame.copy()
    for column in (c for c in TIMES if c in frame.columns):
        frame[column] = _iso(frame[column]) if out.suffix == ".csv" else pd.to_datetime(frame[column], utc=True)
    write_table(frame, out)


def list_decisions(
    since: Annotated[
        str | None, typer.Option(help="Only decisions received since (ISO 8601; no offset = UTC).")
    ] = None,
    lead: Annotated[str | None, typer.Option(help="Only this lead's decisions.")] = None,
    decision: Annotated[str | None, typer.Option(help="Only accepted, rejected or recycled.")] = None,
    reason: Annotated[str | None, typer.Option(help="Only this reason code.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write them all to a .csv or .parquet file.")] = None,
    db: DbOption = "default",
) -> None:
    """Every stored decision, with its status: latest, superseded (by which) or voided (why)."""
    if decision is not None and decision not in SALES_DECISIONS:
        raise LeadscoreError(f"--decision {decision!r}: one of {', '.join(SALES_DECISIONS)}")
    when = parse_since(since)
    store = open_store(db)
    frame = _run(store, lambda: store.decisions(since=when, lead_id=lead, decision=decision, reason=reason))
    if out is not None:
        write(frame, out)
        stdout.print(f"{len(frame):,} decision(s) written to {out}")
        return
    table = Table()
    for name in ("feedback_id", "lead_id", "mql_at", "decision", "reason", "decided_at", "received_at", "status"):
        table.add_column(name, overflow="fold")  # a narrow terminal wraps values, never cuts them
    shown = frame.head(SHOWN)
    texts = {c: _short(shown[c]) for c in ("mql_at", "decided_at", "received_at")}
    for i, row in shown.iterrows():
        status = row["status"]
        if status == "superseded":
            status = f"superseded by {row['superseded_by']}"
        elif status == "voided":
            status = f"voided: {row['void_reason']}"
        cells = [row["feedback_id"], row["lead_id"], texts["mql_at"][i], row["decision"], row["reason"]]
        cells += [texts["decided_at"][i], texts["received_at"][i], status]
        table.add_row(*("" if pd.isna(c) else str(c) for c in cells))
    stdout.print(table)
    more = f"; the first {SHOWN} shown (--out FILE writes them all)" if len(frame) > SHOWN else ""
    stdout.print(f"{len(frame):,} decision(s) in {redacted(store.url)}{more}")


def score_times(store: FeedbackStore, lead_ids: list[str], chunk: int = 500) -> pd.DataFrame:
    """When the score log scored each of `lead_ids` (lead_id, scored_at as UTC instants)."""
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    parts = []
    try:
        for start in range(0, len(lead_ids), chunk):
            part = lead_ids[start : start + chunk]
            parts.append(store.read(select(scores.c.lead_id, scores.c.scored_at).where(scores.c.lead_id.in_(part))))
    except SQLAlchemyError as exc:
        raise LeadscoreError(f"{redacted(store.url)}: cannot read the score log ({type(exc).__name__})") from None
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["lead_id", "scored_at"])
    frame["scored_at"] = pd.to_datetime(frame["scored_at"], utc=True).astype(pd.DatetimeTZDtype("us", "UTC"))
    return frame


def resolve_handovers(latest: pd.DataFrame, times: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Decisions without mql_at get their lead's latest score time at or before decided_at; those
    with none are left out (returned: the rest, and how many were left out)."""
    latest = latest.copy()
    for column in ("mql_at", "decided_at"):
        latest[column] = pd.to_datetime(latest[column], utc=True).astype(pd.DatetimeTZDtype("us", "UTC"))
    missing = latest["mql_at"].isna()
    if missing.any():
        on = placed(latest.loc[missing, "lead_id"], latest.loc[missing, "decided_at"], times, "scored_at")
        latest.loc[missing, "mql_at"] = pd.to_datetime(on["scored_at"], utc=True).astype(latest["mql_at"].dtype)
    unresolved = int(latest["mql_at"].isna().sum())
    return latest[latest["mql_at"].notna()], unresolved


def export(
    out: Annotated[Path, typer.Option(help="The outcomes table to write (.csv or .parquet).")],
    db: DbOption = "default",
) -> None:
    """The contract's outcomes table: the decision in force per hand-over, times in UTC.

    Voided and superseded decisions are left out; a decision without mql_at is placed at its
    lead's latest score time at or before the decision (left out and counted when there is none)."""
    if out.suffix not in (".csv", ".parquet"):
        raise LeadscoreError(f"--out {out}: use a .csv or .parquet file name")
    store = open_store(db)
    latest = _run(store, store.latest_decisions)
    undated = latest.loc[latest["mql_at"].isna(), "lead_id"].unique().tolist()
    rows, unresolved = resolve_handovers(latest, score_times(store, undated))
    # a decision placed on a hand-over that another decision names too: the latest one is in force
    rows = rows.sort_values(["decided_at", "received_at", "feedback_id"], kind="stable")
    kept = rows.drop_duplicates(["lead_id", "mql_at"], keep="last")
    table = kept[OUTCOMES].sort_values(["lead_id", "mql_at"]).reset_index(drop=True)
    write(table, out)
    notes = []
    if unresolved:
        notes.append(f"{unresolved:,} without mql_at left out: their lead has no score at or before the decision")
    if len(rows) > len(kept):
        notes.append(f"{len(rows) - len(kept):,} superseded once placed on their hand-over")
    extra = f" ({'; '.join(notes)})" if notes else ""
    stdout.print(f"{len(table):,} outcome(s) from {redacted(store.url)} written to {out}{extra}")


def void(
    feedback_id: Annotated[str, typer.Argument(help="The decision's feedback_id.")],
    why: Annotated[str, typer.Option("--why", help="Why it is left out of training (kept in the history).")],
    db: DbOption = "default",
) -> None:
    """Leave a decision out of training; the history keeps it, with when and why.

    The hand-over's previous decision, if any, is in force again."""
    store = open_store(db)
    _run(store, lambda: store.void(feedback_id, why))
    history = _run(store, store.decisions)
    [lead_id] = history.loc[history["feedback_id"] == feedback_id, "lead_id"].tolist()
    mql_at = history.loc[history["feedback_id"] == feedback_id, "mql_at"].iloc[0]
    same = history[(history["lead_id"] == lead_id) & (history["status"] == "latest")]
    same = same[same["mql_at"].isna()] if pd.isna(mql_at) else same[same["mql_at"] == mql_at]
    now = (
        f"{same['feedback_id'].iloc[0]} ({same['decision'].iloc[0]}) is in force for this hand-over again"
        if len(same)
        else "no decision is left for this hand-over"
    )
    stdout.print(f"{feedback_id} voided: left out of training, kept in the history; {now}")


def register(app: typer.Typer) -> None:
    feedback = typer.Typer(help="The sales decisions the service stored: list, export, void.", no_args_is_help=True)
    feedback.command(name="list")(list_decisions)
    feedback.command()(export)
    feedback.command()(void)
    app.add_typer(feedback, name="feedback")
