"""`leadscore monitor` on what the service really logged: the session's trained model (with its
reference profile) serves simulated weeks (`leadscore simulate` through the ASGI app, "as_of
throughout"), once as the world goes on and once with drift injected from the second week
(company sizes cut tenfold, every lead from one source). The undrifted store: exit 0, no alert;
the drifted: exit 1 naming `company_size` and `source`. The page
opened in Chromium, the JSON's gauges, the figures on the model version in MLflow, a data folder
monitored without the service (the model's own test period: no drift), and bad input as one line.

The drift changes the leads that ARRIVE from its date; they raise their hand days to weeks later
(a steady funnel: synthetic/future.py), so the weeks after the drift began show it growing: the
first week after it, a tenth of the hand-raisers are drifted, by the fourth most of them."""

from __future__ import annotations

import json
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

WEEKS, LEADS_PER_WEEK = 5, 600  # ~300 hand-raisers a week (>= the alerts' min_rows, 200) to judge drift
SOURCE = "paid_social"


def _simulated(trained, root, drift: str | None) -> dict:
    """The trained model's world continued WEEKS weeks (from the Monday after its history, so a
    simulated week is a monitored week) through the service into `root`'s store."""
    world = root / "world"
    shutil.copytree(trained["data"], world)
    day = pd.Timestamp(default_start(read_history(world)), unit="s", tz="UTC")
    start = day + pd.Timedelta(days=(7 - day.weekday()) % 7)
    spec = drift.format(day=(start + pd.Timedelta(days=7)).date()) if drift else None
    shutil.copy(trained["root"] / "mlflow.db", root / "mlflow.db")
    tracking, db = f"sqlite:///{root / 'mlflow.db'}", f"sqlite:///{root / 'feedback.db'}"
    with pytest.MonkeyPatch.context() as patch, _client(patch, root, tracking) as client:
        options = Options(weeks=WEEKS, leads_per_week=LEADS_PER_WEEK, seed=7, start=int(start.timestamp()))
        summary = simulate(world, CRM("http://testserver", KEY, http=client), options, parse(spec))
        store = FeedbackStore(db)  # the service logs off the request path: wait until all is there
        assert wait_for(lambda: len(store.read_scores()) >= summary["scored"], 30, every=0.2)
    return {"db": db, "tracking": tracking, "world": world, "start": start}


@pytest.fixture(scope="module")
def steady(trained, tmp_path_factory):
    return _simulated(trained, tmp_path_factory.mktemp("steady"), None)


@pytest.fixture(scope="module")
def drifted(trained, tmp_path_factory):
    return _simulated(trained, tmp_path_factory.mktemp("drifted"), f"from={{day}},company_size=0.1,source={SOURCE}")


def _monitor(capsys, world: dict, out, *more: str) -> tuple[int, str, str, dict]:
    page, figures = out / "monitor.html", out / "monitor.json"
    argv = ["monitor", "--db", world["db"], "--tracking-uri", world["tracking"], "--out", str(page)]
    code, stdout, stderr = run(capsys, *argv, "--json", str(figures), *more)
    return code, stdout, stderr, json.loads(figures.read_text()) if figures.exists() else {}


def _psi(summary: dict, field: str, segment: str = "all") -> float:
    """The newest week's PSI gauge of a lead field."""
    return next(g["value"] for g in summary["gauges"]["drift_psi"] if (g["feature"], g["segment"]) == (field, segment))


def test_the_world_as_it_goes_on_raises_no_alert(steady, capsys, tmp_path):
    code, out, err, summary = _monitor(capsys, steady, tmp_path)
    assert summary["model_version"] == "leadscore/1"
    drift = pd.DataFrame(summary["figures"]["drift"])
    assert {"company_size", "source", "score"} <= set(drift["field"])  # the profile-backed drift ran
    assert summary["gauges"]["drift_psi"] and summary["gauges"]["calibration_error"]
    assert code == 0, out + err
    assert "ALERT" not in out and summary["alerts"] == [] and summary["verdict"] == ["nothing to do"]
    assert summary["gauges"]["alerts_firing"] == 0


