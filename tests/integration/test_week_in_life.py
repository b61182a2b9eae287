"""README "A week in the life" as written (issue #25): what `make demo` leaves (a generated world, a
trained @champion, a real `leadscore serve` exploring 5% and simulated weeks through it) on a small
world in a fresh working directory, then every `.venv/bin/leadscore` line of the README's block, in
its order, through the real command line. The lines are read from README.md, so the README and this
test cannot drift apart."""

from __future__ import annotations

import html
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.store import FeedbackStore
from tests.conftest import PROJECT
from tests.live import live_service
from tests.waiting import wait_for

LEADSCORE = Path(sys.executable).with_name("leadscore")
LEADS, LEADS_PER_WEEK, WEEKS = 10_000, 400, 6  # make demo: 100,000 leads, the world's own rate, 6 weeks
README_PORT = "http://127.0.0.1:3000"


def readme_loop() -> tuple[str, list[list[str]]]:
    """The API key the README's block exports and its `.venv/bin/leadscore` lines (comments cut)."""
    text = (PROJECT / "README.md").read_text()
    section = text[text.index("## A week in the life") :]
    block = section[section.index("```bash") + len("```bash") : section.index("```", section.index("```bash") + 7)]
    key = re.search(r"^export LEADSCORE_API_KEY=(\S+)", block, re.M).group(1)
    lines = [shlex.split(line, comments=True) for line in block.splitlines() if line.startswith(".venv/bin/leadscore")]
    return key, lines


def flat(text: str) -> str:
    """Console text with rich's line wrapping undone (every run of whitespace one space)."""
    return " ".join(text.split())


