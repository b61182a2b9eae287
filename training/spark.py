"""Batch scores on Apache Spark: the registered model applied to the Spark feature table
(`features.spark.spark_features`), on each Arrow batch of rows, exactly as `leadscore score` runs
it on one machine (`LeadModel.predict`). `pyspark` is imported by the caller's session only."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from core.schema import ANSWER, Field
from features.build import text_as_objects
from training.model import LeadModel

SPARK_TYPES = {"string": "string", "double": "double", "long": "long", "boolean": "boolean", "datetime": "timestamp"}


def score_schema(fields: tuple[Field, ...] = ANSWER) -> str:
    """The Spark schema (DDL) of the scores: the answer's fields (`core.schema.ANSWER`), with the
    scoring time after the id."""
    lead_id, *rest = fields
    columns = [f"{lead_id.name} string", "as_of timestamp", *(f"`{f.name}` {SPARK_TYPES[f.kind]}" for f in rest)]
    return ", ".join(columns)


def spark_scores(features, model: LeadModel):
    """Scores of a Spark feature table with a `LeadModel` (shipped to the workers with the task)."""
    longs = [f.name for f in ANSWER if f.kind == "long"]

    def per_batch(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for frame in batches:
            frame = text_as_objects(frame, model.contract)
            answer = model.predict(frame)
            answer.insert(1, "as_of", frame["as_of"].to_numpy())
            yield answer.astype(dict.fromkeys(longs, "int64"))

    return features.mapInPandas(per_batch, score_schema())
