"""`leadscore monitor`: drift, calibration, estimated and realised accuracy, fallbacks and MQL
volume from what the service logged (or a data folder's hand-overs), the verdict with the command
that acts on it, alerts (exit 1 naming each, 0 when none), the page, the JSON and MLflow metrics."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from core.errors import LeadscoreError


class By(StrEnum):
    week = "week"
    month = "month"


def _instant(value: str | None, option: str, end: bool = False):
    """A --since/--until date or time as a UTC instant; a bare --until date means its whole day."""
    import pandas as pd

    from core.tables import utc

    if value is None:
        return None
    try:
        stamp = pd.Timestamp(utc(value))
    except (ValueError, TypeError, OverflowError):
        raise LeadscoreError(f"{option}: {value!r} is not an ISO 8601 date or time") from None
    whole_day = end and len(value.strip()) == 10
    return stamp + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1) if whole_day else stamp


def monitor(
    out: Annotated[Path, typer.Option(help="The HTML page to write.")],
    db: Annotated[
        str | None, typer.Option(help="The service's store ('default': $LEADSCORE_DB_URL or ./leadscore.db).")
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="A data folder: its hand-overs scored by the model (no service).")
    ] = None,
    model_uri: Annotated[
        str | None,
        typer.Option(help="The version to monitor (default: the one that answered last; with --data: @champion)."),
    ] = None,
    since: Annotated[str | None, typer.Option(help="First day (ISO 8601, UTC) of the window.")] = None,
    until: Annotated[str | None, typer.Option(help="Last day (inclusive) of the window.")] = None,
    by: Annotated[By, typer.Option(help="Period of the figures.")] = By.week,
    alerts: Annotated[
        Path | None, typer.Option(help="Alert thresholds YAML (any keys of the shipped defaults).")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write every figure as JSON.")] = None,
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow tracking store.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress and no table (alerts still print).")] = False,
) -> None:
    """Is the model still right? Drift, calibration, accuracy and fallbacks; exit 1 when an alert fires."""
    from rich.console import Console

    from monitoring.alerts import evaluate, load_thresholds
    from monitoring.monitor import compute
    from monitoring.verdict import findings

    if (data is None) == (db is None):
        raise LeadscoreError("monitor: give either --db (the service's store) or --data (a data folder)")
    if out.suffix.lower() not in (".html", ".htm"):
        raise LeadscoreError(f"--out {out}: use an .html file name")
    if data is not None and not data.is_dir():
        raise LeadscoreError(f"--data {data}: not a folder")
    limits = load_thresholds(alerts)
    start, end = _instant(since, "--since"), _instant(until, "--until", end=True)
    errors = Console(stderr=True, quiet=quiet)
    with errors.status("reading") as status:
        inputs, where = _read(db, data, model_uri, start, end, tracking_uri)
        figures = compute(inputs, by.value, limits, lambda step: status.update(f"computing: {step}"))
    fired = evaluate(figures, limits)
    verdict = findings(fired, where)
    summary = _publish(figures, fired, verdict, inputs.model_version, out, json_out, tracking_uri, by.value,
                       {"since": start, "until": end, "by": by.value})  # fmt: skip
    console = Console(soft_wrap=True, highlight=False)
    if not quiet:
        _table(console, figures)
        for line in verdict:
            console.print(f"verdict: {line}", markup=False)
        for note in figures.notes:
            console.print(f"note: {note}", markup=False)
        console.print(f"{out}: monitoring page written; {summary}", markup=False)
    for alert in fired:
        console.print(alert.line, markup=False)
    if fired:
        raise typer.Exit(1)


def _read(db, data, model_uri, start, end, tracking_uri):
    """The inputs and what the verdict's commands name."""
    from dataclasses import replace

    from core.store import open_store, redacted
    from monitoring.monitor import load_profile, read_folder, read_store
    from monitoring.verdict import Where
    from training import registry

    if db is not None:
        store = open_store(db)
        try:
            version = _version(model_uri, tracking_uri) if model_uri else None
            inputs = read_store(store, start, end, version)
        finally:
            store.engine.dispose()
        where = Where(data=None, feedback_db="default" if db == "default" else redacted(store.url))
    else:
        model = registry.load_model(model_uri or "models:/leadscore@champion", registry.existing(tracking_uri))
        inputs = read_folder(data, model, start, end)
        where = Where(data=str(data), feedback_db=None)
    try:
        client = registry.existing(tracking_uri)  # never creates an empty tracking store
    except LeadscoreError as exc:
        client, problem = None, f"{exc}: the reference profile cannot be read, so drift cannot be measured"
    if client is not None:
        inputs.profile, problem = load_profile(inputs.model_version, client)
        where = replace(where, model_uri=_unless_champion(inputs.model_version, client))
    if problem:
        inputs.notes.insert(0, problem[:1].upper() + problem[1:] + ".")
    return inputs, where


