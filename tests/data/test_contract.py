"""Data tests: the lead data contract accepts good folders and names every problem in bad ones."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from core.config import load_config
from core.errors import LeadscoreError
from features.contract import ContractConfig, load_dataset
from tests.conftest import PROJECT, read_csv, write_csv


def _break(folder: Path, table: str, change) -> None:
    frame = read_csv(folder / f"{table}.csv")
    changed = change(frame)
    write_csv(frame if changed is None else changed, folder / f"{table}.csv")


def _error(folder: Path, config: ContractConfig | None = None) -> str:
    with pytest.raises(LeadscoreError) as info:
        load_dataset(folder, config)
    return str(info.value)


def test_generated_folder_is_valid_and_typed(small_csv_dir):
    data = load_dataset(small_csv_dir)
    assert len(data.leads) == 300
    assert len(data.events) > 0 and len(data.outcomes) > 0
    assert str(data.leads["created_at"].dtype) == "datetime64[us, UTC]"
    assert str(data.events["ts"].dtype) == "datetime64[us, UTC]"
    assert str(data.leads["company_size"].dtype) == "Int64"


def test_missing_column_is_named(data_copy):
    _break(data_copy, "leads", lambda f: f.drop(columns=["account_id"]))
    message = _error(data_copy)
    assert "leads.csv" in message and "missing required column(s): account_id" in message


def test_wrong_type_names_column_and_rows_never_values(data_copy):
    def change(frame):
        frame.loc[[2, 7], "company_size"] = ["about fifty", "12.5k"]

    _break(data_copy, "leads", change)
    message = _error(data_copy)
    assert "column 'company_size'" in message and "a whole number" in message
    assert message.endswith("2 row(s) fail: 3, 8")
    assert "about fifty" not in message and "12.5k" not in message  # a cell may hold PII


def test_negative_company_size_is_rejected(data_copy):
    _break(data_copy, "leads", lambda f: f.__setitem__("company_size", f["company_size"].where(f.index != 4, "-3")))
    message = _error(data_copy)
    assert "company_size" in message and ">= 0" in message and message.endswith("1 row(s) fail: 5")


def test_unparseable_timestamp_is_named(data_copy):
    _break(data_copy, "events", lambda f: f.loc.__setitem__((0, "ts"), "yesterday at noon"))
    message = _error(data_copy)
    assert "events.csv, column 'ts'" in message and "ISO 8601" in message and message.endswith("1 row(s) fail: 1")
    assert "yesterday" not in message  # rows, never the cell's value


def test_unknown_event_type_lists_the_vocabulary(data_copy):
    _break(data_copy, "events", lambda f: f.loc.__setitem__((3, "type"), "tiktok_like"))
    message = _error(data_copy)
    assert "column 'type'" in message and "pricing_page_view" in message and "tiktok_like" not in message


def test_extra_event_types_come_from_config(data_copy):
    _break(data_copy, "events", lambda f: f.loc.__setitem__((3, "type"), "tiktok_like"))
    data = load_dataset(data_copy, ContractConfig(extra_event_types=["tiktok_like"]))
    assert (data.events["type"] == "tiktok_like").sum() == 1


def test_unknown_decision_is_named(data_copy):
    _break(data_copy, "outcomes", lambda f: f.loc.__setitem__((0, "decision"), "maybe"))
    message = _error(data_copy)
    assert "outcomes.csv, column 'decision'" in message and "maybe" not in message and "recycled" in message


def test_several_problems_make_one_line_naming_each(data_copy):
    # emptying an open decision (no decided_at) breaks two expectations at once: a value in the
    # column, and decided_at present exactly when the decision is not open
    def change(frame):
        frame.loc[frame.index[frame["decision"] == "open"][0], "decision"] = None

    _break(data_copy, "outcomes", change)
    message = _error(data_copy)
    assert "\n" not in message and message.count(" | ") == 1
    assert "column 'decision': expected a value" in message and "decided_at empty for open decisions" in message


def test_duplicate_lead_ids_are_named(data_copy):
    def change(frame):
        frame.loc[5, "lead_id"] = frame.loc[4, "lead_id"]

    _break(data_copy, "leads", change)
    message = _error(data_copy)
    assert "column 'lead_id'" in message and "unique" in message and message.endswith("2 row(s) fail: 5, 6")


def test_events_for_unknown_leads_are_named(data_copy):
    _break(data_copy, "events", lambda f: f.loc.__setitem__((1, "lead_id"), "NOBODY"))
    message = _error(data_copy)
    assert "events.csv, column 'lead_id'" in message and "present in leads" in message and "NOBODY" not in message


def test_outcomes_for_unknown_leads_are_named(data_copy):
    _break(data_copy, "outcomes", lambda f: f.loc.__setitem__((0, "lead_id"), "GHOST"))
    assert _error(data_copy).endswith("1 row(s) fail: 1")  # the row, not the id it names


def test_decided_before_mql_is_named(data_copy):
    def change(frame):
        row = frame.index[frame["decision"] == "accepted"][0]
        frame.loc[row, "decided_at"] = "2000-01-01T00:00:00Z"
        change.row = row

    _break(data_copy, "outcomes", change)
    message = _error(data_copy)
    assert re.search(
        rf"outcomes\.csv: expected decided_at at or after mql_at; 1 row\(s\) fail: {change.row + 1}$", message
    )


def test_rejection_without_reason_is_named(data_copy):
    def change(frame):
        frame.loc[frame.index[frame["decision"] == "rejected"][0], "reason"] = ""

    _break(data_copy, "outcomes", change)
    assert "a reason code for every rejected or recycled lead" in _error(data_copy)


def test_unknown_reason_and_configured_reasons(data_copy):
    def change(frame):
        frame.loc[frame.index[frame["decision"] == "rejected"][0], "reason"] = "wrong_timezone"

    _break(data_copy, "outcomes", change)
    assert "wrong_timezone" not in _error(data_copy)
    custom = ContractConfig(reasons=[*ContractConfig().reasons, "wrong_timezone"])
    assert (load_dataset(data_copy, custom).outcomes["reason"] == "wrong_timezone").sum() == 1


def test_outcome_times_from_1970_to_now_only(data_copy):
    """The times /feedback refuses (core.decisions) are refused in a file too, by column and row."""

    def change(frame):
        frame.loc[0, "mql_at"] = "1900-01-01T00:00:00Z"
        decided = frame.index[frame["decided_at"] != ""]
        frame.loc[decided[1], "decided_at"] = "9999-12-31T00:00:00Z"
        change.row = decided[1]

    _break(data_copy, "outcomes", change)
    message = _error(data_copy)
    expected = "expected a time from 1970 to now (plus 5 minutes of clock skew); 1 row(s) fail"
    assert f"column 'mql_at': {expected}: 1 |" in message
    assert message.endswith(f"column 'decided_at': {expected}: {change.row + 1}")


def test_an_offset_is_read_as_the_same_instant_in_utc(data_copy):
    def change(frame):
        row = frame.index[frame["decided_at"] != ""][0]
        frame.loc[row, ["mql_at", "decided_at"]] = ["2026-01-02T04:00:00Z", "2026-01-02T10:30:00+05:30"]
        change.lead = frame.loc[row, "lead_id"]

    _break(data_copy, "outcomes", change)
    outcomes = load_dataset(data_copy).outcomes.set_index("lead_id")
    assert outcomes.loc[change.lead, "decided_at"] == pd.Timestamp("2026-01-02T05:00:00Z")


@pytest.mark.parametrize("column", ["lead_id", "reason"])
def test_a_nul_in_outcome_text_is_named(data_copy, column):
    """A NUL (which PostgreSQL refuses) in a Parquet outcomes table: the column and row are named."""
    frame = read_csv(data_copy / "outcomes.csv").replace("", None)
    row = frame.index[frame["decision"] == "rejected"][0]
    frame.loc[row, column] = f"{frame.loc[row, column]}\x00"
    (data_copy / "outcomes.csv").unlink()
    frame.to_parquet(data_copy / "outcomes.parquet")
    message = _error(data_copy)
    assert f"outcomes.parquet, column '{column}': expected text without NUL characters or lone surrogates" in message
    assert message.endswith(f"1 row(s) fail: {row + 1}")  # the row, never the cell's text


def test_every_problem_is_reported_at_once(data_copy):
    def change(frame):
        frame.loc[0, "created_at"] = "never"
        frame.loc[1, "company_size"] = "many"

    _break(data_copy, "leads", change)
    message = _error(data_copy)
    assert "created_at" in message and "company_size" in message


def test_first_rows_only_with_a_count_of_the_rest(data_copy):
    _break(data_copy, "events", lambda f: f.__setitem__("type", "bogus"))
    line = _error(data_copy)
    rows = len(read_csv(data_copy / "events.csv"))
    assert f"{rows} row(s) fail" in line and f"and {rows - 5} more" in line


def test_unknown_columns_are_kept(data_copy):
    _break(data_copy, "leads", lambda f: f.__setitem__("crm_owner", "team-a"))
    assert (load_dataset(data_copy).leads["crm_owner"] == "team-a").all()


def test_optional_fit_columns_may_be_absent(data_copy):
    _break(data_copy, "leads", lambda f: f.drop(columns=["seniority", "company_size"]))
    leads = load_dataset(data_copy).leads
    assert leads["seniority"].isna().all() and leads["company_size"].isna().all()


def test_declared_extra_fit_column_becomes_required(data_copy):
    config = ContractConfig(extra_fit_columns={"annual_revenue_band": "categorical"})
    assert "missing required column(s): annual_revenue_band" in _error(data_copy, config)


def test_events_and_outcomes_are_optional(data_copy):
    (data_copy / "events.csv").unlink()
    (data_copy / "outcomes.csv").unlink()
    data = load_dataset(data_copy)
    assert len(data.leads) == 300 and data.events.empty and data.outcomes.empty


def test_missing_leads_file(data_copy):
    (data_copy / "leads.csv").unlink()
    assert "no leads.csv or leads.parquet" in _error(data_copy)


def test_csv_and_parquet_side_by_side_is_ambiguous(data_copy):
    read_csv(data_copy / "leads.csv").to_parquet(data_copy / "leads.parquet")
    assert "both leads.csv and leads.parquet" in _error(data_copy)


def test_parquet_folder_is_read(small_csv_dir, tmp_path):
    for name in ("leads", "events", "outcomes"):
        read_csv(small_csv_dir / f"{name}.csv").replace("", None).to_parquet(tmp_path / f"{name}.parquet")
    data = load_dataset(tmp_path)
    assert len(data.leads) == 300 and str(data.outcomes["mql_at"].dtype) == "datetime64[us, UTC]"


def test_byte_order_mark_is_accepted(data_copy):
    path = data_copy / "leads.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert "lead_id" in load_dataset(data_copy).leads.columns


def test_non_utf8_file(data_copy):
    path = data_copy / "leads.csv"
    path.write_bytes(path.read_bytes().replace(b"Marketing", "Márketing".encode("latin-1")))
    message = _error(data_copy)
    assert "leads.csv" in message and "not UTF-8" in message


def test_empty_file(data_copy):
    (data_copy / "events.csv").write_bytes(b"")
    assert re.search(r"events\.csv: the file is empty", _error(data_copy))


def test_duplicate_header(data_copy):
    path = data_copy / "leads.csv"
    text = path.read_text()
    header, rest = text.split("\n", 1)
    path.write_text(header.replace("department", "industry") + "\n" + rest)
    assert "duplicate column names in the header: industry" in _error(data_copy)


def test_timestamps_with_offsets_are_converted_to_utc(data_copy):
    _break(data_copy, "leads", lambda f: f.loc.__setitem__((0, "created_at"), "2024-03-01T12:00:00+02:00"))
    leads = load_dataset(data_copy).leads
    assert leads.loc[0, "created_at"] == pd.Timestamp("2024-03-01T10:00:00Z")


def test_shipped_contract_config_equals_the_defaults():
    assert load_config(PROJECT / "features" / "defaults" / "contract.yaml", ContractConfig) == ContractConfig()


def test_config_with_unknown_field_names_it(tmp_path):
    path = tmp_path / "contract.yaml"
    path.write_text(yaml.safe_dump({"reasons": ["bad_fit"], "reason_codes": ["x"]}))
    with pytest.raises(LeadscoreError, match=r"contract\.yaml: reason_codes: Extra inputs are not permitted"):
        load_config(path, ContractConfig)
