"""What loading a model and starting the service cost beyond the model itself, and that the cheaper
ways say and do the same: the model's pinned requirements are checked as MLflow's own check finds
them (which first maps every file of every installed package to its modules, 0.4-0.7 s a process),
and garbage collection pauses while MLflow and the model's code import, then runs again."""

from __future__ import annotations

import gc
import logging
import platform
from importlib.metadata import version

import pytest

from core.errors import LeadscoreError
from training.registry import collector_paused, mismatches, warn_mismatches

MATCHING = ("mlflow", "pandas", "numpy", "scikit-learn", "pyyaml", "venn-abers", "lightgbm")
DIFFERENT = ("pyarrow==1.0.0", "pydantic==2.0.0", "no-such-package-of-leadscore==1.0")


def _pins(folder, lines) -> None:
    (folder / "requirements.txt").write_text("\n".join(lines) + "\n")


def test_the_mismatches_are_those_mlflow_finds(tmp_path):
    from mlflow.utils.requirements_utils import _check_requirement_satisfied  # the reference

    lines = [f"{name}=={version(name)}" for name in MATCHING] + list(DIFFERENT)
    _pins(tmp_path, lines)
    ours = {found.split("==")[0] for found in mismatches(tmp_path, platform.python_version())}
    theirs = {info.package_name for line in lines if (info := _check_requirement_satisfied(line)) is not None}
    assert ours == theirs == {"pyarrow", "pydantic", "no-such-package-of-leadscore"}


def test_python_counts_by_major_and_minor_version(tmp_path):
    _pins(tmp_path, [f"numpy=={version('numpy')}"])
    major, minor, _ = platform.python_version_tuple()
    assert mismatches(tmp_path, f"{major}.{minor}.999") == []
    assert mismatches(tmp_path, "3.1.0") == [f"python 3.1.0 (here {platform.python_version()})"]
    assert mismatches(tmp_path / "nowhere", None) == []  # no requirements.txt: nothing to compare


def test_one_warning_names_every_mismatch(tmp_path, caplog):
    _pins(tmp_path, [f"numpy=={version('numpy')}", "pyarrow==1.0.0", "", "# a comment", "-r more.txt"])
    with caplog.at_level(logging.WARNING, logger="leadscore.training"):
        warn_mismatches("models:/leadscore/7", tmp_path, platform.python_version())
        warn_mismatches("models:/leadscore/8", tmp_path / "nowhere", None)  # all matches: no line
    [record] = caplog.records
    assert record.getMessage() == (
        f"model models:/leadscore/7 was saved in another environment: pyarrow==1.0.0 (here {version('pyarrow')}); "
        "its answers may differ"
    )


def test_the_collector_pauses_for_the_block_only():
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():  # nested: the outer block resumes it
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError), collector_paused():
        raise ValueError
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # paused by someone else: left so
    finally:
        gc.enable()


def test_a_start_that_fails_leaves_the_collector_running_and_nothing_frozen(monkeypatch):
    from serving.service import LeadScoring

    monkeypatch.delenv("LEADSCORE_API_KEY", raising=False)
    # a spy, not gc.get_freeze_count(): that count drops whenever an object frozen earlier in this
    # process is freed, so it cannot tell "nothing frozen" apart from "something frozen, some freed"
    freezes = []
    monkeypatch.setattr(gc, "freeze", lambda: freezes.append(1))
    with pytest.raises(LeadscoreError, match="LEADSCORE_API_KEY is not set"):
        LeadScoring.inner()
    assert gc.isenabled() and freezes == []
