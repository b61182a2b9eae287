"""`leadscore compare`: the model-vs-rules report for marketers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def compare(
    out: Annotated[Path, typer.Option(help="The HTML report to write.")],
    data: Annotated[Path | None, typer.Option(help="A data folder: history scored as of each hand-over.")] = None,
    db: Annotated[
        str | None,
        typer.Option(
            help="The scoring service's database: a URL, or 'default' ($LEADSCORE_DB_URL or ./leadscore.db); "
            "live score log + sales decisions."
        ),
    ] = None,
    model_uri: Annotated[
        str, typer.Option(help="MLflow model to compare (with --data).")
    ] = "models:/leadscore@champion",
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow tracking store.")] = None,
    rules: Annotated[
        Path | None, typer.Option(help="Rule config YAML to compare against (default: the model's).")
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="First hand-over day (default: only hand-overs the model never trained on).")
    ] = None,
    end: Annotated[str | None, typer.Option(help="First day after the period.")] = None,
    capacity_per_week: Annotated[
        int | None, typer.Option(min=1, help="Leads sales can take a week (default: the rules' weekly volume).")
    ] = None,
    target_acceptance: Annotated[float, typer.Option(min=0.01, max=1.0, help="Acceptance rate to aim for.")] = 0.5,
    pdf: Annotated[
        bool, typer.Option("--pdf", help="Also print the page to a PDF beside it (same name, .pdf; needs Chromium).")
    ] = False,
    chromium: Annotated[
        str | None, typer.Option(help="The Chromium to print with (default: chromium on the PATH).")
    ] = None,
) -> None:
    """Which leads the model would send to sales that the rules would not (and the reverse), and
    what sales made of them: a self-contained HTML report."""
    from rich.console import Console

    from core.errors import LeadscoreError
    from reports.report import write_report

    if (data is None) == (db is None):
        raise LeadscoreError("compare: give either --data (a data folder) or --db (the service's database URL)")
    if data is not None and not data.is_dir():
        raise LeadscoreError(f"--data {data}: not a folder")
    if out.suffix.lower() not in (".html", ".htm"):
        raise LeadscoreError(f"--out {out}: use an .html file name")
    parameters = dict(
        data=str(data.resolve()) if data else None,
        db=db,
        model_uri=model_uri,
        tracking_uri=tracking_uri,
        rules=str(rules.resolve()) if rules else None,
        start=start,
        end=end,
        capacity_per_week=capacity_per_week,
        target_acceptance=target_acceptance,
    )
    printed = out.with_suffix(".pdf") if pdf else None
    if printed is not None:
        from reports.browser import find

        find(chromium)  # before the notebook runs: a missing browser is said at once
    with Console(stderr=True).status("running the comparison notebook"):
        write_report(parameters, out, printed, chromium)
    Console(soft_wrap=True).print(
        f"{out}: model vs rules report written" + (f"; {printed}: its PDF" if printed else "")
    )


def register(app: typer.Typer) -> None:
    app.command()(compare)
