"""The service's monitoring gauges (serving/gauges.py): a run of a monitor command sets them from
its JSON's `gauges`, /metrics shows each series once and only the last run's, a run that fails or
times out is counted and leaves the previous figures, one worker at a time runs it."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from serving import gauges
from serving.gauges import FAILURES, MonitorRunner, exposition, monitor_argv, parse, state_folder
from tests.conftest import AUTH, _client

# a monitor command: writes its first argument (a JSON text) to the file after --json; the
# segment "from-env" is replaced by $LEADSCORE_DB_URL (the runner passes the store by environment)
FAKE = """
import json, os, sys, time
args = sys.argv[1:]
time.sleep(float(args[1]))
text = args[0].replace("from-env", os.environ.get("LEADSCORE_DB_URL", "unset"))
with open(args[args.index("--json") + 1], "w") as out:
    out.write(text)
sys.exit(int(args[2]))
"""


def summary(drift: dict[tuple[str, str], float], alerts: int = 0, fallback: float | None = 0.05) -> dict:
    return {
        "model_version": "leadscore/3",
        "computed_at": "2026-02-09T10:00:00+00:00",
        "verdict": ["nothing to do"],
        "gauges": {
            "drift_psi": [{"feature": f, "segment": s, "value": v} for (f, s), v in drift.items()],
            "calibration_error": [
                {"segment": "smb", "kind": "estimated", "value": 0.031},
                {"segment": "smb", "kind": "realised", "value": 0.044},
            ],
            "fallback_share": fallback,
            "alerts_firing": alerts,
        },
    }


def runner(folder, document: dict | str, sleep: float = 0, code: int = 0, timeout: float = 20, env=None):
    text = document if isinstance(document, str) else json.dumps(document)
    argv = [sys.executable, "-c", FAKE, text, str(sleep), str(code)]
    return MonitorRunner(argv, folder, every=3600, timeout=timeout, env=env)


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """The exposition as {(sample name, sorted labels): value}."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_run_sets_the_gauges_and_a_later_run_drops_the_series_it_no_longer_reports(tmp_path):
    first = summary({("company_size", "smb"): 0.31, ("source", "smb"): 0.02, ("source", "enterprise"): 0.4}, 2)
    assert runner(tmp_path, first).run_once() is True
    at = datetime.now(UTC) + timedelta(seconds=5)
    shown = samples(exposition(tmp_path, now=at))
    assert shown[("leadscore_drift_psi", (("feature", "company_size"), ("segment", "smb")))] == 0.31
    assert shown[("leadscore_drift_psi", (("feature", "source"), ("segment", "enterprise")))] == 0.4
    assert shown[("leadscore_calibration_error", (("kind", "realised"), ("segment", "smb")))] == 0.044
    assert shown[("leadscore_fallback_share", ())] == 0.05 and shown[("leadscore_monitor_alerts", ())] == 2
    assert 5 <= shown[("leadscore_monitor_age_seconds", ())] < 30  # since the run ended, at the scrape

    second = summary({("source", "smb"): 0.5}, 0, fallback=None)  # company_size and enterprise no longer reported
    assert runner(tmp_path, second).run_once(force=True) is True
    shown = samples(exposition(tmp_path))
    drift = {labels: v for (name, labels), v in shown.items() if name == "leadscore_drift_psi"}
    assert drift == {(("feature", "source"), ("segment", "smb")): 0.5}  # the old series are gone
    assert ("leadscore_fallback_share", ()) not in shown and shown[("leadscore_monitor_alerts", ())] == 0


def test_alerts_firing_exit_1_is_a_run_with_figures(tmp_path):
    assert runner(tmp_path, summary({("source", "smb"): 0.9}, 3), code=1).run_once() is True
    assert samples(exposition(tmp_path))[("leadscore_monitor_alerts", ())] == 3


@pytest.mark.parametrize(
    ("document", "code", "why"),
    [
        (summary({("source", "smb"): 0.9}), 2, "exit 2"),  # leadscore monitor refused its input
        ('{"model_version": null}', 0, "gauges: Field required"),  # no gauges object
        ("not json", 0, "monitor JSON"),
        (summary({}) | {"gauges": {"drift_psi": [{"feature": "x", "segment": "smb"}]}}, 0, "value"),
    ],
)
def test_a_failed_run_is_counted_and_said_and_the_previous_figures_stay(tmp_path, caplog, document, code, why):
    assert runner(tmp_path, summary({("source", "smb"): 0.2})).run_once() is True
    before = FAILURES._value.get()
    failing = runner(tmp_path, document, code=code)
    assert failing.run_once(force=True) is False
    assert failing.failures == 1 and FAILURES._value.get() == before + 1
    [line] = [r.getMessage() for r in caplog.records if "monitor gauges" in r.getMessage()]
    assert why in line and "previous figures stay" in line
    assert samples(exposition(tmp_path))[("leadscore_drift_psi", (("feature", "source"), ("segment", "smb")))] == 0.2


