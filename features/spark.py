"""Features on Apache Spark, with the same code as one machine.

Contract tables are read from Parquet by Spark and split into *buckets of whole accounts*: every
lead, hand-over and event of an account lands in the same bucket, so the account features of a
lead see every contact of its account, as on one machine. Each bucket is one pandas call of the
very same functions the single-process path runs: the contract checks and coercions
(`features.contract.validate`), the choice of rows (`rows_to_score`), then `build_features` and
the rule score for features, or the whole of `training.score.score_dataset` for scores
(`training/spark.py`). There is no second implementation of any feature or answer.

`pyspark` is an optional extra (`pip install ".[spark]"`); nothing here imports it at import time.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.errors import LeadscoreError
from features.arrays import to_utc
from features.build import PEOPLE, build_features, row_columns, rows_to_score, table_columns
from features.contract import (
    FIT_CATEGORICAL,
    FIT_NUMERIC,
    ContractConfig,
    ContractError,
    Dataset,
    events_schema,
    leads_schema,
    validate,
)
from features.rules import RuleConfig, rule_score
from features.settings import FeatureConfig

BUCKET = "__bucket"
HANDOVER = "__mql_at"
LEADS_PER_BUCKET = 20_000  # leads (with their accounts' events) per pandas call
ERROR_MARK = "LEADSCORE-ERROR:"
CATALOG = "catalog:"  # --data catalog:SCHEMA reads the schema's leads, events and outcomes tables
SPARK_KINDS = {"text": "string", "time": "timestamp", "number": "double"}  # a feature table's column kinds


def remote(path: str) -> bool:
    """Whether `path` is a URI (s3a://, hdfs://, abfss://, dbfs:/...) or catalog tables rather
    than a local path."""
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]+:", path) is not None


def session(master: str | None = None, conf: dict[str, str] | None = None, app: str = "leadscore"):
    """A Spark session for leadscore: UTC session time zone (naive timestamps are UTC, as in
    the contract), Arrow transfers. Without `master`: the one spark-submit (or the platform)
    gives, else local[*]. On a local master the Python workers run this interpreter."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise LeadscoreError(
            '--engine spark needs pyspark: install the extra with `pip install ".[spark]"` '
            "(or `uv sync --extra spark`); Java 17 or newer must be on the PATH"
        ) from None
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ  # started by spark-submit: its master holds
    master = master or (None if submitted else "local[*]")
    conf = dict(conf or {})
    if master and master.startswith("local") and not submitted:
        # the workers run this interpreter
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        log = Path(__file__).parent / "defaults" / "spark-log4j2.properties"
        conf.setdefault("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={log.as_uri()}")
        conf.setdefault("spark.ui.enabled", "false")  # no web server on a laptop or a CI machine
    builder = SparkSession.builder.master(master) if master else SparkSession.builder
    builder = (
        builder.appName(app)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")  # read back as UTC times
        .config("spark.ui.showConsoleProgress", "false")  # leadscore shows its own progress
    )
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        return builder.getOrCreate()
    except Exception as exc:  # no Java, a bad master URL: one line, not a JVM stack trace
        where = f"master {master}" if master else "spark-submit's master"
        raise LeadscoreError(f"Spark did not start on {where}: {str(exc).splitlines()[0][:300]}") from None


def where(data: str, name: str) -> str:
    """How messages name table `name` of `data`: a Parquet path, or a catalog table."""
    if data.startswith(CATALOG):
        schema = data.removeprefix(CATALOG).strip(".")
        return f"{schema}.{name}" if schema else name
    return f"{data.rstrip('/')}/{name}.parquet"


def _table(spark, data: str, name: str, required: bool):
    """Contract table `name` of `data`: `name.parquet` under a folder or URI (a file or a folder
    of part files), or the table `name` of a catalog schema when `data` is `catalog:SCHEMA`
    (`catalog:` alone: the current schema and temporary views). CSV is read on one machine only."""
    path = where(data, name)
    if data.startswith(CATALOG):
        if not spark.catalog.tableExists(path):
            if required:
                raise LeadscoreError(f"{data}: no table {path}; the {name} table is required")
            return None
        return spark.table(path)
    if not remote(data) and not Path(path).exists():
        if Path(data, f"{name}.csv").exists():
            raise LeadscoreError(f"{data}/{name}.csv: --engine spark reads Parquet; convert the table to {path}")
        if required:
            raise LeadscoreError(f"{data}: no {name}.parquet; the {name} table is required")
        return None
    try:
        return spark.read.parquet(path)
    except Exception as exc:
        raise LeadscoreError(f"{path}: Spark cannot read it as Parquet ({str(exc).splitlines()[0][:200]})") from None


