"""`leadscore` subcommands owned by training/: train, retrain, promote, rollback, score."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from features.cli import DataOption, Engine, EngineOption, MasterOption, SparkConfOption
from training import recalibrate_cli


def console() -> Console:
    """Standard error, as wide as the terminal (or COLUMNS) is when a command prints."""
    return Console(stderr=True)


def stdout() -> Console:
    """Standard output, as wide as the terminal (or COLUMNS) is when a command prints."""
    return Console(soft_wrap=True)


TrackingOption = Annotated[
    str | None, typer.Option(help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else ./mlflow.db).")
]


def _configs(training_config: Path | None, features_config: Path | None, rules: Path | None):
    from core.config import load_config
    from features.defaults import load_features_config, load_rules
    from training.settings import TrainingConfig

    return load_config(training_config, TrainingConfig), load_features_config(features_config), load_rules(rules)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console()
    )


def _report(result) -> None:
    m = result.metrics
    table = Table(title=f"test period: model vs rule score (run {result.run_id[:8]}, version {result.version})")
    for column in ("metric", "model", "rule score"):
        table.add_column(column, justify="right" if column != "metric" else "left")
    for label, key in (
        ("ROC AUC", "roc_auc"),
        ("PR AUC", "pr_auc"),
        ("log-loss", "log_loss"),
        ("Brier", "brier"),
        ("ECE (10 bins)", "ece"),
        ("top 10% acceptance", "top10_acceptance"),
        ("top 10% lift", "top10_lift"),
        ("top 20% lift", "top20_lift"),
        ("top 30% lift", "top30_lift"),
    ):
        table.add_row(label, f"{m[f'model_{key}']:.4f}", f"{m[f'rule_{key}']:.4f}")
    table.add_row(
        "acceptance at equal volume",
        f"{m['equal_volume_model_mql_acceptance']:.4f}",
        f"{m['equal_volume_rule_mql_acceptance']:.4f}",
    )
    Console(width=120).print(table)
    for note in result.notes:  # a random split, rules that never fire, a threshold fallback
        console().print(f"[bold yellow]note:[/] {note}", soft_wrap=True, highlight=False)
    stdout().print(result.served, markup=False, highlight=False)
    state = "promoted to @champion" if result.promoted else "left as @challenger"
    stdout().print(f"version {result.version} {state}: {result.gate_reason}", markup=False, highlight=False)


def _run(data: Path, training_config, features_config, rules, tracking_uri, search, extra=None, feedback=None):
    from training.train import STEPS, train

    config, feature_config, rule_config = _configs(training_config, features_config, rules)
    with _progress() as bar:
        task = bar.add_task("training", total=len(STEPS))
        result = train(
            data,
            config,
            feature_config,
            rule_config,
            tracking_uri,
            search,
            extra,
            progress=lambda s: bar.update(task, advance=1, description=s),
            feedback=feedback,
        )
    _report(result)


def train_command(
    data: Annotated[Path, typer.Option(help="Data folder with leads, events and outcomes.")],
    training_config: Annotated[Path | None, typer.Option(help="Training config YAML.")] = None,
    features_config: Annotated[Path | None, typer.Option(help="Feature config YAML.")] = None,
    rules: Annotated[Path | None, typer.Option(help="Rule-score config YAML.")] = None,
    search: Annotated[bool, typer.Option("--search", help="Search LightGBM parameters with Optuna first.")] = False,
    tracking_uri: TrackingOption = None,
) -> None:
    """Train a calibrated model on sales decisions, evaluate it against the rules, register it."""
    _run(data, training_config, features_config, rules, tracking_uri, search)


def retrain(
    data: Annotated[Path, typer.Option(help="Data folder with the history the last model saw.")],
    decisions: Annotated[Path | None, typer.Option(help="New sales decisions (an outcomes CSV or Parquet).")] = None,
    feedback_db: Annotated[
        str | None,
        typer.Option(
            help="Read the decisions the service stored (a database URL; 'default': $LEADSCORE_DB_URL "
            "or ./leadscore.db)."
        ),
    ] = None,
    training_config: Annotated[Path | None, typer.Option(help="Training config YAML.")] = None,
    features_config: Annotated[Path | None, typer.Option(help="Feature config YAML.")] = None,
    rules: Annotated[Path | None, typer.Option(help="Rule-score config YAML.")] = None,
    tracking_uri: TrackingOption = None,
) -> None:
    """Merge new sales decisions into the history, retrain, and promote through the gate."""
    import pandas as pd

    from core.errors import LeadscoreError
    from core.store import open_store
    from features.contract import folder_config, load_dataset, outcomes_schema, validate
    from features.tables import read_table

    if decisions is None and feedback_db is None:
        raise LeadscoreError("give the new decisions: --decisions FILE and/or --feedback-db URL")
    store = open_store(feedback_db, "--feedback-db") if feedback_db is not None else None  # never a new empty one
    history = load_dataset(data)
    parts = []
    if decisions is not None:
        extra = validate(
            read_table(decisions), outcomes_schema(folder_config(data), history.leads["lead_id"]), decisions
        )
        if extra.empty:
            raise LeadscoreError(f"{decisions}: no decisions in the file")
        stdout().print(f"{len(extra):,} decision(s) from {decisions} merged into the history")
        parts.append(extra)
    feedback = None
    if store is not None:
        feedback = _stored_decisions(store, data, history)
        parts.append(feedback.outcomes)
    extra = pd.concat(parts, ignore_index=True) if parts else None
    if feedback is not None:
        feedback = _counted(feedback, history, extra, training_config)
    _run(data, training_config, features_config, rules, tracking_uri, False, extra, feedback)


def _stored_decisions(store, data: Path, history):
    """The stored decisions in force, placed on the history's hand-overs and merged; what was
    left out is said, each skipped decision by its feedback_id."""
    from core.store import redacted
    from features.contract import folder_config
    from training.feedback import read_store, skipped_lines

    summary = read_store(store, history, folder_config(data), redacted(store.url))
    for line in skipped_lines(summary):
        console().print(line, markup=False, highlight=False, soft_wrap=True)
    stdout().print(
        f"{summary.merged:,} of {summary.stored:,} stored decision(s) from {summary.source} merged "
        f"({summary.unknown_lead:,} for leads not in {data}, {summary.no_handover:,} without a hand-over, "
        f"{len(summary.skipped):,} skipped as invalid; {summary.superseded:,} superseded by a correction)",
        markup=False,
        highlight=False,
    )
    if not summary.merged:
        stdout().print(
            f"no stored decision matches a lead and hand-over of {data}: the retrain learns from the history "
            "alone (the run records 0 merged)",
            markup=False,
            highlight=False,
        )
    return summary


def _counted(feedback, history, extra, training_config: Path | None):
    """The stored decisions with what the label rules will make of them, said as a table and a line."""
    from core.config import load_config
    from training.feedback import with_counts
    from training.settings import TrainingConfig

    feedback = with_counts(feedback, history, extra, load_config(training_config, TrainingConfig).labels)
    recalibrate_cli.print_counts(feedback.counts, f"stored decisions from {feedback.source}")
    return feedback


def promote(
    version: Annotated[str, typer.Argument(help="Registered model version to make @champion.")],
    model_name: Annotated[str, typer.Option(help="Registered model name.")] = "leadscore",
    tracking_uri: TrackingOption = None,
) -> None:
    """Move @champion to a model version (by hand, past the gate)."""
    from training import registry

    previous = registry.promote(registry.existing(tracking_uri), model_name, version)
    stdout().print(f"{model_name}@champion -> version {version}" + (f" (was {previous})" if previous else ""))


def rollback(
    model_name: Annotated[str, typer.Option(help="Registered model name.")] = "leadscore",
    tracking_uri: TrackingOption = None,
) -> None:
    """Move @champion one step back through its history (again: one more step back)."""
    from training import registry

    client = registry.existing(tracking_uri)
    old, new = registry.rollback(client, model_name)
    if new is None:
        stdout().print(
            f"{model_name}@champion stays version {old}: no earlier champion to roll back to "
            f"(version {old} is the first @champion on record)"
        )
        return
    earlier = registry.earlier_champion(client, model_name)
    then = f"rollback again: version {earlier}" if earlier else "no earlier champion on record"
    stdout().print(f"{model_name}@champion -> version {new} (was {old}); {then}")


def models(
    model_name: Annotated[str, typer.Option(help="Registered model name.")] = "leadscore",
    limit: Annotated[int, typer.Option(min=1, help="How many of the newest versions to list.")] = 20,
    tracking_uri: TrackingOption = None,
) -> None:
    """List the registered versions: aliases, test-period figures, data, and the gate's decision."""
    from training.models_cli import show_models

    show_models(model_name, limit, tracking_uri)