def test_a_run_past_its_timeout_is_stopped_and_counted(tmp_path):
    slow = runner(tmp_path, summary({("source", "smb"): 0.2}), sleep=60, timeout=1)
    began = time.monotonic()
    assert slow.run_once() is False and slow.failures == 1
    assert time.monotonic() - began < 10  # killed at the timeout, not waited for
    assert exposition(tmp_path) == ""  # never a success: no gauges at all


def test_one_worker_at_a_time_and_once_per_interval(tmp_path):
    import fcntl

    with open(tmp_path / gauges.LOCK, "a") as held:  # another worker runs it now
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        assert runner(tmp_path, summary({})).run_once() is None
    assert runner(tmp_path, summary({})).run_once() is True
    assert runner(tmp_path, summary({})).run_once() is None  # another worker ran it a moment ago


def test_the_store_url_goes_by_environment_never_argv(tmp_path):
    url = "postgresql+psycopg://leadscore:s3cret@db.internal/leadscore"
    assert runner(tmp_path, summary({("x", "from-env"): 0.1}), env={"LEADSCORE_DB_URL": url}).run_once()
    assert f'segment="{url}"' in exposition(tmp_path)  # the command saw it in its environment
    argv = monitor_argv("leadscore/3")
    assert argv[1:] == ["-m", "leadscore_cli", "monitor", "--db", "default", "--quiet", "--model-uri",
                        "models:/leadscore/3"]  # fmt: skip
    assert "--model-uri" not in monitor_argv(None)  # the rules answer: monitor takes the version that answered last


def test_parse_reads_what_leadscore_monitor_writes():
    parsed = parse(json.dumps(summary({("source", "smb"): 0.2}) | {"figures": {}, "alerts": []}))
    assert parsed.model_version == "leadscore/3" and parsed.gauges.drift_psi[0].feature == "source"
    with pytest.raises(ValueError, match=r"gauges\.calibration_error\.0\.kind"):
        parse(json.dumps(summary({}) | {"gauges": summary({})["gauges"] | {"calibration_error": [
            {"segment": "smb", "kind": "guessed", "value": 0.1}]}}))  # fmt: skip


@pytest.fixture
def metrics_folder(monkeypatch, tmp_path):
    """A Prometheus multiprocess folder, as `leadscore serve` gives each start: BentoML's /metrics
    reads it, and the gauges are kept in it (`state_folder`)."""
    folder = tmp_path / "prometheus"
    folder.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    state_folder.cache_clear()
    yield folder
    state_folder.cache_clear()


def test_metrics_show_the_gauges_once_through_the_service(monkeypatch, tmp_path, metrics_folder):
    """The service (rules only: an empty tracking store) appends the kept gauges to /metrics."""
    monkeypatch.setenv("LEADSCORE_MONITOR_SECONDS", "0")  # no schedule here: the runs are made below
    with _client(monkeypatch, tmp_path, f"sqlite:///{tmp_path / 'mlflow.db'}") as client:
        assert state_folder() == metrics_folder
        assert "leadscore_drift_psi" not in client.get("/metrics", headers=AUTH).text  # no run yet
        assert runner(metrics_folder, summary({("company_size", "smb"): 0.27, ("source", "smb"): 0.1}, 1)).run_once()
        body = client.get("/metrics", headers=AUTH).text
        assert runner(metrics_folder, summary({("source", "smb"): 0.12})).run_once(force=True)
        later = client.get("/metrics", headers=AUTH).text
        assert client.get("/metrics").status_code == 401  # the gate still stands before it
    psi = sorted(line for line in body.splitlines() if line.startswith("leadscore_drift_psi{"))
    assert psi == [
        'leadscore_drift_psi{feature="company_size",segment="smb"} 0.27',
        'leadscore_drift_psi{feature="source",segment="smb"} 0.1',
    ]
    assert body.count("# TYPE leadscore_monitor_alerts gauge") == 1 and "leadscore_monitor_alerts 1.0" in body
    assert [line for line in later.splitlines() if line.startswith("leadscore_drift_psi{")] == [
        'leadscore_drift_psi{feature="source",segment="smb"} 0.12'
    ]