def test_drift_from_the_second_week_fires_naming_company_size_and_source(drifted, steady, capsys, tmp_path, request):
    code, out, err, summary = _monitor(capsys, drifted, tmp_path)
    assert code == 1, out + err
    lines = [line for line in out.splitlines() if line.startswith("ALERT drift")]
    assert len(lines) == 1 and "company_size (PSI" in lines[0] and "source (PSI" in lines[0], out
    assert {"company_size", "source"} <= {name for alert in summary["alerts"] for name in alert["names"]}
    assert summary["gauges"]["alerts_firing"] == len(summary["alerts"]) == out.count("ALERT ")
    assert "retrain" in " ".join(summary["verdict"]) and "company_size" in " ".join(summary["verdict"])
    # the injected drift, not the world: the same weeks without it moved far less
    (tmp_path / "steady").mkdir()
    _, _, _, calm = _monitor(capsys, steady, tmp_path / "steady")
    assert _psi(summary, "source") > 1 > _psi(calm, "source")
    assert _psi(summary, "company_size") > _psi(calm, "company_size") + 0.2
    weekly = pd.DataFrame(summary["figures"]["drift"]).query("segment == 'all' and feature == 'source'")
    before = weekly[pd.to_datetime(weekly["period"]) < drifted["start"] + pd.Timedelta(days=7)]
    assert len(before) and (before["psi"] < 0.5).all()  # the first week, before the drift began
    _in_chromium(tmp_path / "monitor.html", request)


def test_the_team_s_alert_thresholds_decide_what_fires(steady, capsys, tmp_path):
    (tmp_path / "alerts.yaml").write_text("drift_psi: 50\nvolume_factor: 5\n")
    code, out, err, summary = _monitor(capsys, steady, tmp_path, "--alerts", str(tmp_path / "alerts.yaml"))
    assert code == 0 and "ALERT" not in out, out + err
    assert summary["alerts"] == [] and summary["verdict"] == ["nothing to do"] and "verdict: nothing to do" in out
    assert summary["gauges"]["alerts_firing"] == 0 and summary["gauges"]["fallback_share"] is not None
    (tmp_path / "alerts.yaml").write_text("drift_pis: 0.3\n")
    code, out, err, _ = _monitor(capsys, steady, tmp_path, "--alerts", str(tmp_path / "alerts.yaml"))
    assert code == 2 and "drift_pis" in out + err and len((out + err).strip().splitlines()) == 1, out + err


def test_a_data_folder_is_monitored_without_the_service(trained, capsys, tmp_path):
    shutil.copy(trained["root"] / "mlflow.db", tmp_path / "mlflow.db")
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    argv = ["monitor", "--data", str(trained["data"]), "--tracking-uri", tracking, "--since", "2025-11-01"]
    code, out, err = run(capsys, *argv, "--out", str(tmp_path / "m.html"), "--json", str(tmp_path / "m.json"))
    assert code in (0, 1), out + err
    summary = json.loads((tmp_path / "m.json").read_text())
    assert summary["model_version"] == "leadscore/1" and summary["window"]["since"].startswith("2025-11-01")
    realised = pd.DataFrame(summary["figures"]["calibration"]).query("kind == 'realised' and segment == 'all'")
    assert len(realised) and realised["n"].sum() > 500  # the folder's outcomes are the decisions
    assert pd.to_datetime(realised["period"]).min() >= pd.Timestamp("2025-10-27", tz="UTC")
    assert {"company_size", "source"} <= {g["feature"] for g in summary["gauges"]["drift_psi"]}
    assert "--data " + str(trained["data"]) in out or "nothing to do" in out  # the verdict's commands name it
    # the figures are metrics on the version, where `mlflow ui` finds them: its monitoring run
    from training.registry import connect

    client = connect(tracking)
    experiments = [e.experiment_id for e in client.search_experiments() if e.name == "leadscore-monitoring"]
    runs = client.search_runs(experiments, "tags.`leadscore.kind` = 'monitor'", order_by=["attributes.start_time DESC"])
    run_ = runs[0]
    assert run_.data.tags["model_version"] == "leadscore/1" and run_.info.run_name.startswith("monitor leadscore/1 ")
    assert f"run {run_.info.run_id}" in out and run_.info.status == "FINISHED"
    logged = run_.data.metrics
    assert logged["monitor.alerts"] == len(summary["alerts"]) and "monitor.psi.company_size.all" in logged


