"""Small helpers on numpy column arrays, fast for one row and for a million.

Each helper applies one piece of logic; only its strategy changes with the size of the input
(a Python dict for a request, pandas' hashing for a batch), so results are identical.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

SMALL = 512
Columns = dict[str, np.ndarray]


def is_missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def per_value(values: np.ndarray, fn: Callable[[object], object]) -> np.ndarray:
    """`fn` of each value, computed once per distinct value; missing values give None."""
    if len(values) <= SMALL:
        seen: dict = {}
        out = np.empty(len(values), dtype=object)
        for i, value in enumerate(values):
            if is_missing(value):
                out[i] = None
            elif value in seen:
                out[i] = seen[value]
            else:
                out[i] = seen[value] = fn(value)
        return out
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    lookup = np.empty(len(uniques) + 1, dtype=object)
    lookup[:-1] = [fn(u) for u in uniques]
    lookup[-1] = None
    return lookup[codes]


def member(values: np.ndarray, allowed) -> np.ndarray:
    """Whether each value is in `allowed` (missing: False)."""
    allowed = frozenset(allowed)
    return per_value(values, lambda v: v in allowed).astype(bool, copy=False) if len(values) else np.zeros(0, bool)


def codes(values, vocabulary: np.ndarray) -> np.ndarray:
    """Position of each value in `vocabulary` (unique values), -1 where absent.

    `values` may be a pandas Categorical (as Parquet dictionary columns load): its few
    categories are looked up once instead of its many values."""
    if isinstance(values, pd.Categorical):
        mapped = np.append(codes(np.asarray(values.categories, dtype=object), vocabulary), -1)
        return mapped[values.codes]
    if len(values) <= SMALL and len(vocabulary) <= SMALL:
        where = {v: i for i, v in enumerate(vocabulary)}
        return np.fromiter((where.get(v, -1) for v in values), dtype=np.int64, count=len(values))
    return pd.Index(vocabulary).get_indexer(values)


def unique_last(values: np.ndarray) -> np.ndarray:
    """Positions of the last occurrence of each distinct value, in order of first appearance."""
    if len(values) <= SMALL:
        last = {v: i for i, v in enumerate(values)}
        return np.fromiter(last.values(), dtype=np.int64, count=len(last))
    keep = ~pd.Series(values).duplicated(keep="last").to_numpy()
    return np.flatnonzero(keep)


def distinct(values: np.ndarray) -> np.ndarray:
    """Distinct values in order of first appearance."""
    if len(values) <= SMALL:
        return np.array(list(dict.fromkeys(values)), dtype=object)
    return pd.unique(pd.Series(values, dtype=object)).astype(object)


def to_utc(value) -> pd.Timestamp:
    """A timestamp in UTC; one without an offset is taken as UTC."""
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def micros(values) -> np.ndarray:
    """UTC microseconds since the epoch from any timestamp-like column."""
    series = pd.Series(values) if not isinstance(values, pd.Series) else values
    if not isinstance(series.dtype, pd.DatetimeTZDtype):
        series = pd.to_datetime(series, utc=True)
    return series.dt.as_unit("us").astype("int64").to_numpy()


def to_columns(frame: pd.DataFrame, names, keep_categorical: bool = False) -> Columns:
    """The named columns of a frame as numpy arrays: timestamps as UTC microseconds, text as
    object arrays with None for missing, numbers as float (categoricals kept on request)."""
    out: Columns = {}
    for name in names:
        column = frame[name]
        if keep_categorical and isinstance(column.dtype, pd.CategoricalDtype):
            out[name] = column.array
        elif isinstance(column.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(column.dtype):
            out[name] = micros(column)
        elif pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
            out[name] = column.to_numpy(dtype=float, na_value=np.nan)
        else:
            values = column.astype(object).to_numpy()
            out[name] = np.where(pd.isna(values), None, values) if len(values) else values
    return out
