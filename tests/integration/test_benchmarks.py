"""Every script in benchmarks/ runs in its short mode (`--short`: the whole path in seconds to about a
minute) and prints its figures, so a benchmark cannot rot (issue 23). The scripts are found by
globbing, so a new one is covered without a line here; one that needs what `make test-slow` does
not install (pyspark, the shared X Education export) is skipped, saying what is missing."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((PROJECT / "benchmarks").glob("*.py"))
EXPORT = PROJECT.parent / "shared" / "data" / "x_education" / "Leads.csv"
# a line of each known script's figures (a new script is held to printing numbers at all)
FIGURES = {
    "bench_accounts.py": "vs best lead",
    "bench_cli.py": "leadscore rollback",
    "bench_big_requests.py": "large requests: 4 answered",
    "bench_features.py": "time per lead at",
    "bench_feature_log.py": "read_feature_rows:",
    "bench_generate.py": "time ratio",
    "bench_lead.py": "Own time per stage",
    "bench_monitor.py": "monitor over",
    "bench_serving.py": "/score_batch of 1,000 different leads, once",
    "bench_spark.py": "Spark local[2] session start and stop alone",
    "bench_training.py": "leadscore train: labels, features, fit",
    "recalibration.py": "recalibrated on",
    "soak_serving.py": "last minute vs first",
    "x_education.py": "bar (issue #17)",
}


def _missing(script: Path) -> str | None:
    """Why the script cannot run here, or None."""
    if script.name == "bench_spark.py" and importlib.util.find_spec("pyspark") is None:
        return "bench_spark.py needs pyspark (the spark extra: make install-spark), not installed here"
    if script.name == "x_education.py" and not EXPORT.is_file():
        return f"x_education.py needs the X Education export at {EXPORT} (../shared is absent)"
    return None


def test_the_benchmarks_are_found():
    assert {"bench_serving.py", "bench_training.py", "soak_serving.py"} <= {s.name for s in SCRIPTS}


@pytest.mark.slow
@pytest.mark.timeout(1_800)  # a short run is about a minute alone; the 2 cores may be shared
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.stem)
def test_each_benchmark_runs_in_its_short_mode_and_prints_its_figures(script, tmp_path):
    if why := _missing(script):
        pytest.skip(why)
    done = subprocess.run(
        [sys.executable, str(script), "--short"], cwd=tmp_path, capture_output=True, text=True, timeout=1_700
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = " ".join(done.stdout.split())
    assert len(re.findall(r"\d[\d,]*(?:\.\d+)?", out)) >= 3, out[-2000:]  # it printed figures
    if script.name in FIGURES:
        assert FIGURES[script.name] in out, out[-2000:]