def score(
    data: DataOption,
    out: Annotated[Path, typer.Option(help="Scores to write (.parquet or .csv).")],
    model_uri: Annotated[str, typer.Option(help="MLflow model URI.")] = "models:/leadscore@champion",
    as_of: Annotated[str | None, typer.Option(help="Score time (ISO 8601); default: now.")] = None,
    at_handover: Annotated[bool, typer.Option("--at-handover", help="Score each hand-over as of its mql_at.")] = False,
    tracking_uri: TrackingOption = None,
    engine: EngineOption = Engine.pandas,
    master: MasterOption = None,
    spark_conf: SparkConfOption = None,
    accounts: Annotated[
        Path | None,
        typer.Option(
            help="Also write one row per account (.parquet or .csv): its answer, buying group and leads scored."
        ),
    ] = None,
) -> None:
    """Score every lead: probability, score 0-100, grade, is_mql, rule score, its account's answer and
    model version."""
    from core.errors import LeadscoreError
    from features.cli import scoring_time
    from features.tables import write_table
    from training.answer import account_rows
    from training.score import score_folder

    when = scoring_time(as_of, at_handover, out)
    if accounts is not None and accounts.resolve() == out.resolve():
        raise LeadscoreError(f"--accounts {accounts}: the same file as --out; give the account rows their own file")
    if engine is Engine.spark:
        n, flagged, version = _spark_scores(
            data, out, model_uri, when, at_handover, tracking_uri, master, spark_conf, accounts
        )
        mql, rule_mql = flagged["is_mql"], flagged["rule_is_mql"]
    else:
        with _progress() as bar:
            task = bar.add_task("scoring", total=None)
            scores = score_folder(
                data,
                model_uri,
                when,
                at_handover,
                tracking_uri,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
            write_table(scores, out)
            if accounts is not None:
                table = account_rows(scores)
                write_table(table, accounts)
                _say_accounts(accounts, table, scores, at_handover)
        n = len(scores)
        mql = int(scores["is_mql"].sum()) if n else 0
        rule_mql = int(scores["rule_is_mql"].sum()) if n else 0
        version = scores["model_version"].iloc[0] if n else "-"
    stdout().print(f"{out}: {n:,} leads scored by {version}; model MQLs {mql:,}, rule MQLs {rule_mql:,}")


def _say_accounts(path: Path, table, scores, at_handover: bool) -> None:
    """What `score --accounts` wrote, in one line; when every account has one lead named after it,
    that each lead is its own account (an export without an account column)."""
    mqa = int(table["account_is_mqa"].fillna(False).astype(bool).sum()) if len(table) else 0
    rule = int(table["account_rule_mql"].fillna(False).astype(bool).sum()) if len(table) else 0
    alone = len(table) and (table["leads"] == 1).all() and (scores["account_id"] == scores["lead_id"]).all()
    _accounts_line(path, len(table), mqa, rule, bool(alone), at_handover)


def _accounts_line(path: Path, accounts: int, mqa: int, rule: int, alone: bool, at_handover: bool) -> None:
    """The line `score --accounts` prints, from the counts of the account rows written (at hand-over:
    a row per account and hand-over time)."""
    note = " (no account column in the data: each lead is its own account)" if alone else ""
    what = "account rows (each account as of each of its hand-overs)" if at_handover else "accounts"
    stdout().print(f"{path}: {accounts:,} {what}; model MQAs {mqa:,}, with a rule MQL {rule:,}{note}")


def _spark_scores(data, out, model_uri, when, at_handover, tracking_uri, master, spark_conf, accounts=None):
    """`leadscore score --engine spark`: each bucket of whole accounts scored on the workers as one
    machine scores it, written as a Parquet folder; with `accounts`, the account rows of the scores
    written as a second one (read back from the first: no second scoring)."""
    from features.spark import Output, parquet_out, write_jobs
    from training import registry
    from training.spark import spark_accounts, spark_scores

    parquet_out(out)  # before the model is loaded
    if accounts is not None:
        parquet_out(accounts, "--accounts")
    model = registry.load_model(model_uri, registry.connect(tracking_uri))

    def scores(spark):
        return spark_scores(spark, data, model, when, at_handover)

    def account_rows(spark):
        return spark_accounts(spark.read.parquet(str(out)))

    alone = "leads = 1 AND best_lead_id = account_id"  # one lead named after its account, as `_say_accounts` checks
    outputs = [Output(out, scores, ("is_mql", "rule_is_mql"), "scoring")]
    if accounts is not None:
        outputs.append(
            Output(accounts, account_rows, ("account_is_mqa", "account_rule_mql", alone), "accounts", "--accounts")
        )
    (n, flagged), *written = write_jobs(outputs, master, spark_conf, _progress())
    for rows, counted in written:
        mqa, rule = counted["account_is_mqa"], counted["account_rule_mql"]
        _accounts_line(accounts, rows, mqa, rule, 0 < rows == counted[alone], at_handover)
    return n, flagged, model.version


def register(app: typer.Typer) -> None:
    app.command(name="train")(train_command)
    app.command()(retrain)
    app.command()(promote)
    app.command()(rollback)
    app.command()(models)
    app.command()(score)
    app.command()(recalibrate_cli.recalibrate)
