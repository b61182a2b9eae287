"""`leadscore feedback`: the sales decisions the service stored, seen, exported and voided.

`list` shows every stored decision with its status (latest, superseded, voided) and how many
have each, `export` writes the contract's `outcomes` table (the decision in force per hand-over,
times in UTC) for
`validate`, `import` or `retrain --decisions`, `void` leaves a decision out of training while the
history keeps it. Each works on SQLite and PostgreSQL: `--db URL`, or `default`
($LEADSCORE_DB_URL, else ./leadscore.db), as `retrain --feedback-db` takes it.

A decision posted without `mql_at` belongs to its lead's latest hand-over at or before the
decision: the latest `mql_at` its lead's other decisions name or score time in the score log (the
answer sales acted on), at or before `decided_at`; it is placed there before the latest decision
of each hand-over is chosen (`FeedbackStore.decisions`), so a correction without `mql_at`
supersedes the decision it corrects. `export` leaves out and counts a decision that cannot be
placed; `retrain --feedback-db` places the same decisions on the history's hand-overs instead.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from core.errors import LeadscoreError

if TYPE_CHECKING:  # pandas and the store are imported by the commands that run: `leadscore --help` stays quick
    import pandas as pd

    from core.store import FeedbackStore


def stdout() -> Console:
    """Standard output, as wide as the terminal (or COLUMNS) is when a command prints."""
    return Console(soft_wrap=True)


OUTCOMES = ["lead_id", "mql_at", "decision", "reason", "decided_at"]
TIMES = ("mql_at", "decided_at", "received_at", "voided_at", "handover")
STATUSES = {"latest": "in force", "superseded": "superseded", "voided": "voided"}  # status -> as counted
SHOWN = 200  # rows of `list` printed as a table; --out writes them all

DbOption = Annotated[
    str,
    typer.Option(
        "--db", help="The feedback store: a database URL, or 'default' ($LEADSCORE_DB_URL or ./leadscore.db)."
    ),
]


def _run(store: FeedbackStore, operation):
    from core.store import StoreUnavailable, redacted, scrubbed

    try:
        return operation()
    except StoreUnavailable as exc:
        raise LeadscoreError(scrubbed(f"{redacted(store.url)}: {exc}", store.url)) from None


def parse_since(value: str | None) -> datetime | None:
    """`--since` as a UTC instant: an ISO 8601 date or time, no offset meaning UTC."""
    if value is None:
        return None
    from core.store import utc

    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise LeadscoreError(
            f"--since {value!r}: not a date or time (ISO 8601, e.g. 2026-01-02 or 2026-01-02T10:30:00Z)"
        ) from None
    try:
        return utc(when)
    except OverflowError:  # 9999-12-31T23:59:59-14:00 is past the last instant a datetime holds
        raise LeadscoreError(f"--since {value!r}: beyond the year 9999 in UTC") from None


def _iso(times: pd.Series) -> pd.Series:
    """UTC instants as ISO 8601 text ending in Z (fractions of a second only when there are some)."""
    import pandas as pd

    times = pd.to_datetime(times, utc=True)
    whole = times.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    fraction = times.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return whole.where(times.dt.microsecond == 0, fraction).astype(object).where(times.notna(), None)


def _short(times: pd.Series) -> pd.Series:
    """UTC instants to the minute, for a table people read in a terminal (files keep every digit)."""
    import pandas as pd

    times = pd.to_datetime(times, utc=True)
    return times.dt.strftime("%Y-%m-%d %H:%MZ").astype(object).where(times.notna(), None)


def write(frame: pd.DataFrame, out: Path) -> None:
    """A table as Parquet (times as UTC timestamps) or CSV (times as ISO 8601 with Z)."""
    import pandas as pd

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
    import pandas as pd

    from core.decisions import SALES_DECISIONS
    from core.store import open_store, redacted

    if decision is not None and decision not in SALES_DECISIONS:
        raise LeadscoreError(f"--decision {decision!r}: one of {', '.join(SALES_DECISIONS)}")
    when = parse_since(since)
    store = open_store(db)
    frame = _run(store, lambda: store.decisions(since=when, lead_id=lead, decision=decision, reason=reason))
    if out is not None:
        write(frame, out)
        stdout().print(f"{len(frame):,} decision(s) written to {out}")
        return
    table = Table()
    for name in ("feedback_id", "lead_id", "mql_at", "decision", "reason", "decided_at", "received_at", "status"):
        table.add_column(name, overflow="fold")  # a narrow terminal wraps values, never cuts them
    shown = frame.head(SHOWN)
    texts = {c: _short(shown[c]) for c in ("handover", "decided_at", "received_at")}
    texts["mql_at"] = texts["handover"].where(shown["mql_at"].notna(), texts["handover"] + " (placed)")
    texts["mql_at"] = texts["mql_at"].where(shown["handover"].notna(), None)
    for i, row in shown.iterrows():
        status = row["status"]
        if status == "superseded":
            status = f"superseded by {row['superseded_by']}"
        elif status == "voided":
            status = f"voided: {row['void_reason']}"
        cells = [row["feedback_id"], row["lead_id"], texts["mql_at"][i], row["decision"], row["reason"]]
        cells += [texts["decided_at"][i], texts["received_at"][i], status]
        table.add_row(*("" if pd.isna(c) else str(c) for c in cells))
    stdout().print(table)
    more = f"; the first {SHOWN} shown (--out FILE writes them all)" if len(frame) > SHOWN else ""
    stdout().print(f"{len(frame):,} decision(s) in {redacted(store.url)}: {counts(frame)}{more}")


def counts(frame: pd.DataFrame) -> str:
    """How many decisions have each status, in words ("2 in force, 1 superseded, 0 voided")."""
    found = frame["status"].value_counts()
    return ", ".join(f"{int(found.get(status, 0)):,} {words}" for status, words in STATUSES.items())


def export(
    out: Annotated[Path, typer.Option(help="The outcomes table to write (.csv or .parquet).")],
    db: DbOption = "default",
) -> None:
    """The contract's outcomes table: the decision in force per hand-over, times in UTC.

    Voided and superseded decisions are left out; a decision without mql_at is placed on its
    lead's latest hand-over (a named mql_at or a score time) at or before the decision, and left out
    and counted when there is none."""
    if out.suffix not in (".csv", ".parquet"):
        raise LeadscoreError(f"--out {out}: use a .csv or .parquet file name")
    from core.store import open_store, redacted

    store = open_store(db)
    latest = _run(store, store.latest_decisions)
    unplaced = int(latest["handover"].isna().sum())
    rows = latest[latest["handover"].notna()].assign(mql_at=lambda f: f["handover"])
    table = rows[OUTCOMES].sort_values(["lead_id", "mql_at"]).reset_index(drop=True)
    write(table, out)
    extra = (
        f" ({unplaced:,} without mql_at left out: their lead has no hand-over or score at or before the decision)"
        if unplaced
        else ""
    )
    stdout().print(f"{len(table):,} outcome(s) from {redacted(store.url)} written to {out}{extra}")


def void(
    feedback_id: Annotated[str, typer.Argument(help="The decision's feedback_id.")],
    why: Annotated[str, typer.Option("--why", help="Why it is left out of training (kept in the history).")],
    db: DbOption = "default",
) -> None:
    """Leave a decision out of training; the history keeps it, with when and why.

    The hand-over's previous decision, if any, is in force again."""
    import pandas as pd

    from core.store import open_store

    store = open_store(db)
    _run(store, lambda: store.void(feedback_id, why))
    history = _run(store, store.decisions)
    [voided] = history[history["feedback_id"] == feedback_id].to_dict("records")
    same = history[(history["lead_id"] == voided["lead_id"]) & (history["status"] == "latest")]
    at = voided["handover"]
    same = same[same["handover"].isna()] if pd.isna(at) else same[same["handover"] == at]
    now = (
        f"{same['feedback_id'].iloc[0]} ({same['decision'].iloc[0]}) is in force for this hand-over again"
        if len(same)
        else "no decision is left for this hand-over"
    )
    stdout().print(f"{feedback_id} voided: left out of training, kept in the history; {now}")


def register(app: typer.Typer) -> None:
    feedback = typer.Typer(help="The sales decisions the service stored: list, export, void.", no_args_is_help=True)
    feedback.command(name="list")(list_decisions)
    feedback.command()(export)
    feedback.command()(void)
    app.add_typer(feedback, name="feedback")
