"""Batch scoring: every lead of a data folder through a registered model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from features.build import account_chunks, build_features, rows_to_score
from features.contract import load_dataset
from training import registry

CHUNK = 200_000  # rows per chunk (whole accounts, with their leads and events only)


def score_folder(
    data: Path | str,
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
    parts, positions = [], []
    chunks = account_chunks(rows, dataset.leads, dataset.events, CHUNK)
    for i, (where, people, acts) in enumerate(chunks):
        features = build_features(
            rows.iloc[where],
            dataset.events.iloc[acts],
            when,
            model.feature_config,
            model.contract,
            population=dataset.leads.iloc[people],
        )
        answer = model.predict(features)
        answer.insert(1, "as_of", features["as_of"].to_numpy())
        parts.append(answer)
        positions.append(where)
        if progress:
            progress(i + 1, len(chunks))
    if not parts:
        return pd.DataFrame(columns=["lead_id", "as_of", "probability"])
    out = pd.concat(parts, ignore_index=True)
    out = out.iloc[np.argsort(np.concatenate(positions), kind="stable")].reset_index(drop=True)  # rows' order
    out["probability"] = out["probability"].astype(np.float64)
    return out
