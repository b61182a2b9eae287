"""`leadscore serve` starts BentoML with the service's settings: the model to serve comes from
--model-uri, else LEADSCORE_MODEL_URI, else the champion."""

from __future__ import annotations

import os

import pytest

from leadscore_cli import main


class Started(Exception):
    """Raised in place of exec'ing BentoML: carries its argv and environment."""


def _started(monkeypatch, *options: str) -> dict:
    def execve(path, argv, env):
        raise Started(argv, env)

    monkeypatch.setattr(os, "execve", execve)
    with pytest.raises(Started) as info:
        main(["serve", *options])
    argv, env = info.value.args
    assert argv[1:3] == ["serve", "serving.service:LeadScoring"]
    return env


@pytest.fixture
def keyed(monkeypatch, tmp_path):
    monkeypatch.setenv("LEADSCORE_API_KEY", "cli-key")
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the start's BentoML home goes there
    monkeypatch.delenv("LEADSCORE_MODEL_URI", raising=False)
    return monkeypatch


def test_the_environment_chooses_the_model_unless_the_option_is_given(keyed):
    keyed.setenv("LEADSCORE_MODEL_URI", "models:/leadscore/3")
    assert _started(keyed)["LEADSCORE_MODEL_URI"] == "models:/leadscore/3"
    env = _started(keyed, "--model-uri", "models:/leadscore@challenger")
    assert env["LEADSCORE_MODEL_URI"] == "models:/leadscore@challenger"


def test_without_either_the_champion_is_served(keyed):
    assert _started(keyed)["LEADSCORE_MODEL_URI"] == "models:/leadscore@champion"
    keyed.setenv("LEADSCORE_MODEL_URI", "")  # empty counts as not set, as for every setting
    assert _started(keyed)["LEADSCORE_MODEL_URI"] == "models:/leadscore@champion"


def test_help_says_where_the_default_comes_from(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one line per option: no word cut by the help's box
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    assert "LEADSCORE_MODEL_URI" in " ".join(capsys.readouterr().out.split())
