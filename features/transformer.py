"""`LeadFeatures`: `build_features` as a scikit-learn transformer, for training pipelines.

Input `X` is a `LeadBatch` (leads to score, their as-of times, events and account context) or a
plain DataFrame of leads with an `as_of` column and no event log (e.g. a flat CRM export whose
engagement counters are columns). Categories seen in `fit` are kept; a category first seen at
scoring time becomes missing rather than an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from features.build import build_features, feature_names
from features.contract import ContractConfig, empty_events
from features.fit import categorical_columns
from features.settings import FeatureConfig


@dataclass
class LeadBatch:
    """Leads to featurise, as of `as_of` (a timestamp, a column name, or one value per row)."""

    leads: pd.DataFrame
    as_of: object = "as_of"
    events: pd.DataFrame = field(default_factory=empty_events)
    population: pd.DataFrame | None = None

    def __len__(self) -> int:
        return len(self.leads)


def learn_categories(frame: pd.DataFrame, columns: list[str], min_frequency: int = 5) -> dict[str, list[str]]:
    """Categories seen at least `min_frequency` times; any other becomes unknown at scoring time."""
    out = {}
    for column in columns:
        counts = frame[column].value_counts()
        out[column] = sorted(str(v) for v in counts.index[counts >= min_frequency])
    return out


class LeadFeatures(TransformerMixin, BaseEstimator):
    """Fit, engagement and account features with a fixed vocabulary of categories.

    min_frequency: categories seen fewer times than this in `fit` are treated as unknown.
    """

    def __init__(
        self, config: FeatureConfig | None = None, contract: ContractConfig | None = None, min_frequency: int = 5
    ):
        self.config = config
        self.contract = contract
        self.min_frequency = min_frequency

    def _build(self, X) -> pd.DataFrame:
        batch = X if isinstance(X, LeadBatch) else LeadBatch(leads=X)
        return build_features(
            batch.leads, batch.events, batch.as_of, self.config, self.contract, population=batch.population
        )

    def fit(self, X, y=None):
        frame = self._build(X)
        self.feature_names_out_ = np.asarray(feature_names(self.config, self.contract), dtype=object)
        contract = self.contract or ContractConfig()
        self.categorical_ = [c for c in categorical_columns(contract) if c in frame.columns]
        self.categories_ = learn_categories(frame, self.categorical_, self.min_frequency)
        self.n_features_in_ = len(self.feature_names_out_)
        return self

    def transform(self, X) -> pd.DataFrame:
        check_is_fitted(self, "categories_")
        frame = self._build(X)
        return self.encode(frame)

    def encode(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Feature rows from `build_features` with categories fixed to the fitted vocabulary."""
        out = frame[list(self.feature_names_out_)].copy()
        for column, categories in self.categories_.items():
            values = out[column].astype(object)
            out[column] = pd.Categorical(values.where(values.isin(categories)), categories=categories)
        numeric = [c for c in out.columns if c not in self.categories_]
        out[numeric] = out[numeric].astype(float)
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_.copy()