class Shell:
    """The user's shell in `cwd`: `make demo`'s environment (the API key, telemetry off, MLflow at
    ./mlflow.db, the store ./leadscore.db), each command a real `leadscore` process."""

    def __init__(self, cwd: Path, key: str):
        self.cwd = cwd
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "LEADSCORE_"))}
        self.env |= {"LEADSCORE_API_KEY": key, "MLFLOW_DISABLE_TELEMETRY": "true", "BENTOML_DO_NOT_TRACK": "true"}
        # `leadscore serve` runs its workers in the project folder (bentoml --working-dir): without
        # this its ./leadscore.db would be the project's, not this folder's (see the report of H11)
        self.env["LEADSCORE_DB_URL"] = f"sqlite:///{cwd / 'leadscore.db'}"
        self.log: list[tuple[str, int, float, str]] = []

    def run(self, argv: list[str], timeout: float = 300) -> tuple[int, str]:
        """`leadscore ARGS...`: exit code and stdout+stderr (also printed, with the time it took)."""
        assert argv[0].endswith("leadscore"), argv
        began = time.monotonic()
        done = subprocess.run(
            [str(LEADSCORE), *argv[1:]],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        took, out = time.monotonic() - began, done.stdout + done.stderr
        self.log.append((shlex.join(argv[1:3]), done.returncode, took, out))
        print(f"$ {shlex.join(argv)}  # exit {done.returncode}, {took:.1f} s\n{out[-2500:]}")
        return done.returncode, out


def simulated(out: str) -> int:
    """The `scored` figure of simulate's summary table."""
    return int(re.search(r"│ scored\s+│\s+([\d,]+) │", out).group(1).replace(",", ""))


def wait_logged(db: Path, count: int) -> None:
    """The service logs its answers off the request path: wait until `count` are in the score log."""
    store = FeedbackStore(f"sqlite:///{db}")
    try:
        assert wait_for(lambda: len(store.read_scores(["model_version"])) >= count, 60, every=0.5), count
    finally:
        store.engine.dispose()


def page_text(path: Path) -> str:
    """The visible text of an HTML page, whitespace collapsed."""
    source = re.sub(r"(?s)<(script|style)[^>]*>.*?</\1>", "", path.read_text())
    return flat(html.unescape(re.sub(r"<[^>]+>", " ", source)))


def newest_version_metrics(cwd: Path) -> dict:
    """The metrics of the run behind the newest registered `leadscore` version in ./mlflow.db."""
    from training.registry import connect

    client = connect(f"sqlite:///{cwd / 'mlflow.db'}")
    newest = max(client.search_model_versions("name='leadscore'"), key=lambda v: int(v.version))
    return client.get_run(newest.run_id).data.metrics


def check(argv: list[str], code: int, out: str, cwd: Path, figures: dict) -> None:
    """What each README command must do on the demo's material; its figures go to `figures`."""
    text = flat(out)
    command = argv[1]
    if command == "feedback":
        assert code == 0, out
        found = re.search(r"([\d,]+) decision\(s\) in \S+: ([\d,]+) in force", text)
        assert found and int(found.group(2).replace(",", "")) > 0, out
        figures["feedback list"] = found.group(0)
    elif command == "monitor":
        assert code in (0, 1), out  # 1: an alert fired (a valid outcome); 2 would be a failure
        assert (cwd / "data" / "monitor.html").stat().st_size > 0 and "verdict:" in text, out
        alerts = [line for line in out.splitlines() if line.startswith("ALERT")]
        assert (code == 1) == bool(alerts), out
        figures["monitor"] = f"exit {code}, {len(alerts)} alert(s): {alerts}; " + re.search(r"verdict: [^\n]*", out)[0]
    elif command == "compare":
        assert code == 0, out
        page = page_text(cwd / "data" / "live-model-vs-rules.html")
        funnel = re.search(
            r"The exploration hold-out \(5% of the leads below both thresholds\) sent sales .*? alone", page
        )
        assert funnel, page[:3000]
        figures["compare"] = page[funnel.start() : page.index("%", funnel.end()) + 1]
    elif command == "recalibrate":
        assert code == 0, out  # a refusal for want of decisions exits 2
        result = re.search(r"version \d+ \(leadscore/\d+ recalibrated on the store.*", text)
        assert result and ("@champion" in result[0] or "does not lower the log-loss" in result[0]), out
        figures["recalibrate"] = result[0].split(" Downloading")[0]  # MLflow's progress bar follows
    elif command == "retrain":
        assert code == 0, out
        line = re.search(r"feedback: ([\d,]+) merged, ([\d,]+) labelled[^\n]*", out)
        assert line and int(line.group(2).replace(",", "")) > 0, out
        metrics = newest_version_metrics(cwd)
        assert metrics["feedback_labelled"] == int(line.group(2).replace(",", "")) > 0, metrics
        figures["retrain"] = line[0]
    elif command == "simulate":
        assert code == 0 and "simulated" in text and simulated(out) > 0, out
        figures["simulate"] = re.search(r"\S+: simulated [^\n]*", out)[0]
    else:
        raise AssertionError(f"README's loop has a command this test does not know: {shlex.join(argv)}")


@pytest.mark.slow
def test_the_readme_week_in_the_life_runs_as_written_after_make_demo(tmp_path):
    began = time.monotonic()
    key, loop = readme_loop()
    assert [argv[1] for argv in loop] == ["feedback", "monitor", "compare", "recalibrate", "retrain", "simulate"]
    shell = Shell(tmp_path, key)
    # make demo, small: generate, validate, train; then serve (exploring 5%) and simulate through it
    assert shell.run(["leadscore", "generate", "--leads", str(LEADS), "--seed", "7", "--out", "data/demo"])[0] == 0
    assert shell.run(["leadscore", "validate", "data/demo"])[0] == 0
    code, out = shell.run(["leadscore", "train", "--data", "data/demo"])
    assert code == 0 and "promoted to @champion" in flat(out), out
    service_env = {"LEADSCORE_EXPLORE_SHARE": "0.05", "LEADSCORE_MONITOR_SECONDS": "0"}
    with live_service(
        tmp_path, key, f"sqlite:///{tmp_path / 'mlflow.db'}", shell.env["LEADSCORE_DB_URL"], service_env
    ) as url:
        demo = ["leadscore", "simulate", "--data", "data/demo", "--service", url, "--weeks", str(WEEKS)]
        code, out = shell.run([*demo, "--drain-weeks", "2", "--leads-per-week", str(LEADS_PER_WEEK)])
        assert code == 0, out
        logged = simulated(out)
        wait_logged(tmp_path / "leadscore.db", logged)
        figures: dict[str, str] = {}
        for argv in loop:  # the README's lines, its service URL swapped for this test's port
            argv = [url if word == README_PORT else word for word in argv]
            code, out = shell.run(argv)
            check(argv, code, out, tmp_path, figures)
            if argv[1] == "simulate":
                wait_logged(tmp_path / "leadscore.db", logged + simulated(out))
    print("\n".join(f"{name}: {figure}" for name, figure in figures.items()))
    print("\n".join(f"{name}: exit {code}, {took:.1f} s" for name, code, took, _ in shell.log))
    print(f"the whole week in the life: {time.monotonic() - began:.0f} s")
