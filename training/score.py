"""Batch scoring: every lead of a data folder through a registered model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from core.schema import ANSWER, key_of, names
from features.build import account_chunks, build_features, rows_to_score
from features.contract import Dataset, load_dataset
from features.rules import RuleConfig
from training import registry
from training.answer import frame
from training.explain import Explainer
from training.model import LeadModel

CHUNK = 200_000  # rows per chunk (whole accounts, with their leads and events only)


def score_folder(
    data: Path | str,
    model_uri: str,
    as_of=None,
    at_handover: bool = False,
    tracking_uri: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    reasons: bool = False,
    rules: RuleConfig | None = None,
) -> pd.DataFrame:
    """Scores for every lead as of `as_of` (default now), or for every hand-over as of its mql_at:
    the answer (`core.schema.ANSWER`) with `as_of` after the id, in the rows' order; with
    `reasons`, each row's reasons in words (`top_reasons`); with `rules`, their rule score instead
    of the model's own."""
    model = registry.load_model(model_uri, registry.connect(tracking_uri))
    dataset = load_dataset(data, model.contract)
    return score_dataset(model, dataset, as_of, at_handover, progress, reasons, rules)


def score_dataset(
    model: LeadModel,
    dataset: Dataset,
    as_of=None,
    at_handover: bool = False,
    progress: Callable[[int, int], None] | None = None,
    reasons: bool = False,
    rules: RuleConfig | None = None,
) -> pd.DataFrame:
    """`score_folder` on tables already loaded, by a model already loaded."""
    rows, when = rows_to_score(dataset, as_of, at_handover)
    explainer = Explainer(model.feature_names, model.spec) if reasons else None
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
        answers = model.answers(features, contributions=reasons)
        tables = (rows.iloc[where], dataset.leads.iloc[people], dataset.events.iloc[acts])
        answer = frame(model, features, answers, rules, tables)
        answer.insert(1, "as_of", features["as_of"].to_numpy())
        if explainer is not None:
            answer["top_reasons"] = explainer.texts(
                answers.contributions, {c: features[c].to_numpy() for c in features}
            )
        parts.append(answer)
        positions.append(where)
        if progress:
            progress(i + 1, len(chunks))
    if not parts:
        key = key_of(ANSWER).name
        return pd.DataFrame(columns=[key, "as_of", *(n for n in names(ANSWER) if n != key)])
    out = pd.concat(parts, ignore_index=True)
    out = out.iloc[np.argsort(np.concatenate(positions), kind="stable")].reset_index(drop=True)  # rows' order
    out["probability"] = out["probability"].astype(np.float64)
    return out
