"""Small helpers on numpy column arrays, fast for one row and for a million.

Each helper applies one piece of logic; only its strategy changes with the size of the input
(a Python dict for a request, pandas' or Arrow's hashing for a batch; `np.lexsort` for a request,
packed `np.sort` passes for a batch), so results are identical.

A text column is a numpy array of Python objects (None: missing), as a request's columns are, or,
from a table read from a file, Arrow strings (null: missing; `to_columns(..., keep_categorical=True)`),
which the helpers read without making a Python object per value.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import repeat

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

SMALL = 512
Columns = dict[str, np.ndarray]


def is_missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def arrow_text(values) -> pa.Array | None:
    """`values` as one Arrow large-string array when they are Arrow strings, else None."""
    if type(values) is np.ndarray:  # a request's columns: the common case first
        return None
    if isinstance(values, pd.arrays.ArrowStringArray):
        values = pa.array(values)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array) and (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return values.cast(pa.large_string())
    return None


def objects(values) -> np.ndarray:
    """A text column as Python objects, None for missing."""
    text = arrow_text(values)
    return text.to_numpy(zero_copy_only=False) if text is not None else np.asarray(values, dtype=object)


def take(values, positions: np.ndarray):
    """The values at `positions`, of the same kind (numpy array or Arrow strings)."""
    text = arrow_text(values)
    return text.take(pa.array(positions)) if text is not None else values[positions]


def join(first, second):
    """Two columns one after the other: Arrow strings when both are, else numpy arrays."""
    a, b = arrow_text(first), arrow_text(second)
    if a is not None and b is not None:
        return pa.concat_arrays([a, b])
    if a is None and b is None:
        return np.concatenate([first, second])
    return np.concatenate([objects(first), objects(second)])


def missing(values) -> np.ndarray:
    """Whether each value is missing (`is_missing`)."""
    text = arrow_text(values)
    if text is not None:
        return text.is_null().to_numpy(zero_copy_only=False)
    if len(values) <= SMALL:
        return np.fromiter(map(is_missing, values), dtype=bool, count=len(values))
    return pd.isna(values)


def coalesce(values, other):
    """`values` where given, else `other` (text columns of one kind)."""
    a, b = arrow_text(values), arrow_text(other)
    if a is not None and b is not None:
        return pc.coalesce(a, b)
    if a is not None or b is not None:
        values, other = objects(values), objects(other)
    return np.where(missing(values), other, values)


def per_value(values, fn: Callable[[object], object], default=None) -> np.ndarray:
    """`fn` of each value, computed once per distinct value; missing values give `default`."""
    text = arrow_text(values)
    if text is not None:  # Arrow's hashing, and a Python object only per distinct value
        found, uniques = _factorize(text)
        return _lookup([fn(u) for u in uniques], default)[np.where(found < 0, len(uniques), found)]
    if len(values) <= SMALL:
        seen: dict = {}
        out = np.empty(len(values), dtype=object)  # None throughout
        if default is not None:
            out.fill(default)
        for i, value in enumerate(values):
            if value is None or value is pd.NA or (isinstance(value, float) and value != value):  # is_missing
                continue
            found = seen.get(value, seen)
            out[i] = seen.setdefault(value, fn(value)) if found is seen else found
        return out
    found, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    return _lookup([fn(u) for u in uniques], default)[found]


def _lookup(results: list, default) -> np.ndarray:
    """`results` as an object array, then `default` (at position -1 and len(results))."""
    out = np.empty(len(results) + 1, dtype=object)
    out[:-1] = results
    out[-1] = default
    return out


def _factorize(text: pa.Array) -> tuple[np.ndarray, list]:
    """Codes of Arrow strings in order of first appearance (-1: missing) and the distinct values."""
    encoded = pc.dictionary_encode(text)
    return encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64), encoded.dictionary.to_pylist()


def per_row(columns: list, fn: Callable[..., object]) -> np.ndarray:
    """`fn(*values)` of each row of `columns`, computed once per distinct row; `fn` reads any
    missing value (`is_missing`)."""
    n = len(columns[0])
    if n <= SMALL and all(isinstance(c, np.ndarray) for c in columns):
        rows = np.fromiter(zip(*columns, strict=True), dtype=object, count=n)
        return per_value(rows, lambda row: fn(*row))
    key, size, coded = np.zeros(n, dtype=np.int64), 1, []
    for column in columns:  # each row's codes combined into one number
        found, uniques = encode(column)
        coded.append((found, uniques))
        if size * len(uniques) >= 1 << 62:  # number the combinations seen so far afresh
            key = np.unique(key, return_inverse=True)[1].reshape(-1)
            size = int(key.max(initial=0)) + 1
        key, size = key * len(uniques) + found, size * len(uniques)
    _, first, back = np.unique(key, return_index=True, return_inverse=True)
    results = [fn(*(uniques[found[i]] for found, uniques in coded)) for i in first.tolist()]
    return _lookup(results, None)[back.reshape(-1)]


def codes(values, vocabulary) -> np.ndarray:
    """Position of each value in `vocabulary` (unique values), -1 where absent.

    `values` may be a pandas Categorical (as Parquet dictionary columns load): its few
    categories are looked up once instead of its many values; Arrow strings are looked up by
    Arrow's hashing."""
    if isinstance(values, pd.Categorical):
        mapped = np.append(codes(np.asarray(values.categories, dtype=object), vocabulary), -1)
        return mapped[values.codes]
    text = arrow_text(values)
    if text is not None:
        known = arrow_text(vocabulary)
        if known is None:
            try:
                known = pa.array(vocabulary, type=pa.large_string())
            except (pa.ArrowInvalid, pa.ArrowTypeError):  # a vocabulary of other objects than text
                return codes(text.to_numpy(zero_copy_only=False), vocabulary)
        return pc.index_in(text, value_set=known).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    vocabulary = objects(vocabulary) if arrow_text(vocabulary) is not None else vocabulary
    if len(values) <= 8 * SMALL and len(vocabulary) <= SMALL:
        where = {v: i for i, v in enumerate(vocabulary)}
        return np.fromiter(map(where.get, values, repeat(-1)), dtype=np.int64, count=len(values))
    return pd.Index(vocabulary).get_indexer(values)