def _unless_champion(version: str | None, client) -> str | None:
    """models:/NAME/N of the monitored version when @champion is another (or none): `recalibrate`
    acts on @champion unless told, and the verdict's command must act on what was monitored."""
    from training import registry

    if version is None or "/" not in version:
        return None
    name, number = version.rsplit("/", 1)
    champion = registry.version_of(client, name, "champion")
    return None if champion is not None and str(champion.version) == number else f"models:/{name}/{number}"


def _version(uri: str, tracking_uri: str | None) -> str:
    """NAME/VERSION of a models:/NAME@ALIAS or models:/NAME/VERSION URI."""
    from training import registry

    ref = uri.removeprefix("models:/")
    if ref == uri or ("/" not in ref and "@" not in ref):
        raise LeadscoreError(f"--model-uri {uri}: name a registered version (models:/NAME/N or models:/NAME@ALIAS)")
    if "@" in ref:
        name, alias = ref.split("@", 1)
        found = registry.version_of(registry.existing(tracking_uri), name, alias)
        if found is None:
            raise LeadscoreError(f"--model-uri {uri}: no version holds @{alias}")
        return f"{found.name}/{found.version}"
    return ref


def _publish(figures, fired, verdict, version, out, json_out, tracking_uri, by, window) -> str:
    """The page, the JSON and the MLflow metrics; what MLflow said."""
    from monitoring.page import write_page
    from monitoring.record import as_json, log_to_mlflow, write_json

    summary = as_json(figures, fired, verdict, version, window)
    writes = ((out, lambda: write_page(summary, figures, out, by)), (json_out, lambda: write_json(summary, json_out)))
    for path, write in writes:
        if path is None:
            continue
        try:
            write()
        except OSError as exc:
            raise LeadscoreError(f"{path}: cannot write it ({exc.strerror or type(exc).__name__})") from None
    return log_to_mlflow(summary, version, tracking_uri)


def _table(console, figures) -> None:
    """The newest period at a glance: per segment, answers, MQLs, estimated and realised ECE and AUC."""
    from rich.table import Table

    from monitoring.record import latest

    calibration = latest(figures.calibration)
    volume = latest(figures.volume)
    if volume.empty:
        return
    table = Table(title=f"period from {volume['period'].iloc[0]:%Y-%m-%d}")
    for column in ("segment", "answers", "model MQLs", "ECE est.", "ECE real.", "AUC est.", "AUC real.", "decided"):
        table.add_column(column, justify="left" if column == "segment" else "right")
    for row in volume.itertuples():
        cells = calibration[calibration["segment"] == row.segment].set_index("kind") if len(calibration) else None
        decided = f"{int(cells.loc['realised', 'n']):,}" if cells is not None and "realised" in cells.index else "0"
        figures_ = [_cell(cells, kind, key) for key in ("ece", "roc_auc") for kind in ("estimated", "realised")]
        table.add_row(row.segment, f"{row.leads:,}", f"{row.mql:,}", *figures_[:2], *figures_[2:], decided)
    console.print(table)


def _cell(cells, kind: str, key: str) -> str:
    if cells is None or kind not in cells.index or cells.loc[kind, key] != cells.loc[kind, key]:  # NaN
        return "—"
    return f"{cells.loc[kind, key]:.3f}"


def register(app: typer.Typer) -> None:
    app.command()(monitor)
