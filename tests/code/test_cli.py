"""Code tests for the `leadscore` command line: help, generate, validate and clean errors."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from leadscore_cli import main
from tests.conftest import read_csv, write_csv

COMMANDS = [
    "feedback",
    "generate",
    "validate",
    "features",
    "import",
    "audit",
    "train",
    "retrain",
    "promote",
    "rollback",
    "score",
    "serve",
    "compare",
]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(argv))
    out, err = capsys.readouterr()
    return info.value.code, out, err


def test_help_lists_every_subcommand(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in COMMANDS:
        assert command in out


@pytest.mark.parametrize("command", COMMANDS)
def test_each_subcommand_has_help(capsys, command):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0 and "Usage: leadscore " + command in out


def test_generate_then_validate(capsys, tmp_path):
    code, out, _ = run(capsys, "generate", "--leads", "500", "--seed", "2", "--out", str(tmp_path), "--format", "csv")
    assert code == 0
    assert "leads" in out and "500" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.csv", "leads.csv", "outcomes.csv", "world.json"]
    code, out, _ = run(capsys, "validate", str(tmp_path))
    assert code == 0 and "valid" in out


def test_bad_file_gives_one_clear_line_and_exit_2(capsys, data_copy):
    events = read_csv(data_copy / "events.csv")
    events.loc[2, "type"] = "hologram_call"
    write_csv(events, data_copy / "events.csv")
    code, _, err = run(capsys, "validate", str(data_copy))
    assert code == 2
    assert "error:" in err and "events.csv, column 'type'" in err and err.rstrip().endswith("1 row(s) fail: 3")
    assert "hologram_call" not in err  # the row, never the cell's value
    assert "Traceback" not in err


def test_bad_option_is_a_usage_error_not_a_traceback(capsys, tmp_path):
    code, _, err = run(capsys, "generate", "--leads", "0", "--out", str(tmp_path))
    assert code == 2 and "--leads" in err and "Traceback" not in err
    code, _, err = run(capsys, "generate", "--start", "someday", "--out", str(tmp_path))
    assert code == 2 and "--start" in err and "Traceback" not in err


def test_bad_config_file_is_named(capsys, small_csv_dir, tmp_path):
    config = tmp_path / "contract.yaml"
    config.write_text("reasons: [bad_fit\n")
    code, _, err = run(capsys, "validate", str(small_csv_dir), "--config", str(config))
    assert code == 2 and "contract.yaml: not valid YAML" in err


def test_installed_console_script(tmp_path):
    script = shutil.which("leadscore", path=str(sys.prefix) + "/bin")
    assert script, "the leadscore console script is not installed in this environment"
    done = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "generate" in done.stdout


def test_features_at_handover_and_as_of(capsys, small_csv_dir, tmp_path):
    import pandas as pd

    out = tmp_path / "features.parquet"
    code, text, _ = run(capsys, "features", "--data", str(small_csv_dir), "--out", str(out), "--at-handover")
    assert code == 0 and "rows" in text
    table = pd.read_parquet(out)
    outcomes = read_csv(small_csv_dir / "outcomes.csv")
    assert len(table) == len(outcomes)
    assert {"rule_score", "rule_is_mql", "n_pricing_page_view_7d", "account_contacts"} <= set(table.columns)
    assert not {"decision", "reason", "decided_at"} & set(table.columns)

    out = tmp_path / "features.csv"
    code, text, err = run(capsys, "features", "--data", str(small_csv_dir), "--out", str(out), "--as-of", "2024-06-01")
    leads = read_csv(small_csv_dir / "leads.csv")
    early = (pd.to_datetime(leads["created_at"], utc=True) <= pd.Timestamp("2024-06-01", tz="UTC")).sum()
    assert code == 0 and len(pd.read_csv(out)) == early < len(leads)
    assert "created after" in err


def test_features_bad_options(capsys, small_csv_dir, tmp_path):
    args = ("features", "--data", str(small_csv_dir))
    code, _, err = run(capsys, *args, "--out", str(tmp_path / "f.txt"))
    assert code == 2 and "use a .parquet or .csv" in err
    code, _, err = run(capsys, *args, "--out", str(tmp_path / "f.csv"), "--as-of", "soon")
    assert code == 2 and "--as-of: 'soon' is not a timestamp" in err
    code, _, err = run(capsys, *args, "--out", str(tmp_path / "f.csv"), "--as-of", "2025-01-01", "--at-handover")
    assert code == 2 and "exclude each other" in err
    assert not (tmp_path / "f.csv").exists()


def test_serve_refuses_to_start_without_an_api_key(capsys, monkeypatch):
    monkeypatch.delenv("LEADSCORE_API_KEY", raising=False)
    code, _, err = run(capsys, "serve")
    assert code == 2 and "LEADSCORE_API_KEY is not set" in err
