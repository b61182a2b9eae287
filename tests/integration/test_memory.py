"""A worker's memory stays flat under rounds of hostile traffic (issue #23, item 10): the short run
of benchmarks/bench_memory.py (4 rounds of 1,000 requests of the mix against a real `leadscore
serve`), each worker's RSS after the last round within 10% of its RSS after the first."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import PROJECT


@pytest.mark.slow
def test_worker_memory_is_flat_over_rounds_of_hostile_requests(trained):
    bench = PROJECT / "benchmarks" / "bench_memory.py"
    run = subprocess.run(
        [sys.executable, str(bench), "--short", "--mlflow-db", str(trained["root"] / "mlflow.db")],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    found = re.search(r"RSS after round 4 / after round 1, per worker: ([0-9., ]+)", run.stdout)
    assert found, run.stdout[-3000:]
    ratios = [float(x) for x in found.group(1).split(",")]
    assert ratios and all(0.9 <= ratio <= 1.1 for ratio in ratios), run.stdout
    assert "answers 200:" in run.stdout  # the valid leads of the mix were scored
