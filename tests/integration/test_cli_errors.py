"""One line, never a traceback, and nothing created: the command line given arguments it cannot
use (bytes that are not UTF-8, a time past the year 9999) or stores that are not there or do
not answer (a folder, a SQLite file in a missing folder, a closed port, an unknown database)."""

from __future__ import annotations

import pytest

from tests.code.test_cli import run
from tests.live import free_port


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_an_argument_that_is_not_utf8_is_named_not_echoed(capsys):
    code, out, err = run(capsys, "feedback", "void", "fb-\udcff", "--why", "typo")  # b"\xff" as Python keeps it
    assert code == 2 and out == ""
    assert _one_line(err) == "error: argument 3: not valid UTF-8 text"
    code, _, err = run(capsys, "feedback", "list", "--lead", "L\udce9")
    assert code == 2 and _one_line(err) == "error: argument 4 (the value of --lead): not valid UTF-8 text"


def _unusable_tracking_uris(tmp_path) -> dict[str, str]:
    """URIs of tracking stores that are not there, and the words of the refusal."""
    closed = free_port()  # nothing listens there
    return {
        str(tmp_path): "a path, not a tracking store",
        f"sqlite:///{tmp_path / 'new' / 'dir' / 'mlflow.db'}": "no MLflow store at",
        f"http://127.0.0.1:{closed}": "does not answer",
        f"postgresql+psycopg://postgres@127.0.0.1:{closed}/mlflow": "does not answer (OperationalError)",
        "postgresql+psycopg://postgres@127.0.0.1:5432/no_such_database_h4": "does not answer (OperationalError)",
    }


@pytest.mark.parametrize("command", [["rollback"], ["promote", "1"], ["models"]])
def test_a_tracking_store_that_is_not_there_is_one_line_and_never_created(capsys, tmp_path, command):
    for uri, said in _unusable_tracking_uris(tmp_path).items():
        code, out, err = run(capsys, *command, "--tracking-uri", uri)
        assert code == 2 and out == "", (uri, out)
        assert said in _one_line(err), (uri, err)
    assert not (tmp_path / "new").exists()  # no empty registry made on the way


def test_recalibrate_and_retrain_never_create_an_empty_feedback_store(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LEADSCORE_DB_URL", raising=False)
    for argv in (
        ["recalibrate", "--feedback-db", "default"],
        ["retrain", "--data", str(tmp_path), "--feedback-db", "default"],
    ):
        code, _, err = run(capsys, *argv)
        assert code == 2 and _one_line(err).endswith(
            "leadscore.db: no feedback store there (the service creates it when it first starts)"
        )
    assert not (tmp_path / "leadscore.db").exists()


def test_a_since_past_the_year_9999_in_utc_is_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "recalibrate", "--since", "9999-12-31T23:59:59-14:00", "--data", str(tmp_path))
    assert code == 2 and "--since: '9999-12-31T23:59:59-14:00' is not an ISO 8601 date or time" in _one_line(err)
