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
