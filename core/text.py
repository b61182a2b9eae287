"""Text that no store and no reader of leadscore's tables can take: a NUL character (PostgreSQL
refuses it in any text column) or a lone UTF-16 surrogate U+D800..U+DFFF (not a character: it
cannot be encoded as UTF-8, so neither a database nor a Parquet file can hold it).

`text_problem` says what is wrong with one value (never repeating the value: it may be a lead's
personal data); `bad_text` marks the bad cells of a column.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

_BAD = re.compile("[\x00\ud800-\udfff]")
NUL = "contains a NUL character"
SURROGATE = "contains a lone surrogate (U+D800..U+DFFF: not a character)"


def text_problem(value: object) -> str | None:
    """What makes `value` unstorable text (NUL first), or None when it is fine or not text."""
    if not isinstance(value, str) or (value.isascii() and "\x00" not in value):
        return None
    found = _BAD.search(value)
    if found is None:
        return None
    return NUL if found.group() == "\x00" else SURROGATE


def bad_text(values):
    """A bool mask of the cells holding a NUL or a lone surrogate (missing values and non-text are
    fine). A Series gives a Series on its index, another array-like a numpy array, one value a bool."""
    if np.ndim(values) == 0:
        return text_problem(values) is not None
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    if series.dtype == object:
        mask = series.map(lambda value: text_problem(value) is not None).astype(bool)
    elif pd.api.types.is_string_dtype(series.dtype):  # Arrow strings are UTF-8: no surrogate fits in them
        mask = series.str.contains("\x00", regex=False).fillna(False).astype(bool)
    else:
        mask = pd.Series(False, index=series.index)
    return mask if isinstance(values, pd.Series) else mask.to_numpy()
