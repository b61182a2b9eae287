"""`leadscore mapping init`: a mapping file to start from (features/mapping_init.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(help="The mapping of a flat CRM export.", no_args_is_help=True)


@app.command()
def init(
    export: Annotated[Path, typer.Argument(help="The export's main file (one row per lead).")],
    out: Annotated[Path, typer.Option(help="The mapping file to write (never overwritten).")],
    more: Annotated[
        list[Path] | None,
        typer.Argument(help="Further files of the export (e.g. won deals), joined to the leads by lead id."),
    ] = None,
    label: Annotated[str | None, typer.Option(help="The outcome column (default: guessed).")] = None,
    positive: Annotated[list[str] | None, typer.Option(help="Its value(s) meaning accepted (with --label).")] = None,
) -> None:
    """Write a commented mapping from the export's header and the leakage audit: guesses marked,
    leaks excluded with the audit's reason, placeholder values proposed as missing_values."""
    from core.errors import LeadscoreError
    from features.mapping import load_mapping
    from features.mapping_init import draft_mapping

    exists = f"{out}: already exists; choose another --out (nothing was written)"
    if out.exists():
        raise LeadscoreError(exists)
    text = draft_mapping(export, more or [], label, positive)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with out.open("x", encoding="utf-8") as file:  # never overwrites, even a file made meanwhile
            file.write(text)
    except FileExistsError:
        raise LeadscoreError(exists) from None
    try:
        plan = load_mapping(out)  # what we wrote loads as a mapping
    except LeadscoreError:
        out.unlink()  # no half-right file left behind
        raise
    roles = [r.role for r in plan.roles.values()]
    Console(soft_wrap=True, highlight=False).print(
        f"{out}: {roles.count('fit')} fit, {roles.count('counter')} counter(s), {roles.count('exclude')} excluded "
        f"({sum('leak' in (r.reason or '') for r in plan.roles.values())} as leaks); check the lines marked "
        f"'guess', then: leadscore audit {export} --mapping {out}",
        markup=False,
    )
