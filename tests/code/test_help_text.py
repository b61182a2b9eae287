"""Help texts show what they say: `[spark]` in `pip install '.[spark]'` is not eaten as rich markup."""

from __future__ import annotations

import pytest

from tests.code.test_cli import run


@pytest.mark.parametrize("command", ["score", "features"])
def test_the_engine_help_shows_the_spark_extra(capsys, command, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # one line per option: the text is not folded
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert "pip install '.[spark]'" in out


def test_the_help_loads_no_data_library():
    """`leadscore --help` (and every command's) builds the command tree only: pandas, SQLAlchemy,
    MLflow and LightGBM are imported by the commands that run, so the help comes at once."""
    import subprocess
    import sys

    script = (
        "import sys, leadscore_cli; leadscore_cli.build_app(); "
        "print(sorted(m for m in ('pandas', 'sqlalchemy', 'mlflow', 'lightgbm', 'numpy') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]", done.stdout
