"""`leadscore recalibrate`: refit only the calibration on recent decisions (training/recalibrate.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from core.errors import LeadscoreError

TrackingOption = Annotated[
    str | None, typer.Option(help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else ./mlflow.db).")
]


def recalibrate(
    since: Annotated[str | None, typer.Option(help="Use decisions on hand-overs from this date (ISO 8601).")] = None,
    data: Annotated[Path | None, typer.Option(help="A data folder whose outcomes hold the recent decisions.")] = None,
    feedback_db: Annotated[
        str | None,
        typer.Option(
            help="The service's store: its decisions and score log ('default': $LEADSCORE_DB_URL or ./leadscore.db)."
        ),
    ] = None,
    model_uri: Annotated[str, typer.Option(help="The model to recalibrate.")] = "models:/leadscore@champion",
    training_config: Annotated[Path | None, typer.Option(help="Training config YAML (label policy, names).")] = None,
    tracking_uri: TrackingOption = None,
) -> None:
    """Refit only the calibration on recent decisions; a new version, @champion if the log-loss falls."""
    import pandas as pd

    from core.config import load_config
    from core.store import open_store
    from core.tables import utc
    from training import recalibrate as rc
    from training import registry
    from training.settings import TrainingConfig

    if (data is None) == (feedback_db is None):
        raise LeadscoreError("give the recent decisions: --data DIR or --feedback-db URL (one of them)")
    config = load_config(training_config, TrainingConfig)
    try:
        when = pd.Timestamp(utc(since)) if since is not None else None
    except (ValueError, OverflowError):  # OverflowError: past the year 9999 in UTC
        raise LeadscoreError(f"--since: {since!r} is not an ISO 8601 date or time within years 1 to 9999") from None
    store = open_store(feedback_db, "--feedback-db") if feedback_db is not None else None  # never a new empty one
    client = registry.existing(tracking_uri)
    model = registry.load_model(model_uri, client)
    if store is None:
        decided = rc.decisions_from_folder(model, data, config.labels, when)
    else:
        decided = rc.decisions_from_store(model, store, config.labels, when)
    if decided.counts is not None:
        print_counts(decided.counts, f"decisions from {decided.source}")
    result = rc.recalibrate(decided, config=config.recalibration)
    keep_volume = config.thresholds.mode == "capacity"  # sales take as many leads a week as before
    new = rc.recalibrated_model(model, result, decided.mql_at.max(), keep_volume)
    version, state = rc.register(
        client, config.model_name, config.experiment, new, result, decided.source, when, decided.counts
    )
    table = Table(
        title=f"the {result.later_rows:,} newest of {result.rows:,} decisions (from {result.later_from:%Y-%m-%d})"
    )
    for column in ("", "as is", "recalibrated"):
        table.add_column(column, justify="right" if column else "left")
    for label, key in (
        ("log-loss", "log_loss"),
        ("ECE (10 bins)", "ece"),
        ("mean probability", "mean_probability"),
        ("acceptance", "acceptance"),
    ):
        table.add_row(label, f"{result.before[key]:.4f}", f"{result.after[key]:.4f}")
    Console(width=120).print(table)
    _by_segment(result)
    Console(soft_wrap=True).print(
        f"version {version} ({model.version} recalibrated on {decided.source}) {state}",
        markup=False,
        highlight=False,
    )


def _by_segment(result) -> None:
    """ECE per segment on the later slice, as is and recalibrated, and which map each segment has."""
    table = Table(title="by segment, on the newest decisions")
    for column in ("segment", "decisions", "newest", "map", "ECE as is", "ECE recalibrated"):
        table.add_column(column, justify="left" if column in ("segment", "map") else "right")
    said = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
    for fit in result.segments:
        where = "its own" if fit.own else "shared"
        table.add_row(
            fit.segment, f"{fit.rows:,}", f"{fit.later_rows:,}", where, said(fit.ece_before), said(fit.ece_after)
        )
    Console(width=120).print(table)


def print_counts(counts, title: str) -> None:
    """What became of the decisions (`training.feedback.Counts`): a table, then one line."""
    table = Table(title=title)
    table.add_column("decisions")
    table.add_column("count", justify="right")
    for name, value in counts.rows():
        table.add_row(name, value)
    Console(width=120).print(table)
    Console(soft_wrap=True).print(f"feedback: {counts.sentence()}", markup=False, highlight=False)
