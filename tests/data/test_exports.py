"""Flat exports as CRMs write them: any delimiter, a BOM, a non-UTF-8 encoding, no id column; and
errors that name the export's file and columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from core.errors import LeadscoreError
from features.contract import load_dataset
from features.flat import import_export, load_mapping
from features.tables import read_export, sniff_delimiter


def _frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """An export with accented values, quoted fields holding every delimiter, and a won date."""
    rng = np.random.default_rng(seed)
    won = rng.random(n) < 0.4
    return pd.DataFrame(
        {
            "Id": [f"P{i}" for i in range(n)],
            "Won": np.where(won, "Yes", "No"),
            "City": rng.choice(["Zürich", "Montréal", "São Paulo", "Köln"], n),
            "Note": rng.choice(['said "hi"; then left', "a, b | c\td", "plain"], n),
            "Visits": rng.poisson(3, n).astype(str),
            "Created": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 90, n), unit="D"),
        }
    ).assign(Created=lambda f: f["Created"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))


def _mapping(tmp_path, **changes) -> object:
    mapping = {
        "source": "generated export",
        "id_column": "Id",
        "label": {"column": "Won", "positive": ["Yes"], "negative": ["No"]},
        "times": {"exported_at": "2024-06-01T00:00:00Z", "created_at": "Created"},
        "columns": {
            "City": {"role": "fit", "as": "city"},
            "Note": {"role": "fit", "as": "note"},
            "Visits": {"role": "counter", "as": "visits"},
        },
    } | changes
    path = tmp_path / "mapping.yaml"
    path.write_text(yaml.safe_dump(mapping))
    return load_mapping(path)


def _import(tmp_path, frame: pd.DataFrame, name: str, mapping=None, **to_csv):
    path = tmp_path / name
    frame.to_csv(path, index=False, **to_csv)
    out = tmp_path / f"out-{name}"
    counts = import_export(path, mapping or _mapping(tmp_path), out)
    return counts, load_dataset(out)


@pytest.mark.parametrize("sep", [";", "\t", "|"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
def test_any_delimiter_bom_or_encoding_gives_the_comma_utf8_tables(tmp_path, sep, encoding):
    frame = _frame()
    _, expected = _import(tmp_path, frame, "comma.csv")
    counts, got = _import(tmp_path, frame, "other.csv", sep=sep, encoding=encoding)
    pd.testing.assert_frame_equal(got.leads, expected.leads)
    pd.testing.assert_frame_equal(got.outcomes, expected.outcomes)
    assert counts["delimiter"] == sep
    assert counts["encoding"] == ("cp1252" if encoding == "cp1252" else "utf-8")
    assert set(got.leads["city"]) == {"Zürich", "Montréal", "São Paulo", "Köln"}


def test_mapping_delimiter_and_encoding_override_detection(tmp_path):
    frame = _frame()
    path = tmp_path / "export.csv"
    frame.to_csv(path, index=False, sep="|", encoding="latin-1")
    read = read_export(path, delimiter="|", encoding="latin-1")
    pd.testing.assert_frame_equal(read, frame)
    assert read.attrs == {"delimiter": "|", "encoding": "latin-1"}
    counts = import_export(path, _mapping(tmp_path, delimiter="|", encoding="latin-1"), tmp_path / "out")
    assert (counts["delimiter"], counts["encoding"]) == ("|", "latin-1")
    with pytest.raises(LeadscoreError, match=r"export\.csv: not utf-8 text \(byte \d+ cannot be decoded\)"):
        read_export(path, encoding="utf-8")  # the accented cities are not UTF-8


def test_wrong_delimiter_says_which_one_the_file_looks_like(tmp_path):
    frame = _frame()
    path = tmp_path / "Leads.csv"
    frame[["Id", "Won", "Visits"]].to_csv(path, index=False, sep=";")
    mapping = _mapping(
        tmp_path, delimiter=",", columns={"Visits": {"role": "counter"}}, times={"exported_at": "2024-06-01T00:00:00Z"}
    )
    with pytest.raises(
        LeadscoreError,
        match=r"Leads\.csv: one column 'Id;Won;Visits' — the file looks ;-separated; set `delimiter: ';'`",
    ):
        import_export(path, mapping, tmp_path / "out")


def test_sniffer_reads_quoted_fields_that_hold_other_delimiters():
    text = 'a,b,c\n"x;y;z|w",2,"p\tq"\n"1;2",3,4\n'
    assert sniff_delimiter(text) == ","
    assert sniff_delimiter(text.replace(",", "\x00").replace(";", ",").replace("\x00", ";")) == ";"
    assert sniff_delimiter("only\none\n") == ","


def test_export_without_ids_imports_with_row_numbers(tmp_path):
    frame = _frame().drop(columns="Id")
    counts, data = _import(tmp_path, frame, "no_ids.csv", _mapping(tmp_path, id_column=None), sep=";")
    assert counts["leads"] == len(frame)
    assert list(data.leads["lead_id"][:3]) == ["1", "2", "3"]
    assert (data.outcomes["lead_id"] == data.leads["lead_id"]).all()
    assert data.leads.set_index("lead_id").loc["5", "city"] == frame.loc[4, "City"]  # row 5 = 5th row after header


def test_id_column_is_required_unless_null(tmp_path):
    path = tmp_path / "mapping.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "source": "s",
                "label": {"column": "y", "positive": ["1"], "negative": ["0"]},
                "times": {"exported_at": "2024-01-01"},
                "columns": {},
            }
        )
    )
    with pytest.raises(LeadscoreError, match="id_column"):
        load_mapping(path)


@pytest.mark.parametrize(
    ("column", "value", "shown"),
    [("Created", "next tuesday", "Created"), ("Visits", "-3", "Visits"), ("Visits", "many", "Visits")],
)
def test_bad_value_is_named_by_the_exports_file_and_column(tmp_path, column, value, shown):
    frame = _frame()
    frame.loc[6, column] = value
    path = tmp_path / "Leads.csv"
    frame.to_csv(path, index=False, sep=";")
    with pytest.raises(LeadscoreError) as caught:
        import_export(path, _mapping(tmp_path), tmp_path / "out")
    message = str(caught.value)
    assert f"Leads.csv, column '{shown}'" in message and message.endswith("1 row(s) fail: 7")
    assert value not in message.replace(str(tmp_path), "")  # the row, never the cell: it may be an email or a name
    assert ".import" not in message and "created_at" not in message and "visits'" not in message
    assert not (tmp_path / "out" / "leads.parquet").exists()


def test_duplicate_ids_are_named_by_the_id_column(tmp_path):
    frame = _frame()
    frame.loc[9, "Id"] = frame.loc[2, "Id"]
    path = tmp_path / "Leads.csv"
    frame.to_csv(path, index=False, sep="\t")
    with pytest.raises(LeadscoreError, match=r"Leads\.csv, column 'Id'"):
        import_export(path, _mapping(tmp_path), tmp_path / "out")


def test_excel_unicode_text_export_utf16_tab_separated(tmp_path):
    frame = _frame()
    _, expected = _import(tmp_path, frame, "comma.csv")
    counts, got = _import(tmp_path, frame, "unicode.txt", sep="\t", encoding="utf-16")
    assert (counts["delimiter"], counts["encoding"]) == ("\t", "utf-16")
    pd.testing.assert_frame_equal(got.leads, expected.leads)
