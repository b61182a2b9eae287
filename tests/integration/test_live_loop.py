"""The live loop end to end (issue #25): sales' acceptance doubles in one segment, `monitor` names
the segment and the `recalibrate` command, the command runs as printed, the service serves the
new version, and a second `monitor` over later weeks has no calibration alert."""

from __future__ import annotations

import json
import shlex
import shutil

import pandas as pd
import pytest

from core.store import FeedbackStore
from synthetic.crm import CRM
from synthetic.drift import parse
from synthetic.future import default_start, read_history
from synthetic.simulate import Options, simulate
from tests.code.test_cli import run
from tests.conftest import KEY, _client
from tests.waiting import wait_for

SEGMENT = "smb"
# the world's own rate (about 500 leads a week: more would crowd its accounts with contacts, a drift of
# the account features that is not the one under test); weeks enough for smb to get a map of its own
EXPLORE, WEEKS, LATER_WEEKS, DRAIN = 0.2, 14, 10, 2


def _world(trained, root):
    """The session model's world (40,000 leads, 2024-2025) and its MLflow store, copied into `root`."""
    world = root / "world"
    shutil.copytree(trained["data"], world)
    shutil.copy(trained["root"] / "mlflow.db", root / "mlflow.db")
    return world


def _simulate(monkeypatch, root, world, options: Options, spec: str | None) -> dict:
    """`options` simulated through a new service instance (it loads @champion when it starts) whose
    store is root/feedback.db, exploring `options.explore`; LEADSCORE_DB_URL and the MLflow URIs stay
    set, so the commands' `default` is that store."""
    monkeypatch.setenv("LEADSCORE_EXPLORE_SHARE", str(options.explore or 0))
    monkeypatch.setenv("LEADSCORE_EXPLORE_SEED", "3")
    store = FeedbackStore(f"sqlite:///{root / 'feedback.db'}")
    since = pd.Timestamp(options.start, unit="s", tz="UTC")
    with _client(monkeypatch, root, f"sqlite:///{root / 'mlflow.db'}") as client:
        summary = simulate(world, CRM("http://testserver", KEY, http=client), options, parse(spec))
        # the service logs off the request path: wait until all of this run is there (counted from the
        # run's start: the writer's retention, 90 days before the newest answer, prunes older runs' rows)
        logged = lambda: len(store.read_scores(["model_version"], since=since))  # noqa: E731
        assert wait_for(lambda: logged() >= summary["scored"], 60, every=0.5), (logged(), summary["scored"])
    store.engine.dispose()
    return summary


def _monitor(capsys, root, *more: str):
    """`leadscore monitor --db default` as a user types it; exit code, output and the JSON."""
    out = root / "out"
    out.mkdir(exist_ok=True)
    code, stdout, stderr = run(
        capsys, "monitor", "--db", "default", "--out", str(out / "m.html"), "--json", str(out / "m.json"), *more
    )
    return code, stdout, stderr, json.loads((out / "m.json").read_text())


def _week_after(world) -> pd.Timestamp:
    """The Monday on or after the day after the world's history."""
    day = pd.Timestamp(default_start(read_history(world)), unit="s", tz="UTC")
    return day + pd.Timedelta(days=(7 - day.weekday()) % 7)


def _show(capsys, *text: str) -> None:
    """Print past the capture (seen with -s): printed into it, the next command's output would hold it."""
    with capsys.disabled():
        print(*text)


def _calibration_alerts(summary: dict) -> list[dict]:
    return [alert for alert in summary["alerts"] if alert["kind"] == "calibration"]


@pytest.mark.slow
def test_acceptance_doubled_in_a_segment_alerts_then_recalibrate_clears_it(trained, monkeypatch, capsys, tmp_path):
    world = _world(trained, tmp_path)
    start = _week_after(world)  # 2026-01-05: 14 weeks to April, drifted from the first
    spec = f"from={start.date()},accept={SEGMENT}:2"
    weeks = dict(weeks=WEEKS, drain_weeks=DRAIN, explore=EXPLORE)
    first = Options(**weeks, seed=7, start=int(start.timestamp()))
    _simulate(monkeypatch, tmp_path, world, first, spec)
    code, out, err, before = _monitor(capsys, tmp_path, "--by", "month")
    _show(capsys, out)
    assert code == 1, out + err
    named = _calibration_alerts(before)
    assert SEGMENT in {name for alert in named for name in alert["names"]}, out
    line = next(line for line in out.splitlines() if line.startswith(f"ALERT calibration: {SEGMENT} "))
    command = f"leadscore recalibrate --since {start:%Y-%m}-01 --feedback-db default"
    assert f"`{command}`" in out, out  # the verdict names the command, from the month the drift began

    code, out, err = run(capsys, *shlex.split(command)[1:])
    _show(capsys, out, err)
    assert code == 0 and "version 2 (leadscore/1 recalibrated on the store" in out and "@champion" in out, out + err
    segments = out[out.index("by segment") :].splitlines()
    assert "its own" in next(row for row in segments if f" {SEGMENT} " in row), out  # smb has a map of its own

    later = start + pd.Timedelta(weeks=WEEKS + DRAIN + 2)  # after the first run's decisions drained
    second = Options(**(weeks | {"weeks": LATER_WEEKS}), seed=8, start=int(later.timestamp()))
    _simulate(monkeypatch, tmp_path, world, second, spec)  # a new service instance: it loads @champion
    code, out, err, after = _monitor(capsys, tmp_path, "--by", "month", "--since", f"{later:%Y-%m-%d}")
    _show(capsys, out)
    assert after["model_version"] == "leadscore/2", out
    assert _calibration_alerts(after) == [] and "ALERT calibration" not in out, out
    realised = pd.DataFrame(after["figures"]["calibration"]).query("kind == 'realised' and segment == @SEGMENT")
    assert (realised["n"] >= 100).any(), realised  # the segment was judged (monitor's min_decided): no alert
    _show(capsys, line, realised[["period", "n", "ece", "reference_ece"]].to_string())
