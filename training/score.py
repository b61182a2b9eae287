"""Batch scoring: every lead of a data folder through a registered model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from features.build import build_features, rows_to_score
from features.contract import load_dataset
from training import registry

CHUNK = 200_000


def score_folder(
    data: Path,
    model_uri: str,
    as_of=None,
    at_handover: bool = False,
    tracking_uri: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Scores for every lead as of `as_of` (default now), or for every hand-over as of its mql_at."""
    client = registry.connect(tracking_uri)
    model = registry.load_model(model_uri, client)
    dataset = load_dataset(data, model.contract)
    rows, when = rows_to_score(dataset, as_of, at_handover)
    parts = []
    starts = range(0, len(rows), CHUNK)
    for i, start in enumerate(starts):
        chunk = rows.iloc[start : start + CHUNK]
        features = build_features(
            chunk, dataset.events, when, model.feature_config, model.contract, population=dataset.leads
        )
        answer = model.predict(features)
        answer.insert(1, "as_of", features["as_of"].to_numpy())
        parts.append(answer)
        if progress:
            progress(i + 1, len(starts))
    if not parts:
        return pd.DataFrame(columns=["lead_id", "as_of", "probability"])
    out = pd.concat(parts, ignore_index=True)
    out["probability"] = out["probability"].astype(np.float64)
    return out
