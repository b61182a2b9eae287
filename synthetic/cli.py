"""`leadscore` subcommands owned by synthetic/: a generated CRM world, and the live loop on it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from features.cli import Format, progress


def generate(
    out: Annotated[Path, typer.Option(help="Folder to write leads, events and outcomes into.")],
    leads: Annotated[int, typer.Option(min=1, max=20_000_000, help="Number of leads.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same bytes.")] = 7,
    start: Annotated[str, typer.Option(help="First day of the period (YYYY-MM-DD).")] = "2024-01-01",
    days: Annotated[int, typer.Option(min=30, max=3650, help="Length of the period in days.")] = 730,
    fmt: Annotated[Format, typer.Option("--format", help="File format of the tables.")] = Format.parquet,
) -> None:
    """Generate a synthetic CRM (leads, events, sales outcomes) for demos and tests."""
    from core.errors import LeadscoreError
    from synthetic.generate import STAGES, write_dataset
    from synthetic.generate import generate as make

    try:
        import pandas as pd

        pd.Timestamp(start)
    except ValueError:
        raise LeadscoreError(f"--start: '{start}' is not a date (expected YYYY-MM-DD)") from None
    began = time.perf_counter()
    with progress() as bar:
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
    Console(soft_wrap=True).print(table)


def register(app: typer.Typer) -> None:
    """Add the synthetic CRM's commands to the `leadscore` app."""
    app.command()(generate)