def test_the_model_s_own_test_period_raises_no_drift_alert(trained, capsys, tmp_path):
    """`--data` over the very hand-overs the reference profile was built on (the run's test period,
    every hand-over of it: the accounts first seen earlier, the spam and the open ones too): no
    feature and not the score may look drifted."""
    shutil.copy(trained["root"] / "mlflow.db", tmp_path / "mlflow.db")
    tracking, client = f"sqlite:///{tmp_path / 'mlflow.db'}", trained["client"]
    run_ = client.get_run(client.get_model_version("leadscore", trained["result"].version).run_id)
    since = pd.Timestamp(run_.data.tags["split.test_from"]).strftime("%Y-%m-%dT%H:%M:%S")  # its first hand-over
    argv = ["monitor", "--data", str(trained["data"]), "--tracking-uri", tracking, "--since", since, "--by", "month"]
    code, out, err = run(capsys, *argv, "--out", str(tmp_path / "m.html"), "--json", str(tmp_path / "m.json"))
    summary = json.loads((tmp_path / "m.json").read_text())
    drift = pd.DataFrame(summary["figures"]["drift"])
    judged = drift[drift["note"].fillna("") == ""]
    assert len(judged) > 100 and not drift["drifted"].any(), drift.sort_values("psi").tail(5).to_string()
    assert "ALERT drift" not in out and code in (0, 1), out + err
    assert not [alert for alert in summary["alerts"] if alert["kind"] == "drift"]


def test_bad_input_is_one_line(capsys, tmp_path):
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    FeedbackStore(empty).open()
    for argv, said in (
        (["--db", empty], "the score log holds no answers in this window"),
        (["--db", "nosuchdriver://x/y"], "nosuchdriver"),
        (["--db", empty, "--data", str(tmp_path)], "either --db"),
        (["--data", str(tmp_path / "missing")], "not a folder"),
        (["--db", empty, "--since", "yesterday"], "--since: 'yesterday'"),
    ):
        code, out, err = run(capsys, "monitor", *argv, "--out", str(tmp_path / "m.html"))
        lines = [line for line in (out + err).splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1 and said in lines[0], (argv, out, err)
        assert "Traceback" not in out + err
    assert not (tmp_path / "m.html").exists()


def _in_chromium(page, request) -> None:
    """The page as a manager opens it: no console error, every chart loaded, nothing wider than the
    page at 1280 and 420 px (a table may scroll inside its own wrapper); screenshots kept in
    .pytest_cache/d/leadscore-monitor for a person to look at."""
    if shutil.which("chromium") is None and shutil.which("google-chrome") is None:
        pytest.skip("chromium is not installed (apt-get install chromium): the browser check is skipped")
    from tests.integration.chromium import Page

    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    shots = cache.mkdir("leadscore-monitor") if cache else request.config.rootpath / ".pytest_cache/d/leadscore-monitor"
    shots.mkdir(parents=True, exist_ok=True)
    with Page() as browser:
        for width in (1280, 420):
            seen = browser.open(page, width=width)
            assert browser.problems == [], browser.problems
            assert seen["images"] and all(i["loaded"] for i in seen["images"]), seen["images"]
            assert seen["scrollWidth"] <= seen["width"], seen["wide"][:5]
            inside = browser.evaluate(WIDE_OUTSIDE_SCROLLERS)
            assert inside == [], inside[:5]
        seen = browser.open(page, width=1280)
        assert "company_size" in seen["text"] and "Is the model still right?" in seen["text"]
        browser.screenshot(shots / "drifted-top.png", 1280, 900)
        browser.screenshot(shots / "drifted-page.png", 1280, min(seen["height"], 16_000))


# what sticks out of the page, leaving out what scrolls inside a `.scroll` wrapper (wide tables)
WIDE_OUTSIDE_SCROLLERS = """(() => {
  const width = document.documentElement.clientWidth;
  return [...document.querySelectorAll('body *')]
    .filter(e => !e.closest('.scroll') || e.classList.contains('scroll'))
    .filter(e => e.getBoundingClientRect().right > width + 1)
    .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : ''));
})()"""
