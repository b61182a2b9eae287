"""`leadscore rules init`: a rules file to start from (features/starter.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(help="The rule score's configuration.", no_args_is_help=True)


@app.command()
def init(
    mapping: Annotated[Path, typer.Option(help="The flat export's mapping YAML.")],
    out: Annotated[Path, typer.Option(help="The rules file to write (never overwritten).")],
    export: Annotated[
        Path | None, typer.Argument(help="The export itself, to list each column's commonest values.")
    ] = None,
) -> None:
    """Write a rules file listing the mapping's fit columns and counters, each worth 0 points."""
    from core.errors import LeadscoreError
    from features.defaults import load_rules
    from features.flat import load_mapping
    from features.starter import starter_rules
    from features.tables import read_export

    if out.exists():
        raise LeadscoreError(f"{out}: already exists; choose another --out (nothing was written)")
    plan = load_mapping(mapping)
    frame = read_export(export, plan.delimiter, plan.encoding) if export is not None else None
    missing = [c for c in plan.columns if frame is not None and c not in frame.columns]
    if missing:
        raise LeadscoreError(f"{export}: column(s) {', '.join(missing[:5])} of the mapping are not in the export")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(starter_rules(plan, frame), encoding="utf-8")
    rules = load_rules(out)  # what we wrote loads as a rules file
    Console(soft_wrap=True).print(
        f"{out}: {len(rules.rules)} rule(s), each worth 0 points; give them points, then train with --rules {out}",
        markup=False,
        highlight=False,
    )