def unique_last(values: np.ndarray) -> np.ndarray:
    """Positions of the last occurrence of each distinct value, ascending (missing values are one
    value)."""
    return last_codes(values)[0]


def last_codes(values) -> tuple[np.ndarray, np.ndarray]:
    """`unique_last(values)`, and the code of each value: the index of its own value's position
    among them (one hashing of the values). Every strategy gives the same positions in the same
    order: the order in which an account's people are summed, to the last bit."""
    text = arrow_text(values)
    if text is None and len(values) <= SMALL:
        keys = [None if is_missing(v) else v for v in values]
        latest = {key: i for i, key in enumerate(keys)}
        keep = sorted(latest.values())
        slot = {keys[i]: j for j, i in enumerate(keep)}
        code = np.fromiter(map(slot.__getitem__, keys), dtype=np.int64, count=len(keys))
        return np.array(keep, dtype=np.int64), code
    # codes of the reversed values count from the last occurrence backwards
    backwards, uniques = _first_codes(text[::-1] if text is not None else np.asarray(values, dtype=object)[::-1])
    newest = np.maximum.accumulate(backwards)
    first = np.flatnonzero(np.r_[True, newest[1:] > newest[:-1]])
    return (len(values) - 1 - first)[::-1], (len(uniques) - 1 - backwards)[::-1]


def encode(values) -> tuple[np.ndarray, np.ndarray]:
    """Each value's code and the distinct values (in order of first appearance) it indexes;
    missing values are one value, None."""
    if arrow_text(values) is None and len(values) <= SMALL:
        slot: dict = {}
        keys = (None if is_missing(v) else v for v in values)
        code = np.fromiter((slot.setdefault(key, len(slot)) for key in keys), dtype=np.int64, count=len(values))
        return code, np.array(list(slot), dtype=object)
    return _first_codes(values)


