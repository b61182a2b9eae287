"""`leadscore` subcommands owned by synthetic/: a generated CRM world, and the live loop on it."""

from __future__ import annotations

import time
from enum import StrEnum
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
    from synthetic.manifest import World

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
        World(seed=seed, leads=leads, start=start, days=days, format=fmt.value).write(out)
        bar.update(task, advance=1, description="done")
    took = time.perf_counter() - began
    table = Table(title=f"{out} ({took:.1f} s)")
    for column in ("table", "rows", "file", "MB"):
        table.add_column(column, justify="right" if column in ("rows", "MB") else "left")
    for name, path in paths.items():
        table.add_row(name, f"{tables[name].num_rows:,}", path.name, f"{path.stat().st_size / 1e6:.1f}")
    Console(soft_wrap=True).print(table)


class Policy(StrEnum):
    """Who the simulated CRM hands over to sales."""

    model = "model"
    rules = "rules"


SHOWN = ("leads", "scored", "handed", "explored", "posted", "duplicates", "corrections", "earlier_decisions_posted")


def simulate(
    data: Annotated[Path, typer.Option(help="A world made by `leadscore generate` (its world.json): continued.")],
    service: Annotated[str, typer.Option(help="The running scoring service, e.g. http://127.0.0.1:3000.")],
    weeks: Annotated[int, typer.Option(min=1, max=520, help="Weeks of new leads.")],
    leads_per_week: Annotated[
        int | None, typer.Option(min=1, max=200_000, help="Default: the world's rate at the end of its history.")
    ] = None,
    policy: Annotated[Policy, typer.Option(help="Who goes to sales: the model's MQLs or the rules'.")] = Policy.model,
    explore: Annotated[
        float | None,
        typer.Option(
            min=0,
            max=0.2,
            help="The exploration share the service must apply (LEADSCORE_EXPLORE_SHARE); refused if it differs. "
            "Default: whatever the service does.",
        ),
    ] = None,
    drift: Annotated[
        str | None,
        typer.Option(
            help="Drift from a date on, parts separated by ';': from=DATE,company_size=F (sizes times F); "
            "from=DATE,source=NAME (every lead from one source); from=DATE,accept=SEGMENT:F or "
            "from=DATE,accept=source:NAME:F (sales' acceptance probability times F, at most 0.95)."
        ),
    ] = None,
    drain_weeks: Annotated[int, typer.Option(min=0, max=52, help="More weeks without new leads.")] = 0,
    seed: Annotated[int, typer.Option(help="Random seed of the simulated weeks.")] = 0,
    start: Annotated[str | None, typer.Option(help="First day (YYYY-MM-DD); default: the day after the data.")] = None,
) -> None:
    """A CRM and a sales team in a box: continue DIR's world week by week against the running
    service (scores at each lead's hand-raise, hand-overs by the policy, sales' decisions posted to
    /feedback as they are taken). The API key comes from LEADSCORE_API_KEY."""
    import os

    from core.errors import LeadscoreError
    from synthetic.crm import CRM
    from synthetic.drift import parse
    from synthetic.simulate import Options
    from synthetic.simulate import simulate as run

    key = os.environ.get("LEADSCORE_API_KEY")
    if not key:
        raise LeadscoreError("LEADSCORE_API_KEY is not set: simulate sends it to the service")
    first = None
    if start is not None:
        try:
            import pandas as pd

            first = int(pd.Timestamp(start, tz="UTC").timestamp())
        except ValueError:
            raise LeadscoreError(f"--start: '{start}' is not a date (expected YYYY-MM-DD)") from None
    options = Options(
        weeks=weeks,
        drain_weeks=drain_weeks,
        leads_per_week=leads_per_week,
        policy=policy.value,
        explore=explore,
        seed=seed,
        start=first,
    )
    with progress() as bar:
        task = bar.add_task("simulating", total=weeks + drain_weeks)

        def tick(week: int, leads: int, decisions: int) -> None:
            bar.update(
                task,
                advance=1,
                description=f"week {week} of {weeks + drain_weeks}: {leads} leads scored, {decisions} decisions posted",
            )

        summary = run(data, CRM(service, key), options, parse(drift), tick)
    table = Table(title=f"{data}: simulated {summary['start'][:10]} to {summary['end'][:10]}")
    table.add_column("")
    table.add_column("", justify="right")
    for name in (
        "leads",
        "scored",
        "handed",
        "explored",
        "posted",
        "duplicates",
        "corrections",
        "earlier_decisions_posted",
    ):
        table.add_row(name.replace("_", " "), f"{summary[name]:,}")
    Console(soft_wrap=True).print(table)
    Console(soft_wrap=True).print(f"truth: {data / 'simulation' / 'truth.parquet'} (for tests and benchmarks only)")


def register(app: typer.Typer) -> None:
    """Add the synthetic CRM's commands to the `leadscore` app."""
    app.command()(generate)
    app.command()(simulate)
