"""`leadscore` subcommands owned by features/: demo data and the data contract."""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console(stderr=True)


class Format(StrEnum):
    parquet = "parquet"
    csv = "csv"


def generate(
    out: Annotated[Path, typer.Option(help="Folder to write leads, events and outcomes into.")],
    leads: Annotated[int, typer.Option(min=1, max=20_000_000, help="Number of leads.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same bytes.")] = 7,
    start: Annotated[str, typer.Option(help="First day of the period (YYYY-MM-DD).")] = "2024-01-01",
    days: Annotated[int, typer.Option(min=30, max=3650, help="Length of the period in days.")] = 730,
    fmt: Annotated[Format, typer.Option("--format", help="File format of the tables.")] = Format.parquet,
) -> None:
    """Generate a synthetic CRM (leads, events, sales outcomes) for demos and tests."""
    from features.errors import LeadscoreError
    from features.generate import STAGES, write_dataset
    from features.generate import generate as make

    try:
        import pandas as pd

        pd.Timestamp(start)
    except ValueError:
        raise LeadscoreError(f"--start: '{start}' is not a date (expected YYYY-MM-DD)") from None
    began = time.perf_counter()
    with _progress() as bar:
        task = bar.add_task("generating", total=len(STAGES) + 1)
        tables = make(
            leads, seed, start=start, days=days, progress=lambda s: bar.update(task, advance=1, description=s)
        )
        bar.update(task, description="writing")
        paths = write_dataset(tables, out, fmt.value)
        bar.update(task, advance=1, description="done")
    took = time.perf_counter() - began
    table = Table(title=f"{out} ({took:.1f} s)")
    for column in ("table", "rows", "file", "MB"):
        table.add_column(column, justify="right" if column in ("rows", "MB") else "left")
    for name, path in paths.items():
        table.add_row(name, f"{tables[name].num_rows:,}", path.name, f"{path.stat().st_size / 1e6:.1f}")
    Console().print(table)


def validate(
    data: Annotated[Path, typer.Argument(help="Data folder with leads, events and outcomes files.")],
    config: Annotated[
        Path | None, typer.Option(help="Contract config YAML (extra event types, reasons, fit columns).")
    ] = None,
) -> None:
    """Check a data folder against the lead data contract; print what it holds."""
    from features.config import load_config
    from features.contract import ContractConfig, load_dataset

    with console.status("validating"):
        dataset = load_dataset(data, load_config(config, ContractConfig))
    table = Table(title=f"{data}: valid")
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("from")
    table.add_column("to")
    for name, column in (("leads", "created_at"), ("events", "ts"), ("outcomes", "mql_at")):
        frame = getattr(dataset, name)
        span = (str(frame[column].min()), str(frame[column].max())) if len(frame) else ("-", "-")
        table.add_row(name, f"{len(frame):,}", *span)
    Console().print(table)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description:<16}"), BarColumn(), TimeElapsedColumn(), console=console)


def register(app: typer.Typer) -> None:
    """Add this package's subcommands to the `leadscore` app."""
    app.command()(generate)
    app.command()(validate)
