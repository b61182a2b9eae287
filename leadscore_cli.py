"""The `leadscore` command: each package registers its own subcommands on one typer app."""

from __future__ import annotations

import atexit
import gc
import os
import sys

import typer
from rich.console import Console

from core.errors import LeadscoreError

TELEMETRY_OFF = {"BENTOML_DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}


def build_app() -> typer.Typer:
    """The CLI with every package's subcommands."""
    from features import cli as features_cli
    from monitoring import cli as monitoring_cli
    from reports import cli as reports_cli
    from serving import cli as serving_cli
    from serving import feedback_cli, store_cli
    from synthetic import cli as synthetic_cli
    from training import cli as training_cli

    app = typer.Typer(
        name="leadscore",
        help="Calibrated probability that sales accepts a lead, next to the rule-based score.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    synthetic_cli.register(app)
    features_cli.register(app)
    training_cli.register(app)
    serving_cli.register(app)
    feedback_cli.register(app)
    store_cli.register(app)
    reports_cli.register(app)
    monitoring_cli.register(app)
    return app


def undecodable(argv: list[str]) -> str | None:
    """Which argument is not UTF-8 text (Python keeps such bytes as lone surrogates), or None.
    Named by its position and option, never by its value."""
    for number, arg in enumerate(argv, 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            option = argv[number - 2] if number > 1 and argv[number - 2].startswith("--") else None
            return f"argument {number}" + (f" (the value of {option})" if option else "")
    return None


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI; user errors print one line and exit 2, never a traceback."""
    for key, value in TELEMETRY_OFF.items():
        os.environ.setdefault(key, value)
    # Python's shutdown collects garbage over every object the command's libraries made (MLflow,
    # SQLAlchemy, pandas: some 300,000), which took as long as a registry command's own work (0.5
    # to 1 s). Frozen at exit, after every atexit hook registered later: nothing is left to do
    # then, and the objects still go when their references do. Once, however often main runs.
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    bad = undecodable(sys.argv[1:] if argv is None else argv)
    if bad is not None:
        errors.print(f"[bold red]error:[/] {bad}: not valid UTF-8 text", markup=True)
        sys.exit(2)
    app = build_app()
    try:
        app(args=argv, prog_name="leadscore")  # typer reports usage errors itself and exits 2
    except LeadscoreError as exc:
        errors.print(f"[bold red]error:[/] {exc}", markup=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
