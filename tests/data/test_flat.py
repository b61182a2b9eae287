"""Flat CRM exports: the mapping, `leadscore import` and the leakage audit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from core.errors import LeadscoreError
from features.audit import audit
from features.contract import load_dataset
from features.flat import import_export, load_mapping
from tests.code.test_cli import run
from tests.conftest import PROJECT, SHARED

X_EDUCATION = SHARED / "data" / "x_education" / "Leads.csv"
X_MAPPING = PROJECT / "configs" / "x_education" / "mapping.yaml"
needs_x_education = pytest.mark.skipif(
    not X_EDUCATION.is_file(), reason=f"X Education export not found at {X_EDUCATION} (../shared is absent)"
)


def _export(tmp_path, n: int = 400, seed: int = 0, signal: bool = False):
    """A small flat export: a fit column, a counter, a 'Select' placeholder, and a status column
    that sales fills in after the decision (the leak the mapping must exclude). The outcome is
    random (nothing predicts it) unless `signal`: then won leads visit twice as often."""
    rng = np.random.default_rng(seed)
    won = rng.random(n) < 0.4
    frame = pd.DataFrame(
        {
            "Id": [f"P{i}" for i in range(n)],
            "Won": np.where(won, "Yes", "No"),
            "Job": rng.choice(["Student", "Working Professional", "Select"], n),
            "Visits": rng.poisson(np.where(won & signal, 6, 3)).astype(str),
            "Status": np.where(won, "Closed won", rng.choice(["Lost to rival", "No answer"], n)),
        }
    )
    path = tmp_path / "export.csv"
    frame.to_csv(path, index=False)
    mapping = {
        "source": "test export",
        "id_column": "Id",
        "label": {"column": "Won", "positive": ["Yes"], "negative": ["No"]},
        "times": {"exported_at": "2024-01-01T00:00:00Z"},
        "missing_values": ["", "Select"],
        "columns": {
            "Job": {"role": "fit", "as": "occupation"},
            "Visits": {"role": "counter", "as": "visits"},
            "Status": {"role": "exclude", "reason": "set by sales after the decision"},
        },
    }
    mapping_path = tmp_path / "mapping.yaml"
    mapping_path.write_text(yaml.safe_dump(mapping))
    return path, mapping_path, mapping, frame


def test_import_writes_valid_self_describing_tables(tmp_path):
    path, mapping_path, _, frame = _export(tmp_path)
    counts = import_export(path, load_mapping(mapping_path), tmp_path / "out")
    data = load_dataset(tmp_path / "out")
    assert counts["leads"] == len(frame) and counts["accepted"] == (frame["Won"] == "Yes").sum()
    assert "Status" not in data.leads.columns and "status" not in data.leads.columns
    assert data.leads["occupation"].isna().sum() == (frame["Job"] == "Select").sum()
    assert data.leads["visits"].sum() == frame["Visits"].astype(int).sum()
    assert set(data.outcomes["decision"]) == {"accepted", "rejected"}
    assert (tmp_path / "out" / "contract.yaml").is_file()
    assert not (tmp_path / "out" / ".import").exists()


def test_import_replaces_stale_tables(tmp_path):
    path, mapping_path, _, _ = _export(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "events.csv").write_text("lead_id,ts,type\nX,2024-01-01,page_view\n")
    import_export(path, load_mapping(mapping_path), out, "csv")
    assert not (out / "events.csv").exists()
    assert load_dataset(out).events.empty


def test_undeclared_column_is_an_error(tmp_path):
    path, mapping_path, _, frame = _export(tmp_path)
    frame.assign(Notes="called twice").to_csv(path, index=False)
    with pytest.raises(LeadscoreError, match=r"column\(s\) not in the mapping: Notes; declare each"):
        import_export(path, load_mapping(mapping_path), tmp_path / "out")
    assert not (tmp_path / "out" / "leads.parquet").exists()


def test_mapping_naming_absent_column(tmp_path):
    path, mapping_path, _, frame = _export(tmp_path)
    frame.drop(columns="Visits").to_csv(path, index=False)
    with pytest.raises(LeadscoreError, match="the mapping names column\\(s\\) the export does not have: Visits"):
        import_export(path, load_mapping(mapping_path), tmp_path / "out")


def test_odd_label_values_are_named(tmp_path):
    path, mapping_path, _, frame = _export(tmp_path)
    frame.loc[3, "Won"] = "Maybe"
    frame.to_csv(path, index=False)
    with pytest.raises(LeadscoreError, match=r"column 'Won': expected one of \['Yes', 'No'\]; 1 row\(s\) fail: 4$"):
        import_export(path, load_mapping(mapping_path), tmp_path / "out")


def test_exclusion_needs_a_reason(tmp_path):
    _, mapping_path, mapping, _ = _export(tmp_path)
    mapping["columns"]["Status"] = {"role": "exclude"}
    mapping_path.write_text(yaml.safe_dump(mapping))
    with pytest.raises(LeadscoreError, match=r"columns\.Status: Value error, an excluded column needs a reason"):
        load_mapping(mapping_path)


def test_audit_flags_the_status_column_and_passes_honest_ones(tmp_path):
    _, _, _, frame = _export(tmp_path, n=2_000)
    y = (frame["Won"] == "Yes").to_numpy()
    report = audit(frame[["Job", "Visits", "Status"]].replace("Select", None), y).set_index("column")
    assert report.loc["Status", "verdict"] == "leak"
    assert report.loc["Visits", "verdict"] == "ok" and report.loc["Job", "verdict"] == "ok"


def test_audit_flags_missingness_that_depends_on_the_label():
    rng = np.random.default_rng(1)
    y = rng.random(3_000) < 0.4
    # a field sales fills in for the leads they work: present for 90% of accepted, 20% of the rest
    filled = np.where(y, rng.random(3_000) < 0.9, rng.random(3_000) < 0.2)
    notes = pd.Series(np.where(filled, rng.choice(["a", "b", "c"], 3_000), None))
    report = audit(pd.DataFrame({"notes": notes}), y)
    assert report.iloc[0]["verdict"] == "suspect" and "between empty and filled rows" in report.iloc[0]["why"]


def test_audit_command_exits_1_when_the_mapping_keeps_a_leak(capsys, tmp_path):
    path, mapping_path, mapping, _ = _export(tmp_path, n=2_000)
    code, out, _ = run(capsys, "audit", "--mapping", str(mapping_path), str(path))
    assert code == 0 and "excludes every column the audit calls a leak" in out
    mapping["columns"]["Status"] = {"role": "fit", "as": "status"}
    mapping_path.write_text(yaml.safe_dump(mapping))
    code, out, _ = run(capsys, "audit", "--mapping", str(mapping_path), str(path))
    assert code == 1 and "keeps column(s) that look like leaks: Status" in out


def test_audit_needs_mapping_or_label(capsys, tmp_path):
    path, _, _, _ = _export(tmp_path)
    code, _, err = run(capsys, "audit", str(path))
    assert code == 2 and "give either --mapping or --label" in err


def test_audit_with_a_label_instead_of_a_mapping(capsys, tmp_path):
    path, _, _, _ = _export(tmp_path, n=2_000)
    label = ("audit", "--label", "Won", "--missing-value", "", "--missing-value", "Select")
    code, out, _ = run(capsys, *label, "--positive", "Yes", str(path))
    assert code == 0 and out.strip().splitlines()[-1] == "flagged: Status (leak)"  # no mapping to disagree with
    code, _, err = run(capsys, *label, "--positive", "Won", str(path))
    assert code == 2 and "column 'Won': every row has the same label; check --positive" in err
    code, _, err = run(capsys, "audit", "--label", "Outcome", str(path))
    assert code == 2 and "no label column 'Outcome'" in err


@needs_x_education
def test_x_education_audit_flags_tags_and_lead_quality_and_agrees_with_the_mapping(capsys):
    code, out, _ = run(capsys, "audit", "--mapping", str(X_MAPPING), str(X_EDUCATION))
    assert code == 0
    flagged = out.split("flagged:")[1]
    assert "Tags (leak)" in flagged and "Lead Quality (" in flagged


@needs_x_education
def test_x_education_import_gives_valid_contract_tables(capsys, tmp_path):
    code, out, _ = run(capsys, "import", str(X_EDUCATION), "--mapping", str(X_MAPPING), "--out", str(tmp_path))
    assert code == 0 and "9,240 leads, 3,561 accepted" in out
    data = load_dataset(tmp_path)
    mapping = load_mapping(X_MAPPING)
    excluded = {mapping.target(c) for c, r in mapping.columns.items() if r.role == "exclude"}
    assert not excluded & set(data.leads.columns)
    assert {"total_visits", "time_on_site", "occupation", "source"} <= set(data.leads.columns)
    assert data.leads["industry"].notna().mean() < 0.7  # 'Select' became missing


@needs_x_education
def test_x_education_semicolon_export_with_a_bom_imports_like_the_original(tmp_path):
    semicolon = tmp_path / "Leads.csv"
    pd.read_csv(X_EDUCATION, dtype=str, keep_default_na=False).to_csv(
        semicolon, index=False, sep=";", encoding="utf-8-sig"
    )
    mapping = load_mapping(X_MAPPING)
    original = import_export(X_EDUCATION, mapping, tmp_path / "comma")
    counts = import_export(semicolon, mapping, tmp_path / "semicolon")
    assert (original["delimiter"], counts["delimiter"], counts["encoding"]) == (",", ";", "utf-8")
    expected, got = load_dataset(tmp_path / "comma"), load_dataset(tmp_path / "semicolon")
    pd.testing.assert_frame_equal(got.leads, expected.leads)
    pd.testing.assert_frame_equal(got.outcomes, expected.outcomes)


def test_import_says_which_calendar_features_it_adds(capsys, tmp_path):
    path, mapping_path, mapping, frame = _export(tmp_path)
    handed = pd.Timestamp("2023-06-01", tz="UTC") + pd.to_timedelta(np.arange(len(frame)) * 3_600, unit="s")
    frame.assign(Handed=handed.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(path, index=False)
    mapping["times"] |= {"mql_at": "Handed", "calendar": ["weekday", "hour"], "timezone": "Europe/Berlin"}
    mapping_path.write_text(yaml.safe_dump(mapping))
    code, out, err = run(capsys, "import", str(path), "--mapping", str(mapping_path), "--out", str(tmp_path / "d"))
    assert code == 0, err
    assert "calendar features handover_weekday, handover_hour (Europe/Berlin)" in " ".join(out.split())


def test_import_says_each_lead_is_its_own_account_only_without_an_account_column(capsys, tmp_path):
    path, mapping_path, mapping, frame = _export(tmp_path)
    code, out, err = run(capsys, "import", str(path), "--mapping", str(mapping_path), "--out", str(tmp_path / "a"))
    assert code == 0, err
    assert "each lead is its own account" in " ".join(out.split())
    frame.assign(Company=[f"C{i % 50}" for i in range(len(frame))]).to_csv(path, index=False)
    mapping_path.write_text(yaml.safe_dump({**mapping, "account_column": "Company"}))
    code, out, err = run(capsys, "import", str(path), "--mapping", str(mapping_path), "--out", str(tmp_path / "b"))
    assert code == 0, err
    assert "its own account" not in out
    assert load_dataset(tmp_path / "b").leads["account_id"].nunique() == 50