def _require(frame, path: str, columns) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise LeadscoreError(f"{path}: missing required column(s): {', '.join(missing)}")


def handovers(spark, data: str, contract: ContractConfig, at_handover: bool, buckets: int | None = None):
    """Leads (one row per hand-over with `__mql_at` when `at_handover`, plus every lead once as
    the account population) and events, both tagged with their account's bucket."""
    from pyspark.sql import functions as F

    leads = _table(spark, data, "leads", required=True)
    for name in (*FIT_CATEGORICAL, *FIT_NUMERIC):
        if name not in leads.columns:
            leads = leads.withColumn(name, F.lit(None).cast("long" if name in FIT_NUMERIC else "string"))
    wanted = list(dict.fromkeys([*row_columns(contract), *PEOPLE]))
    _require(leads, where(data, "leads"), wanted)
    leads = leads.select(*wanted)
    n_buckets = buckets or max(1, -(-leads.count() // LEADS_PER_BUCKET))
    owners = leads.select("lead_id", "account_id").dropDuplicates(["lead_id"])
    bucket = F.pmod(F.xxhash64("account_id"), F.lit(n_buckets))
    leads = leads.withColumn(BUCKET, bucket)
    if at_handover:
        outcomes = _table(spark, data, "outcomes", required=False)
        if outcomes is None:
            raise LeadscoreError("--at-handover: the data folder has no outcomes table, so no hand-over times")
        _require(outcomes, where(data, "outcomes"), ["lead_id", "mql_at"])
        handed = outcomes.select("lead_id", F.col("mql_at").cast("timestamp").alias(HANDOVER))
        leads = leads.join(handed, "lead_id", "left")
    events = _table(spark, data, "events", required=False)
    if events is None:
        events = spark.createDataFrame([], "lead_id string, ts timestamp, type string")
    _require(events, where(data, "events"), ["lead_id", "ts", "type"])
    events = events.select("lead_id", F.col("ts").cast("timestamp").alias("ts"), "type")
    stray = events.join(owners, "lead_id", "left_anti").limit(5).collect()
    if stray:
        shown = ", ".join(repr(row["lead_id"]) for row in stray)
        raise LeadscoreError(
            f"{where(data, 'events')}, column 'lead_id': expected a lead_id present in leads; e.g. {shown}"
        )
    return leads, events.join(owners, "lead_id").withColumn(BUCKET, bucket).drop("account_id")


def feature_schema(config: FeatureConfig, contract: ContractConfig, with_rules: bool = True) -> str:
    """The Spark schema of the feature table (DDL): `build_features`' columns (`table_columns`),
    text for ids and categories, double for numbers; then the rule score."""
    fields = [f"`{name}` {SPARK_KINDS[kind]}" for name, kind in table_columns(config, contract).items()]
    if with_rules:
        fields += ["rule_score double", "rule_is_mql boolean"]
    return ", ".join(fields)


def _typed(frame: pd.DataFrame, config: FeatureConfig, contract: ContractConfig) -> pd.DataFrame:
    """Feature columns in the schema's types (a flag's int8 as double, a category as text)."""
    out = frame.copy()
    for name, kind in table_columns(config, contract).items():
        if kind == "text":
            column = out[name].astype(object)
            out[name] = column.where(column.notna(), None)
        elif kind == "number":
            out[name] = out[name].astype(float)
    return out


def scoring_stamp(as_of, at_handover: bool) -> pd.Timestamp | None:
    """The one scoring time of every bucket, fixed on the driver: `as_of` in UTC (default now);
    None at hand-over (each row's own mql_at)."""
    if at_handover:
        return None
    return to_utc(as_of) if as_of is not None else pd.Timestamp.now(tz="UTC")


def bucket_tables(
    people: pd.DataFrame, events: pd.DataFrame, as_of, at_handover: bool, contract: ContractConfig, data: str = ""
) -> tuple[Dataset, pd.DataFrame, object]:
    """One bucket of whole accounts as the single machine's tables, checked as it checks them: its
    leads once each (the account population), their events and, at hand-over, its hand-overs as
    outcomes (lead_id, mql_at); then the rows to score and as of when, chosen by `rows_to_score`.
    A contract error becomes the one line `spark_error` reads back."""
    try:
        leads = people.drop(columns=[BUCKET, HANDOVER], errors="ignore").drop_duplicates("lead_id")
        leads = leads.reset_index(drop=True)
        leads = validate(leads, leads_schema(contract), where(data, "leads"), leads["lead_id"])
        events = events.drop(columns=[BUCKET]).reset_index(drop=True)
        events = validate(events, events_schema(contract, leads["lead_id"]), where(data, "events"), events["lead_id"])
    except ContractError as exc:
        raise RuntimeError(f"{ERROR_MARK} {exc}") from None  # one line: what spark_error reads back
    outcomes = pd.DataFrame({"lead_id": pd.Series(dtype=object), "mql_at": pd.Series(dtype="datetime64[us, UTC]")})
    if at_handover:
        handed = people.loc[people[HANDOVER].notna().to_numpy(), ["lead_id", HANDOVER]]
        outcomes = handed.rename(columns={HANDOVER: "mql_at"}).reset_index(drop=True)
        outcomes["mql_at"] = pd.to_datetime(outcomes["mql_at"], utc=True)
    dataset = Dataset(leads=leads, events=events, outcomes=outcomes)
    if at_handover and outcomes.empty:  # a bucket without hand-overs has no rows (rows_to_score's columns)
        return dataset, outcomes.merge(leads, on="lead_id", how="left"), "mql_at"
    rows, when = rows_to_score(dataset, as_of, at_handover)
    return dataset, rows.reset_index(drop=True), when


def bucket_features(
    people: pd.DataFrame,
    events: pd.DataFrame,
    as_of,
    at_handover: bool,
    config: FeatureConfig,
    contract: ContractConfig,
    rules: RuleConfig | None,
    data: str = "",
) -> pd.DataFrame:
    """Features of one bucket of whole accounts: the single-machine checks (`bucket_tables`), then
    `build_features` with the bucket's leads as the account population (what runs in each Spark task)."""
    dataset, rows, when = bucket_tables(people, events, as_of, at_handover, contract, data)
    table = build_features(rows, dataset.events, when, config, contract, population=dataset.leads)
    table = _typed(table, config, contract)
    if rules is not None:
        scored = rule_score(table, rules)
        table["rule_score"], table["rule_is_mql"] = scored.score.astype(float), scored.is_mql.astype(bool)
    return table


def each_bucket(
    spark,
    data: str,
    contract: ContractConfig,
    at_handover: bool,
    apply: Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame],
    schema: str,
    buckets: int | None = None,
):
    """A Spark DataFrame (lazy) of `apply(people, events)` on each bucket of whole accounts
    (`handovers`), with the Spark schema `schema`."""
    leads, events = handovers(spark, data, contract, at_handover, buckets)
    return leads.groupBy(BUCKET).cogroup(events.groupBy(BUCKET)).applyInPandas(apply, schema)


def spark_features(
    spark,
    data: str,
    as_of,
    at_handover: bool,
    config: FeatureConfig,
    contract: ContractConfig,
    rules: RuleConfig | None,
    buckets: int | None = None,
):
    """The feature table as a Spark DataFrame (lazy): `bucket_features` on each bucket of accounts."""
    stamp = scoring_stamp(as_of, at_handover)

    def per_bucket(people: pd.DataFrame, acts: pd.DataFrame) -> pd.DataFrame:
        return bucket_features(people, acts, stamp, at_handover, config, contract, rules, data)

    schema = feature_schema(config, contract, with_rules=rules is not None)
    return each_bucket(spark, data, contract, at_handover, per_bucket, schema, buckets)


def write_parquet(frame, out: str) -> None:
    """Write a Spark DataFrame as a Parquet folder; a local `out` appears whole or not at all."""
    if remote(out):
        frame.write.mode("overwrite").parquet(out)
        return
    target = Path(out)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        frame.write.parquet(str(partial))
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        partial.rename(target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def spark_error(exc: Exception) -> LeadscoreError | None:
    """The contract error a Spark task raised, as the one-line error of the single-machine path."""
    text = str(exc)
    if ERROR_MARK not in text:
        return None
    message = text.split(ERROR_MARK, 1)[1].splitlines()[0].strip()
    return LeadscoreError(message)


def run(spark, action, progress: Callable[[int, int], None] | None = None, every: float = 0.5):
    """Run `action` (a Spark job) and report, every `every` seconds, the tasks done and in all
    of the stages running (`progress(done, total)`). A contract error raised in a task becomes
    the single-machine path's error."""
    outcome: dict = {}

    def job() -> None:
        try:
            outcome["value"] = action()
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=job, name="leadscore-spark-job", daemon=True)
    thread.start()
    tracker, total = spark.sparkContext.statusTracker(), 0
    while thread.is_alive():
        if progress is not None:
            stages = [tracker.getStageInfo(i) for i in tracker.getActiveStageIds()]
            stages = [s for s in stages if s is not None]
            if stages:
                total = sum(s.numTasks for s in stages)
                progress(sum(s.numCompletedTasks for s in stages), total)
        thread.join(every)
    if "error" not in outcome:
        if progress is not None and total:
            progress(total, total)
        return outcome.get("value")
    exc = outcome["error"]
    error = None if isinstance(exc, LeadscoreError) else spark_error(exc)
    if error is None:
        raise exc
    raise error from None


def parquet_out(out: Path, option: str = "--out") -> None:
    """`--out` (or another `option`) of a Spark command: a Parquet folder."""
    if out.suffix != ".parquet":
        raise LeadscoreError(f"{option} {out}: --engine spark writes Parquet; use a .parquet name")


@dataclass(frozen=True)
class Output:
    """A Parquet folder a Spark command writes: the DataFrame `build(spark)` gives (built once the
    outputs before it are written, so it may read them), the columns or SQL conditions (`flags`)
    whose rows are counted, what the progress bar calls it and the option that named the folder."""

    path: Path
    build: Callable
    flags: tuple[str, ...] = ()
    label: str = ""
    option: str = "--out"


def write_jobs(
    outputs: list[Output], master: str | None, conf: list[str] | None, bar
) -> list[tuple[int, dict[str, int]]]:
    """What `--engine spark` does for any command: start Spark, write each output in turn while
    `bar` (a rich Progress) shows its tasks, count the rows written and those with each flag set
    (per output), stop Spark."""
    for output in outputs:
        parquet_out(output.path, output.option)
    spark = session(master, conf_pairs(conf))
    try:
        counts = []
        with bar:
            for output in outputs:
                task = bar.add_task(f"{output.label} on Spark ({spark.sparkContext.master}), tasks", total=None)
                frame = output.build(spark)
                run(
                    spark,
                    lambda frame=frame, path=str(output.path): write_parquet(frame, path),
                    lambda done, total, task=task: bar.update(task, completed=done, total=total),
                )
                counts.append(summary(spark, str(output.path), output.flags))
        return counts
    finally:
        spark.stop()


def write_job(
    build: Callable, out: Path, master: str | None, conf: list[str] | None, label: str, flags: tuple[str, ...], bar
) -> tuple[int, dict[str, int]]:
    """`write_jobs` of one output: the DataFrame `build(spark)` gives, written at `out`."""
    return write_jobs([Output(out, build, flags, label)], master, conf, bar)[0]


def summary(spark, out: str, flags: tuple[str, ...]) -> tuple[int, dict[str, int]]:
    """Rows written to `out` and how many of them have each of `flags` (a boolean column or a SQL
    condition) true."""
    from pyspark.sql import functions as F

    sums = [F.sum(F.expr(flag).cast("long")).alias(f"__flag{i}") for i, flag in enumerate(flags)]
    row = spark.read.parquet(out).agg(F.count("*").alias("__n"), *sums).first()
    return int(row["__n"]), {flag: int(row[f"__flag{i}"] or 0) for i, flag in enumerate(flags)}


def conf_pairs(pairs: list[str] | None) -> dict[str, str]:
    """`--spark-conf KEY=VALUE` options as a dict."""
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise LeadscoreError(f"--spark-conf {pair!r}: expected KEY=VALUE, e.g. spark.driver.memory=8g")
        out[key.strip()] = value.strip()
    return out
