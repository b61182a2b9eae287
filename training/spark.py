"""Batch scores on Apache Spark, from the single machine's code. Each Spark task takes one bucket of
whole accounts (`features.spark.each_bucket`), checks it and chooses its rows as the feature table
does (`features.spark.bucket_tables`), and scores it with `training.score.score_dataset`: the
features, the model's answers and each lead's account answer, which reads every contact of the
account. The account rows are `training.answer.account_rows` of the scores, per bucket of whole
accounts. `pyspark` is imported by the caller's session only."""

from __future__ import annotations

import pandas as pd

from core.schema import ACCOUNT, ACCOUNT_ID, ANSWER, Field, Kind, key_of, names
from features.spark import BUCKET, LEADS_PER_BUCKET, bucket_tables, each_bucket, scoring_stamp
from training.answer import ACCOUNT_LEADS, account_rows
from training.model import LeadModel
from training.score import score_dataset

SPARK_TYPES = {"string": "string", "double": "double", "long": "long", "boolean": "boolean", "datetime": "timestamp"}
# what a pandas column of each kind holds on its way to Spark: missing values stay missing
PANDAS_TYPES = {"string": object, "double": "float64", "long": "Int64", "boolean": "boolean"}
Layout = list[tuple[str, Kind]]


def score_layout(fields: tuple[Field, ...] = ANSWER) -> Layout:
    """The scores' columns and kinds: the answer's fields (`core.schema.ANSWER`), with the scoring
    time after the key."""
    key = key_of(fields)
    return [(key.name, key.kind), ("as_of", "datetime"), *((f.name, f.kind) for f in fields if f is not key)]


def account_layout() -> Layout:
    """The account rows' columns and kinds (`training.answer.account_rows`): the account's answer
    (`core.schema.ACCOUNT`) with the scoring time after the account, then what its scored leads
    were (`ACCOUNT_LEADS`)."""
    rest = [(f.name, f.kind) for f in (*ACCOUNT, *ACCOUNT_LEADS) if f is not ACCOUNT_ID]
    return [(ACCOUNT_ID.name, ACCOUNT_ID.kind), ("as_of", "datetime"), *rest]


def _ddl(layout: Layout) -> str:
    """A layout (key, scoring time, the rest) as a Spark DDL."""
    (key, kind), (time, _), *rest = layout
    return ", ".join([f"{key} {SPARK_TYPES[kind]}", f"{time} timestamp", *(f"`{n}` {SPARK_TYPES[k]}" for n, k in rest)])


def score_schema(fields: tuple[Field, ...] = ANSWER) -> str:
    """The Spark schema (DDL) of the scores (`score_layout`)."""
    return _ddl(score_layout(fields))


def account_schema() -> str:
    """The Spark schema (DDL) of the account rows (`account_layout`)."""
    return _ddl(account_layout())


def as_spark(frame: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    """`frame`'s columns of `layout`, in its order, each in the pandas type Spark reads as the
    column's kind (text with None for missing, nullable whole numbers and flags, UTC times)."""
    out = {}
    for name, kind in layout:
        column = frame[name]
        if kind == "datetime":
            out[name] = pd.to_datetime(column, utc=True)
        elif kind == "string":
            column = column.astype(object)
            out[name] = column.where(column.notna(), None)
        else:
            out[name] = column.astype(PANDAS_TYPES[kind])
    return pd.DataFrame(out, index=frame.index)


def bucket_scores(
    people: pd.DataFrame, events: pd.DataFrame, as_of, at_handover: bool, model: LeadModel, data: str = ""
) -> pd.DataFrame:
    """The scores of one bucket of whole accounts (what runs in each Spark task): the bucket's
    tables checked and its rows chosen as for its features, then `score_dataset` on them."""
    dataset, rows, _ = bucket_tables(people, events, as_of, at_handover, model.contract, data)
    layout = score_layout()
    if rows.empty:  # e.g. no hand-over in the bucket
        return as_spark(pd.DataFrame(columns=[name for name, _ in layout]), layout)
    return as_spark(score_dataset(model, dataset, as_of, at_handover), layout)


def spark_scores(spark, data: str, model: LeadModel, as_of, at_handover: bool, buckets: int | None = None):
    """The scores of every lead of `data` as of `as_of` (default now), or of every hand-over as of
    its mql_at, as a Spark DataFrame (lazy): `bucket_scores` on each bucket of accounts, with the
    `LeadModel` shipped to the workers with the task."""
    stamp = scoring_stamp(as_of, at_handover)

    def per_bucket(people: pd.DataFrame, acts: pd.DataFrame) -> pd.DataFrame:
        return bucket_scores(people, acts, stamp, at_handover, model, data)

    return each_bucket(spark, data, model.contract, at_handover, per_bucket, score_schema(), buckets)


def spark_accounts(scores, buckets: int | None = None):
    """One row per (account, as_of) of a Spark score table (`spark_scores`, or its Parquet folder
    read back): `account_rows` on each bucket of whole accounts, as a Spark DataFrame (lazy).
    Without `buckets`, one per `LEADS_PER_BUCKET` scores (counting them: cheap on a Parquet folder)."""
    from pyspark.sql import functions as F

    n = buckets or max(1, -(-scores.count() // LEADS_PER_BUCKET))
    account = names(ACCOUNT)[0]

    def per_bucket(frame: pd.DataFrame) -> pd.DataFrame:
        return as_spark(account_rows(frame), account_layout())

    bucketed = scores.withColumn(BUCKET, F.pmod(F.xxhash64(account), F.lit(n)))
    return bucketed.groupBy(BUCKET).applyInPandas(per_bucket, account_schema())
