"""`leadscore store`: housekeeping of the feedback store and score log.

`prune --older-than DAYS` deletes the score-log rows and the feature rows scored more than DAYS
days before the newest logged answer (or before now, when that is earlier: "as_of throughout"
puts a simulated week's answers at that week's times, `serving.retention`), in chunks, and prints
what it deleted. Decisions are never pruned, nor the score rows that place a decision sent without
its hand-over's mql_at. The service does the same once a day with `LEADSCORE_LOG_RETENTION_DAYS`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from core.errors import LeadscoreError
from serving.feedback_cli import DbOption, stdout

MAX_DAYS = 36_500  # a hundred years: anything longer is a typo


def days_of(value: str) -> int:
    """`--older-than` as a whole number of days, 1 or more; one line naming it otherwise."""
    try:
        days = int(value.strip())
    except ValueError:
        days = None
    if days is None or not 1 <= days <= MAX_DAYS:
        raise LeadscoreError(f"--older-than {value!r}: expected a whole number of days from 1 to {MAX_DAYS}")
    return days


def prune(
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            metavar="DAYS",
            help="Delete score-log and feature rows scored more than DAYS days before the newest logged answer "
            "(or now, if earlier).",
        ),
    ],
    db: DbOption = "default",
) -> None:
    """Delete old score-log and feature rows (never decisions) and print how many."""
    from rich.table import Table

    from core.store import StoreUnavailable, open_store, redacted, scrubbed
    from serving.retention import retention_cut

    days = days_of(older_than)
    store = open_store(db)
    try:
        cut = retention_cut(store, days)
        deleted = store.prune(cut) if cut is not None else {"scores": 0, "score_features": 0}
    except StoreUnavailable as exc:
        raise LeadscoreError(scrubbed(f"{redacted(store.url)}: {exc}", store.url)) from None
    console = stdout()
    if cut is None:
        console.print("The score log is empty: nothing to prune.")
    else:
        when = f"{days} days before the newest answer or now"
        console.print(f"Deleted the rows scored before {cut.isoformat()} ({when}).")
    table = Table("table", "rows deleted", title="leadscore store prune")
    table.add_row("scores (the score log)", f"{deleted['scores']:,}")
    table.add_row("score_features (feature rows)", f"{deleted['score_features']:,}")
    table.add_row("decisions", "0 (never pruned)")
    console.print(table)


def register(app: typer.Typer) -> None:
    store = typer.Typer(help="Housekeeping of the feedback store and score log: prune.", no_args_is_help=True)
    store.command()(prune)
    app.add_typer(store, name="store")