def _first_codes(values) -> tuple[np.ndarray, np.ndarray]:
    """Codes in order of first appearance, missing values being one value (None), by Arrow's or
    pandas' hashing, and the distinct values."""
    text = arrow_text(values)
    if text is not None:
        encoded = pc.dictionary_encode(text, null_encoding="encode")
        return encoded.indices.to_numpy().astype(np.int64), encoded.dictionary.to_numpy(zero_copy_only=False)
    code, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=False)
    uniques = np.asarray(uniques, dtype=object)
    uniques[pd.isna(uniques)] = None
    return code.astype(np.int64, copy=False), uniques


def groups(values) -> list[tuple[str, slice | np.ndarray]]:
    """Each distinct value as text, and the rows that hold it: a slice of every row when one value
    is all there is (a request's usual case), else a mask."""
    if len(values) <= SMALL:
        text = [str(v) for v in values]
        found = dict.fromkeys(text)
        if len(found) == 1:
            return [(text[0], slice(None))]
        text = np.array(text, dtype=object)
        return [(value, text == value) for value in found]
    text = np.asarray(values).astype(str)
    return [(value, text == value) for value in np.unique(text).tolist()]


def distinct(values: np.ndarray) -> np.ndarray:
    """Distinct values in order of first appearance."""
    return encode(values)[1]


def order_by(*keys: np.ndarray) -> np.ndarray | None:
    """The stable order that sorts rows by integer `keys` (the first the most significant), as
    `np.lexsort(keys[::-1])` gives it, or None when the rows are in that order already. A large
    input is sorted by packed `np.sort` passes (numpy sorts integers many times faster than it
    argsorts them)."""
    n = len(keys[0])
    if n <= SMALL:
        return np.lexsort(keys[::-1])
    order = None  # None: the rows' own order
    if in_order(*keys):
        return None
    bits = (n - 1).bit_length()  # the low bits of a packed value hold its position
    room, position = 63 - bits, np.arange(n, dtype=np.uint64)
    for key in reversed(keys):  # least significant first; each pass keeps the order of ties
        values = key if order is None else np.take(key, order)
        if np.all(values[1:] >= values[:-1]):
            continue
        if values.dtype.itemsize <= 2:  # numpy sorts 8- and 16-bit integers stably by radix
            moved = np.argsort(values, kind="stable")
            order = moved if order is None else np.take(order, moved)
            continue
        values = _unsigned(values)
        values -= values.min()
        width = int(values.max()).bit_length()
        for shift in range(0, width, room):
            packed = (values >> np.uint64(shift)) & np.uint64((1 << room) - 1) if width > room else values
            packed = packed << np.uint64(bits) | position
            packed.sort()
            moved = (packed & np.uint64((1 << bits) - 1)).astype(np.intp)
            order = moved if order is None else np.take(order, moved)
            if shift + room < width:
                values = np.take(values, moved)
    return order


def _unsigned(values: np.ndarray) -> np.ndarray:
    """Integers as uint64 in the same order."""
    if values.dtype.kind == "u":
        return values.astype(np.uint64)
    return values.astype(np.int64).view(np.uint64) ^ np.uint64(1 << 63)


def in_order(*keys: np.ndarray) -> bool:
    """Whether rows are already sorted by `keys` (the first the most significant)."""
    tied = None
    for key in keys:
        before, after = key[:-1], key[1:]
        down = after < before
        if (down if tied is None else down & tied).any():
            return False
        tied = after == before if tied is None else tied & (after == before)
    return True


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
    object arrays with None for missing, numbers as float. On request, categoricals are kept and
    Arrow strings kept as Arrow strings (the helpers here read them without a Python object each)."""
    out: Columns = {}
    for name in names:
        column = frame[name]
        if keep_categorical and isinstance(column.array, pd.Categorical):
            out[name] = column.array
        elif keep_categorical and isinstance(column.array, pd.arrays.ArrowStringArray):
            out[name] = arrow_text(column.array)
        elif isinstance(column.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(column.dtype):
            out[name] = micros(column)
        elif pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
            out[name] = column.to_numpy(dtype=float, na_value=np.nan)
        elif isinstance(column.array, pd.arrays.ArrowStringArray):  # Arrow makes the objects, None for missing
            out[name] = pa.array(column.array).to_numpy(zero_copy_only=False)
        else:
            values = column.astype(object).to_numpy()
            out[name] = np.where(pd.isna(values), None, values) if len(values) else values
    return out
