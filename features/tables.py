"""Reading and writing contract tables as CSV or Parquet, with clear errors and atomic writes."""

from __future__ import annotations

import csv
import os
import tempfile
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from core.errors import LeadscoreError

FORMATS = ("csv", "parquet")


def find_table(folder: Path, name: str) -> Path | None:
    """The file holding table `name` in `folder` (`name.csv` or `name.parquet`), or None."""
    found = [folder / f"{name}.{fmt}" for fmt in FORMATS if (folder / f"{name}.{fmt}").is_file()]
    if len(found) > 1:
        raise LeadscoreError(f"{folder}: both {found[0].name} and {found[1].name} exist; keep only one of them")
    return found[0] if found else None


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV (every value as text, empty = missing) or Parquet file."""
    if path.suffix == ".parquet":
        try:
            return pd.read_parquet(path)
        except (OSError, pa.ArrowException, ValueError) as exc:
            raise LeadscoreError(f"{path}: not a readable Parquet file ({exc})") from None
    return _read_csv(path)


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), None)
    except UnicodeDecodeError as exc:
        raise LeadscoreError(f"{path}: not UTF-8 text (byte {exc.start} cannot be decoded); save it as UTF-8") from None
    except csv.Error as exc:
        raise LeadscoreError(f"{path}: cannot read the header row ({exc})") from None
    if not header or all(not col.strip() for col in header):
        raise LeadscoreError(f"{path}: the file is empty; expected a header row of column names")
    dupes = sorted(name for name, n in Counter(header).items() if n > 1)
    if dupes:
        raise LeadscoreError(f"{path}: duplicate column names in the header: {', '.join(dupes)}")
    try:
        return pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            encoding="utf-8-sig",
        )
    except UnicodeDecodeError as exc:
        raise LeadscoreError(f"{path}: not UTF-8 text (byte {exc.start} cannot be decoded); save it as UTF-8") from None
    except (pd.errors.ParserError, ValueError, csv.Error) as exc:
        raise LeadscoreError(f"{path}: malformed CSV ({exc})".replace("\n", " ")) from None


def write_table(frame: pd.DataFrame | pa.Table, path: Path) -> None:
    """Write a table by its file extension, atomically: readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    try:
        if path.suffix == ".parquet":
            pq.write_table(table, tmp, compression="zstd")
        elif path.suffix == ".csv":
            plain = pa.table([_undictionary(col) for col in table.columns], names=table.column_names)
            pacsv.write_csv(plain, tmp, pacsv.WriteOptions(quoting_style="needed"))
        else:
            raise LeadscoreError(f"{path}: unknown table format; use .csv or .parquet")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _undictionary(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_dictionary(column.type):
        return column.cast(column.type.value_type)
    return column
