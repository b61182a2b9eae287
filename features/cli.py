"""`leadscore` subcommands owned by features/: the data contract, features, imports and audits."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    import pandas as pd


def console() -> Console:
    """Standard error, as wide as the terminal (or COLUMNS) is when a command prints."""
    return Console(stderr=True)


def stdout() -> Console:
    """Standard output, as wide as the terminal (or COLUMNS) is when a command prints."""
    return Console(soft_wrap=True)


class Format(StrEnum):
    parquet = "parquet"
    csv = "csv"


class Engine(StrEnum):
    pandas = "pandas"
    spark = "spark"


# the options of a command that reads the contract tables on pandas or on Spark (features, score)
DataOption = Annotated[
    str,
    typer.Option(
        help="Data folder (leads, events; outcomes with --at-handover); with --engine spark also a URI "
        "(s3a://...) or catalog:SCHEMA for Spark tables."
    ),
]
EngineOption = Annotated[
    Engine, typer.Option(help="pandas: on this machine; spark: on Spark (needs the extra: pip install '.\\[spark]').")
]
MasterOption = Annotated[
    str | None,
    typer.Option(help="Spark master URL, with --engine spark (default: spark-submit's, else local[*]; e.g. yarn)."),
]
SparkConfOption = Annotated[
    list[str] | None, typer.Option("--spark-conf", help="A Spark setting KEY=VALUE, with --engine spark (repeatable).")
]


def validate(
    data: Annotated[Path, typer.Argument(help="Data folder with leads, events and outcomes files.")],
    config: Annotated[
        Path | None, typer.Option(help="Contract config YAML (extra event types, reasons, fit columns).")
    ] = None,
) -> None:
    """Check a data folder against the lead data contract; print what it holds."""
    from core.config import load_config
    from features.contract import ContractConfig, load_dataset

    with console().status("validating"):
        dataset = load_dataset(data, load_config(config, ContractConfig) if config else None)
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


def features(
    data: DataOption,
    out: Annotated[Path, typer.Option(help="Feature table to write (.parquet or .csv).")],
    as_of: Annotated[str | None, typer.Option(help="Score time, inclusive (ISO 8601); default: now.")] = None,
    at_handover: Annotated[
        bool, typer.Option("--at-handover", help="One row per hand-over, as of its mql_at (needs outcomes).")
    ] = False,
    features_config: Annotated[Path | None, typer.Option(help="Feature config YAML.")] = None,
    rules: Annotated[Path | None, typer.Option(help="Rule-score config YAML.")] = None,
    config: Annotated[Path | None, typer.Option(help="Contract config YAML (default: the folder's own).")] = None,
    engine: EngineOption = Engine.pandas,
    master: MasterOption = None,
    spark_conf: SparkConfOption = None,
) -> None:
    """Build point-in-time fit, engagement and account features (and the rule score) for every lead."""
    from core.config import load_config
    from features.contract import ContractConfig, folder_config
    from features.defaults import load_features_config, load_rules

    when = scoring_time(as_of, at_handover, out)
    contract = load_config(config, ContractConfig) if config else folder_config(data)
    feature_config, rule_config = load_features_config(features_config), load_rules(rules)
    if engine is Engine.spark:
        _spark_features(data, out, when, at_handover, feature_config, contract, rule_config, master, spark_conf)
    else:
        _pandas_features(data, out, when, at_handover, feature_config, contract, rule_config)


def scoring_time(as_of: str | None, at_handover: bool, out: Path) -> pd.Timestamp | None:
    """The `--as-of` time (None: now, or each hand-over's with `--at-handover`), after checking
    the options a scoring command shares: one scoring time at most, a table name for `--out`."""
    from core.errors import LeadscoreError

    if at_handover and as_of:
        raise LeadscoreError("--as-of and --at-handover exclude each other: pick one scoring time")
    if out.suffix not in (".parquet", ".csv"):
        raise LeadscoreError(f"--out {out}: use a .parquet or .csv file name")
    return _timestamp(as_of) if as_of else None


def _pandas_features(data, out, when, at_handover, feature_config, contract, rule_config) -> None:
    """`leadscore features --engine pandas`: the features built on this machine, as one table."""
    from features.build import STEPS, build_features, feature_names, rows_to_score
    from features.contract import load_dataset
    from features.rules import rule_score
    from features.tables import write_table

    with progress() as bar:
        task = bar.add_task("reading", total=len(STEPS) + 3)
        dataset = load_dataset(data, contract)
        bar.update(task, advance=1)
        rows, when = rows_to_score(dataset, when, at_handover)
        if not at_handover and len(rows) < len(dataset.leads):
            console().print(f"{len(dataset.leads) - len(rows):,} lead(s) created after {when} skipped")
        table = build_features(
            rows,
            dataset.events,
            when,
            feature_config,
            contract,
            population=dataset.leads,
            progress=lambda s: bar.update(task, advance=1, description=s),
        )
        scored = rule_score(table, rule_config)
        table["rule_score"], table["rule_is_mql"] = scored.score, scored.is_mql
        bar.update(task, advance=1, description="writing")
        write_table(table, out)
        bar.update(task, advance=1, description="done")
    n_features = len(feature_names(feature_config, contract))  # not the ids, the buying group or the rules
    stdout().print(f"{out}: {len(table):,} rows x {n_features} features (rule MQLs: {int(scored.is_mql.sum()):,})")


def _spark_features(data, out, when, at_handover, feature_config, contract, rule_config, master, spark_conf) -> None:
    """`leadscore features --engine spark`: the same features, built by Spark, as a Parquet folder."""
    from features.build import feature_names
    from features.spark import spark_features, write_job

    n, flagged = write_job(
        lambda spark: spark_features(spark, data, when, at_handover, feature_config, contract, rule_config),
        out,
        master,
        spark_conf,
        "features",
        ("rule_is_mql",),
        progress(),
    )
    n_features = len(feature_names(feature_config, contract))
    stdout().print(f"{out}: {n:,} rows x {n_features} features (rule MQLs: {flagged['rule_is_mql']:,}), built on Spark")


def _timestamp(text: str) -> pd.Timestamp:
    """`text` as a UTC timestamp; a clear error naming `--as-of` if it is none."""
    from core.errors import LeadscoreError
    from features.arrays import to_utc

    try:
        return to_utc(text)
    except ValueError:
        raise LeadscoreError(f"--as-of: '{text}' is not a timestamp (ISO 8601, e.g. 2025-06-01T00:00:00Z)") from None


def import_(
    export: Annotated[Path, typer.Argument(help="The flat CRM export's main file (CSV or Parquet).")],
    mapping: Annotated[Path, typer.Option(help="Mapping YAML: the role of every column (of every file).")],
    out: Annotated[Path, typer.Option(help="Data folder to write (leads, outcomes, contract.yaml).")],
    fmt: Annotated[Format, typer.Option("--format", help="File format of the tables.")] = Format.parquet,
) -> None:
    """Turn a flat CRM export (one file, or several the mapping joins) into contract tables."""
    from features.flat import import_export, load_mapping

    plan = load_mapping(mapping)
    with console().status("importing"):
        counts = import_export(export, plan, out, fmt.value)
    roles = plan.roles.values()
    kept = sum(r.role in ("fit", "counter") for r in roles)
    excluded = sum(r.role == "exclude" for r in roles)
    added = ", ".join(counts["calendar"])
    calendar = f"; calendar features {added} ({plan.times.timezone})" if added else ""
    say = Console(soft_wrap=True, highlight=False).print
    say(
        f"{out}: {counts['leads']:,} leads, {counts['accepted']:,} accepted; {kept} columns kept as features, "
        f"{excluded} excluded{calendar}; read as {counts['encoding']}, delimiter {counts['delimiter']!r}",
        markup=False,
    )
    if plan.account_column is None:
        say(
            "no account column in the mapping (account_column): each lead is its own account, so its account "
            "answer reads the lead alone; name the company column to get account answers across its contacts",
            markup=False,
        )
    for column, rows in counts["unreadable_sizes"].items():
        shown = ", ".join(map(str, rows[:10])) + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")
        say(
            f"column '{column}': {len(rows)} value(s) not read as a company size (a number or a band such as "
            f"51-200, 10,001+, 1K-5K), left empty, segment unknown: rows {shown}",
            markup=False,
        )
    for name, n in counts["unmatched"].items():
        if n:
            say(f"{name}: {n} row(s) match no lead of {export.name} and are left out", markup=False)


def audit(
    export: Annotated[Path, typer.Argument(help="The flat CRM export's main file (CSV or Parquet).")],
    mapping: Annotated[Path | None, typer.Option(help="Mapping YAML; its exclusions are checked.")] = None,
    label: Annotated[str | None, typer.Option(help="Label column, when there is no mapping.")] = None,
    positive: Annotated[list[str] | None, typer.Option(help="Label value(s) meaning accepted (with --label).")] = None,
    missing_value: Annotated[
        list[str] | None, typer.Option(help="Value(s) that mean 'not given' (with --label; default: empty).")
    ] = None,
) -> None:
    """Flag columns of a flat export that know the outcome (leakage), with a verdict per column.

    With --mapping, reads the export as `leadscore import` does (its files joined) and exits 1 when
    the mapping keeps a column whose verdict is 'leak' or leaves a column undeclared.
    """
    from core.errors import LeadscoreError
    from features.audit import audit as run_audit
    from features.audit import placeholders
    from features.flat import check_absent, load_mapping, undeclared
    from features.joins import read_mapped

    if (mapping is None) == (label is None):
        raise LeadscoreError("give either --mapping or --label")
    plan = load_mapping(mapping) if mapping else None
    if plan:
        mapped = read_mapped(export, plan)
        check_absent(mapped, plan)
    frame, y = _labelled(mapped if plan else None, export, plan, label, positive, missing_value)
    ignore = {plan.label.column if plan else label, plan.id_column if plan else None} - {None}
    with console().status(f"auditing {frame.shape[1] - len(ignore)} columns"):
        report = run_audit(frame.drop(columns=list(ignore)), y)
    missing = undeclared(mapped, plan) if plan else {}
    table, disagree = _audit_table(report, plan, {c for columns in missing.values() for c in columns})
    table.title = f"leakage audit: {export.name} ({len(frame):,} rows, {y.mean():.1%} positive)"
    Console(width=200).print(table)
    flagged = report[report["verdict"] != "ok"]
    pairs = zip(flagged["column"], flagged["verdict"], strict=True)
    say = Console(soft_wrap=True, highlight=False).print
    say(f"flagged: {', '.join(f'{c} ({v})' for c, v in pairs) or 'none'}", markup=False)
    for found in placeholders(frame.drop(columns=list(ignore))):
        say(
            f"placeholder? {found.value!r} fills {len(found.columns)} columns ({', '.join(found.columns)}; "
            f"{found.share:.0%} of their filled cells): if it means 'not given', add it to missing_values",
            markup=False,
        )
    if not plan:
        return
    for path, columns in missing.items():
        say(f"{path}: column(s) not in the mapping: {', '.join(columns)} (the import refuses them)", markup=False)
    if disagree:
        say(f"the mapping keeps column(s) that look like leaks: {', '.join(disagree)}", markup=False, style="bold red")
    if disagree or missing:
        raise typer.Exit(1)
    say("the mapping excludes every column the audit calls a leak", markup=False)


def _labelled(mapped, export: Path, plan, label, positive, missing_value):
    """The export with its 'not given' values made missing, and whether each row was accepted:
    as the mapping `plan` says (read exactly as `leadscore import` reads it: `mapped`), else as
    `--label`, `--positive` and `--missing-value` say."""
    from core.errors import LeadscoreError
    from features.flat import label as import_label
    from features.flat import masked
    from features.tables import read_export

    if plan:
        mapped = masked(mapped, plan)
        frame, y = mapped.frame, import_label(mapped, plan)
        where = f"column '{plan.label.column}'" if plan.label.column else f"label.exists_in '{plan.label.exists_in}'"
    else:
        frame, where = read_export(export), f"column '{label}'"
        if label not in frame.columns:
            raise LeadscoreError(f"{export}: no label column '{label}'")
        frame = frame.mask(frame.isin(missing_value or [""]))
        values = frame[label].astype("str").str.strip()
        positives = positive or ["1", "yes", "true"]
        y = values.str.lower().isin([p.lower() for p in positives]).to_numpy()
    if y.all() or not y.any():
        raise LeadscoreError(f"{where}: every row has the same label; check {'the mapping' if plan else '--positive'}")
    return frame, y


def _mapping_role(plan, column: str, undeclared: set[str]) -> tuple[str, bool]:
    """What the mapping does with `column` (a time role wins over `exclude`: the import reads it),
    and whether it reaches the model (a feature, or a hand-over/creation time it is cut at)."""
    if plan is None:
        return "", False
    if column in undeclared:
        return "not declared", False
    times = plan.times.columns()
    if column in times:
        return f"time ({', '.join(times[column])})", times[column] != ["decided_at"]
    role = plan.roles.get(column)
    if role is None:
        return "", False
    if role.role in ("exclude", "reason"):  # a reason code is outcome data, never a feature
        return ("excluded" if role.role == "exclude" else "reason code"), False
    return f"kept ({role.role})", True


def _audit_table(report, plan, undeclared: set[str]) -> tuple[Table, list[str]]:
    """The audit as a table, one row per column with what the mapping does with it, and the
    columns the mapping keeps although their verdict is 'leak'."""
    import numpy as np

    table = Table()
    for column in ("column", "verdict", "AUC alone", "empty", "gap", "1-outcome", "mapping", "why"):
        table.add_column(column, overflow="fold")
    colour = {"leak": "bold red", "suspect": "yellow", "ok": "green"}
    disagree = []
    for r in report.itertuples():
        says, kept = _mapping_role(plan, r.column, undeclared)
        if r.verdict == "leak" and kept:
            disagree.append(r.column)
        table.add_row(
            r.column,
            f"[{colour[r.verdict]}]{r.verdict}[/]",
            f"{r.auc:.2f}",
            f"{r.missing:.0%}",
            "-" if np.isnan(r.missing_gap) else f"{r.missing_gap:.0%}",
            f"{r.one_outcome_share:.0%}",
            says,
            r.why,
        )
    return table, disagree


def progress() -> Progress:
    """A progress bar on stderr: stage, bar, steps done, time taken."""
    return Progress(
        TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console()
    )


def register(app: typer.Typer) -> None:
    """Add this package's subcommands to the `leadscore` app."""
    app.command()(validate)
    app.command()(features)
    app.command(name="import")(import_)
    app.command()(audit)
    from features.mapping_cli import app as mapping_app
    from features.rules_cli import app as rules_app

    app.add_typer(rules_app, name="rules")
    app.add_typer(mapping_app, name="mapping")
