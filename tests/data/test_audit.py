"""The leakage audit (issue #17): sparse leaks, no alarms by chance, tied numbers, time columns."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import yaml

from features.audit import audit
from tests.code.test_cli import run
from tests.data.test_flat import X_EDUCATION, X_MAPPING, needs_x_education

N = 8_000


def _write(tmp_path, frame: pd.DataFrame, columns: dict, times: dict | None = None):
    """The export and a mapping declaring `columns` (besides Id and Won)."""
    path = tmp_path / "export.csv"
    frame.to_csv(path, index=False)
    mapping = {
        "source": "generated export",
        "id_column": "Id",
        "label": {"column": "Won", "positive": ["Yes"], "negative": ["No"]},
        "times": {"exported_at": "2024-01-01T00:00:00Z", **(times or {})},
        "columns": columns,
    }
    mapping_path = tmp_path / "mapping.yaml"
    mapping_path.write_text(yaml.safe_dump(mapping))
    return path, mapping_path


def _base(seed: int, rate: float = 0.1) -> tuple[pd.DataFrame, np.ndarray, np.random.Generator]:
    rng = np.random.default_rng(seed)
    won = rng.random(N) < rate
    frame = pd.DataFrame(
        {"Id": [f"L{i}" for i in range(N)], "Won": np.where(won, "Yes", "No"), "Job": rng.choice(["a", "b", "c"], N)}
    )
    return frame, won, rng


def test_a_column_filled_in_1_percent_of_rows_all_won_is_a_leak_and_keeping_it_fails(capsys, tmp_path):
    frame, won, rng = _base(0)
    filled = won & (rng.random(N) < 0.1)  # ~80 rows (1%), every one a win
    frame["Deal size"] = np.where(filled, rng.integers(1_000, 9_000, N).astype(str), "")
    report = audit(frame[["Job", "Deal size"]].replace("", None), won).set_index("column")
    assert 0.005 < filled.mean() < 0.015
    assert (
        report.loc["Deal size", "verdict"] == "leak" and "filled only for one outcome" in report.loc["Deal size", "why"]
    )
    assert report.loc["Job", "verdict"] == "ok"
    fit = {"Job": {"role": "fit", "as": "job"}}
    path, mapping_path = _write(tmp_path, frame, {**fit, "Deal size": {"role": "fit", "as": "deal", "kind": "numeric"}})
    code, out, _ = run(capsys, "audit", "--mapping", str(mapping_path), str(path))
    assert code == 1 and "keeps column(s) that look like leaks: Deal size" in out
    path, mapping_path = _write(tmp_path, frame, {**fit, "Deal size": {"role": "exclude", "reason": "set when won"}})
    code, out, _ = run(capsys, "audit", "--mapping", str(mapping_path), str(path))
    assert code == 0 and "Deal size (leak)" in out


def test_a_random_date_at_a_10_percent_base_rate_is_not_flagged():
    frame, won, rng = _base(1)
    days = pd.date_range("2022-01-01", periods=730, freq="D")
    dates = pd.Series(rng.choice(days, N)).dt.strftime("%Y-%m-%d")  # ~11 leads a day: many days without a win
    per_day = pd.Series(won).groupby(dates).agg(["sum", "size"])
    assert (per_day["sum"] == 0).sum() > 100  # the chance pattern the old audit called a leak
    report = audit(pd.DataFrame({"First contact": dates, "Job": frame["Job"]}), won).set_index("column")
    assert report.loc["First contact", "verdict"] == "ok", report.loc["First contact", "why"]


def test_a_96_percent_constant_number_whose_rare_values_predict_the_label_is_flagged():
    _, won, rng = _base(2)
    rare = won & (rng.random(N) < 0.4)  # 4% of rows: the rare values, all wins
    assert 0.03 < rare.mean() < 0.05
    score = np.where(rare, rng.uniform(10, 100, N).round(1), 0.0)
    report = audit(pd.DataFrame({"Score": score}), won).set_index("column")
    assert report.loc["Score", "verdict"] != "ok" and report.loc["Score", "auc"] > 0.6


def test_a_time_column_that_encodes_the_outcome_is_flagged_and_its_role_shown(capsys, tmp_path):
    frame, won, rng = _base(3)
    created = pd.Timestamp("2023-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 365 * 86_400, N), unit="s")
    frame["Created"] = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    handed_over = created + pd.to_timedelta(rng.integers(3_600, 30 * 86_400, N), unit="s")
    frame["Handed over"] = np.where(won, handed_over.strftime("%Y-%m-%dT%H:%M:%SZ"), "")  # only when won
    columns = {"Job": {"role": "fit", "as": "job"}, "Created": {"role": "exclude", "reason": "a time"}}
    path, mapping_path = _write(tmp_path, frame, columns, {"created_at": "Created", "mql_at": "Handed over"})
    code, out, _ = run(capsys, "audit", "--mapping", str(mapping_path), str(path))
    assert code == 1 and "keeps column(s) that look like leaks: Handed over" in out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 3}
    assert "leak" in rows["Handed over"] and "time (mql_at)" in rows["Handed over"]
    assert "ok" in rows["Created"] and "time (created_at)" in rows["Created"]  # not "excluded": the import reads it


def test_audit_matches_label_values_as_the_import_does(capsys, tmp_path):
    frame, _, _ = _base(4)
    frame.loc[5, "Won"] = "yes"  # the import refuses it; the audit must not read it as 'No'
    path, mapping_path = _write(tmp_path, frame, {"Job": {"role": "fit", "as": "job"}})
    code, _, err = run(capsys, "audit", "--mapping", str(mapping_path), str(path))
    assert code == 2 and "column 'Won': expected one of ['Yes', 'No']; 1 row(s) fail: 6\n" in err


@needs_x_education
def test_x_education_no_leak_on_a_kept_column_and_tags_stays_a_leak(capsys):
    code, out, _ = run(capsys, "audit", "--mapping", str(X_MAPPING), str(X_EDUCATION))
    assert code == 0 and "the mapping excludes every column the audit calls a leak" in out
    assert "Tags (leak)" in out.split("flagged:")[1]


def test_the_audit_reads_a_semicolon_export_without_ids_as_the_import_does(tmp_path, capsys):
    """The audit and the import share one reader: a `;`-separated export with a BOM and no id
    column is audited with the same mapping the import takes (`id_column: null`)."""
    rng = np.random.default_rng(3)
    n = 600
    won = rng.random(n) < 0.3
    frame = pd.DataFrame({"Won": np.where(won, "Yes", "No"), "Visits": rng.poisson(3, n)})
    export = tmp_path / "export.csv"
    export.write_text("\ufeff" + frame.to_csv(sep=";", index=False), encoding="utf-8")
    mapping = {
        "source": "generated export",
        "id_column": None,
        "label": {"column": "Won", "positive": ["Yes"], "negative": ["No"]},
        "times": {"exported_at": "2024-06-01T00:00:00Z"},
        "columns": {"Visits": {"role": "counter"}},
    }
    (tmp_path / "mapping.yaml").write_text(yaml.safe_dump(mapping), encoding="utf-8")
    code, out, err = run(capsys, "audit", str(export), "--mapping", str(tmp_path / "mapping.yaml"))
    assert code == 0, err
    assert "Visits" in out


def _timed(seed: int = 5, n: int = 1_500) -> pd.DataFrame:
    """An export with hand-over times, a reason column, a company column and a date known only for won leads."""
    rng = np.random.default_rng(seed)
    won = rng.random(n) < 0.3
    handed = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 300 * 86_400, n), unit="s")
    closed = handed + pd.to_timedelta(rng.integers(86_400, 20 * 86_400, n), unit="s")
    return pd.DataFrame(
        {
            "Id": [f"L{i}" for i in range(n)],
            "Won": np.where(won, "Yes", "No"),
            "Company": rng.choice([f"c{i}" for i in range(300)], n),
            "Job": rng.choice(["a", "b", "c"], n),
            "Handed over": handed.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Closed": closed.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Signed": np.where(won, closed.strftime("%Y-%m-%dT%H:%M:%SZ"), ""),
            "Lost reason": np.where(won, "", "no_budget"),
        }
    )


@pytest.mark.parametrize(
    "times",
    [
        {"mql_at": "Handed over", "calendar": ["month", "weekday", "hour"], "timezone": "Europe/Berlin"},
        {"created_at": ["Handed over"], "mql_at": "Handed over", "decided_at": "Closed", "calendar": ["hour"]},
        {"mql_at": "Handed over", "decided_at": ["Signed", "Closed", "exported_at"], "calendar": ["weekday"]},
    ],
)
def test_audit_with_calendar_and_every_time_option_answers_without_a_traceback(capsys, tmp_path, times):
    frame = _timed()
    columns = {
        "Job": {"role": "fit", "as": "job"},
        "Signed": {"role": "exclude", "reason": "known once won"},
        "Lost reason": {"role": "reason"},
    }
    if "Closed" not in str(times):
        columns["Closed"] = {"role": "exclude", "reason": "the decision"}
    if "Signed" in str(times):
        del columns["Signed"]
    path, mapping_path = _write(tmp_path, frame, columns, {"exported_at": "2025-01-01T00:00:00Z", **times})
    mapping = yaml.safe_load(mapping_path.read_text()) | {
        "account_column": "Company",
        "delimiter": ",",
        "encoding": "utf-8",
    }
    mapping_path.write_text(yaml.safe_dump(mapping))
    code, out, err = run(capsys, "audit", "--mapping", str(mapping_path), str(path))
    assert code in (0, 1), err
    assert "Traceback" not in err and "flagged:" in out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 3}
    assert "time (" in rows["Handed over"] and "reason code" in rows["Lost reason"]


def test_time_bins_are_shown_as_dates():
    """The audit's 'values seen with one outcome only' name a time column's bins by their dates."""
    frame = _timed()
    report = audit(frame[["Signed"]].replace("", np.nan), frame["Won"].eq("Yes").to_numpy())
    why = report.set_index("column").loc["Signed", "why"]
    assert re.search(r"'\d{4}-\d{2}-\d{2} to \d{4}-\d{2}-\d{2}'", why), why
    assert "e+09" not in why and "(17" not in why  # never seconds since 1970


def test_a_placeholder_filling_several_columns_is_pointed_out(capsys, tmp_path):
    frame, _, rng = _base(6)
    for column in ("City", "Field", "Heard from"):
        frame[column] = np.where(rng.random(N) < 0.3, "Select", rng.choice([f"{column} {i}" for i in range(4)], N))
    frame["Newsletter"] = rng.choice(["Yes", "No"], N)
    frame["Calls"] = rng.choice(["Yes", "No"], N)
    frame["Texts"] = rng.choice(["Yes", "No"], N)
    columns = {c: {"role": "fit"} for c in ("Job", "City", "Field", "Heard from", "Newsletter", "Calls", "Texts")}
    path, mapping_path = _write(tmp_path, frame, columns)
    code, out, err = run(capsys, "audit", "--mapping", str(mapping_path), str(path))
    assert code == 0, err
    said = " ".join(out.split())
    assert "placeholder? 'Select' fills 3 columns (City, Field, Heard from; 30% of their filled cells)" in said
    assert "add it to missing_values" in said and "placeholder? 'Yes'" not in said and "placeholder? 'No'" not in said
