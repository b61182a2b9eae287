"""The vocabulary of categorical features, learnt from the training rows (`learn_categories`).

Training (`training/fit.encode_periods`) fixes it on the training period, so that a category
first seen at scoring time becomes missing rather than an error.
"""

from __future__ import annotations

import pandas as pd


def learn_categories(frame: pd.DataFrame, columns: list[str], min_frequency: int = 5) -> dict[str, list[str]]:
    """Categories seen at least `min_frequency` times; any other becomes unknown at scoring time."""
    out = {}
    for column in columns:
        counts = frame[column].value_counts()
        out[column] = sorted(str(v) for v in counts.index[counts >= min_frequency])
    return out
