"""Reading and writing contract tables as CSV or Parquet, with clear errors and atomic writes."""

from __future__ import annotations

import codecs
import csv
import io
import os
import tempfile
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from core.errors import LeadscoreError

FORMATS = ("csv", "parquet")
DELIMITERS = (",", ";", "\t", "|")
FALLBACK_ENCODINGS = ("cp1252", "latin-1")
_SAMPLE_CHARS = 64_000


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
            return _read_parquet(path)
        except (OSError, pa.ArrowException, ValueError) as exc:
            raise LeadscoreError(f"{path}: not a readable Parquet file ({exc})") from None
    return _read_csv(path)


def _read_parquet(path: Path) -> pd.DataFrame:
    """A Parquet file as `pd.read_parquet` reads it, its text read straight into the large Arrow
    strings that pandas' `str` columns hold (no copy of every string afterwards)."""
    schema = pads.dataset(path, format="parquet").schema  # a file, or a folder of part files
    wide = pa.schema([field.with_type(pa.large_string()) if _text(field.type) else field for field in schema])
    return pq.read_table(path, schema=wide.with_metadata(schema.metadata)).to_pandas()


def _text(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), None)
    except UnicodeDecodeError as exc:
        raise LeadscoreError(f"{path}: not UTF-8 text (byte {exc.start} cannot be decoded); save it as UTF-8") from None
    except csv.Error as exc:
        raise LeadscoreError(f"{path}: cannot read the header row ({exc})") from None
    _check_header(header, path)
    try:
        return _parse_csv(path, path, ",", encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LeadscoreError(f"{path}: not UTF-8 text (byte {exc.start} cannot be decoded); save it as UTF-8") from None


def _check_header(header: list[str] | None, path: Path) -> None:
    if not header or all(not col.strip() for col in header):
        raise LeadscoreError(f"{path}: the file is empty; expected a header row of column names")
    dupes = sorted(name for name, n in Counter(header).items() if n > 1)
    if dupes:
        raise LeadscoreError(f"{path}: duplicate column names in the header: {', '.join(dupes)}")


def _parse_csv(source: Path | io.StringIO, path: Path, sep: str, encoding: str | None = None) -> pd.DataFrame:
    """Parse CSV text with every value as text and empty = missing."""
    try:
        frame = pd.read_csv(source, sep=sep, dtype=str, keep_default_na=False, na_values=[""], encoding=encoding)
    except (pd.errors.ParserError, csv.Error) as exc:
        raise LeadscoreError(f"{path}: malformed CSV ({exc})".replace("\n", " ")) from None
    except pd.errors.EmptyDataError:
        raise LeadscoreError(f"{path}: the file is empty; expected a header row of column names") from None
    except ValueError as exc:
        if isinstance(exc, UnicodeDecodeError):
            raise
        raise LeadscoreError(f"{path}: malformed CSV ({exc})".replace("\n", " ")) from None
    return frame


def read_export(path: Path, delimiter: str | None = None, encoding: str | None = None) -> pd.DataFrame:
    """Read a flat CRM export as it comes: CSV with its delimiter (`,` `;` tab `|`), BOM and encoding
    detected unless given, or Parquet. Every CSV value is text, empty = missing; `frame.attrs`
    holds the `delimiter` and `encoding` used (for the import summary)."""
    if path.suffix == ".parquet":
        return read_table(path)
    text, used = _decode(path, encoding)
    sep = delimiter or sniff_delimiter(text)
    try:
        _check_header(next(csv.reader(io.StringIO(text), delimiter=sep), None), path)
    except csv.Error as exc:
        raise LeadscoreError(f"{path}: cannot read the header row ({exc})") from None
    frame = _parse_csv(io.StringIO(text), path, sep)
    _check_delimiter(frame, path, sep)
    frame.attrs.update(delimiter=sep, encoding=used)
    return frame


def _decode(path: Path, encoding: str | None) -> tuple[str, str]:
    """The file's text and the encoding it was read with: `encoding` if given, else UTF-8 (with or
    without a BOM; UTF-16 with a BOM), else cp1252, else latin-1 (which reads any byte)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LeadscoreError(f"{path}: cannot read the file ({exc.strerror})") from None
    if encoding:
        try:
            return data.decode(encoding), encoding
        except LookupError:
            raise LeadscoreError(f"{path}: unknown encoding '{encoding}' (e.g. utf-8, cp1252, latin-1)") from None
        except UnicodeDecodeError as exc:
            raise LeadscoreError(f"{path}: not {encoding} text (byte {exc.start} cannot be decoded)") from None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "utf-16"
    for candidate in ("utf-8-sig", *FALLBACK_ENCODINGS):
        try:
            text = data.decode(candidate)
        except UnicodeDecodeError:
            continue
        return text, "utf-8" if candidate == "utf-8-sig" else candidate
    raise AssertionError("latin-1 decodes any byte")  # pragma: no cover


def sniff_delimiter(text: str) -> str:
    """The delimiter among `,` `;` tab `|` that splits the first lines of `text` into the most
    columns, the same number on every line (quoted fields parsed as CSV does); `,` when none does."""
    sample = text[:_SAMPLE_CHARS]
    truncated = len(text) > len(sample)
    if truncated and "\n" in sample:
        sample = sample[: sample.rindex("\n") + 1]
    best, best_score = ",", (False, 1)
    for sep in DELIMITERS:
        try:
            rows = [row for row in csv.reader(io.StringIO(sample), delimiter=sep) if row]
        except csv.Error:
            continue
        if truncated:
            rows = rows[:-1]  # the last record may be cut inside a quoted field
        if not rows:
            continue
        width = len(rows[0])
        score = (all(len(row) == width for row in rows), width)
        if width > 1 and score > best_score:
            best, best_score = sep, score
    return best


def _check_delimiter(frame: pd.DataFrame, path: Path, sep: str) -> None:
    """One column whose name holds another delimiter: the file was split with the wrong one."""
    if frame.shape[1] != 1:
        return
    header = str(frame.columns[0])
    likely = [d for d in DELIMITERS if d != sep and d in header]
    if likely:
        shown = header if len(header) <= 40 else header[:40] + "…"
        named = {"\t": "tab"}.get(likely[0], likely[0])
        raise LeadscoreError(
            f"{path}: one column {shown!r} — the file looks {named}-separated; "
            f"set `delimiter: {likely[0]!r}` in the mapping"
        )


def write_table(frame: pd.DataFrame | pa.Table, path: Path) -> None:
    """Write a table by its file extension, atomically: readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    # plain values: Parquet dictionary-encodes each row group with the values it holds, where an
    # Arrow dictionary column would repeat its whole dictionary in every row group (a million ids
    # read twenty times over for the events of a million leads)
    plain = pa.table([undictionary(col) for col in table.columns], names=table.column_names)
    plain = plain.replace_schema_metadata(table.schema.metadata)  # pandas' dtypes read back as written
    try:
        if path.suffix == ".parquet":
            pq.write_table(plain, tmp, compression="zstd")
        elif path.suffix == ".csv":
            pacsv.write_csv(plain, tmp, pacsv.WriteOptions(quoting_style="needed"))
        else:
            raise LeadscoreError(f"{path}: unknown table format; use .csv or .parquet")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def undictionary(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A dictionary-encoded column as its plain values."""
    if pa.types.is_dictionary(column.type):
        return column.cast(column.type.value_type)
    return column
