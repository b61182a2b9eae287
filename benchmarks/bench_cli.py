"""Benchmark: how long the command line takes to answer (issue 27's targets), each command in a
fresh process, as a person runs it: `leadscore --help` (limit 0.5 s), `models`, `promote`,
`rollback` on a registry with two versions (limit 3 s each), and `leadscore serve` from its start
to the first 200 from /score (limit 3 s), with the store named by MLFLOW_TRACKING_URI and as
`make demo` serves it, ./mlflow.db in the working folder.

Run: .venv/bin/python benchmarks/bench_cli.py [--leads 20000] [--runs 3] [--short]
(--short: 3,000 leads and one run of each, for `make test-slow`.)
A throwaway MLflow store gets two versions trained on generated leads (not timed); each command
then runs `--runs` times and its median wall time is printed beside its limit.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_serving import _start, _stop, _wait, free_port, trained_service_env
from rich.console import Console
from rich.table import Table

LIMITS = {"--help": 0.5, "models": 3.0, "promote": 3.0, "rollback": 3.0}
SERVE_LIMIT = 3.0
LEADSCORE = [sys.executable, "-m", "leadscore_cli"]


def _store(folder: Path, leads: int) -> dict:
    """The service's environment (`bench_serving.trained_service_env`) for a store with two
    registered versions of `leadscore`, the second @champion."""
    from features.defaults import load_rules
    from features.settings import FeatureConfig
    from training import registry
    from training.settings import TrainingConfig
    from training.train import train

    env = trained_service_env(folder, leads)
    uri = env["MLFLOW_TRACKING_URI"]
    result = train(folder / "data", TrainingConfig(), FeatureConfig(), load_rules(), tracking_uri=uri)
    registry.promote(registry.connect(uri), "leadscore", result.version)
    return env


def _seconds(argv: list[str], runs: int) -> float:
    """The median wall time of `leadscore ARGV` in a fresh process."""
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run([*LEADSCORE, *argv], capture_output=True, text=True, check=True, timeout=300)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def _serve_seconds(env: dict, folder: Path, runs: int) -> float:
    """The median wall time from `leadscore serve` to the first 200 from /score, the service
    started afresh each time in `folder` and stopped; an answer from the rules (the model not
    loaded) stops the benchmark."""
    import httpx

    times = []
    for _ in range(runs):
        port = free_port()
        began = time.perf_counter()
        server = _start([*LEADSCORE, "serve", "--port", str(port)], env, folder)
        try:
            _wait(f"http://127.0.0.1:{port}/score", server, deadline=300)
            times.append(time.perf_counter() - began)
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).json()
            if ready["mode"] != "model":
                raise SystemExit(f"the service answered without its model: {ready['reason']}")
        finally:
            _stop(server)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--short", action="store_true", help="3,000 leads, one run of each command")
    args = parser.parse_args()
    if args.short:
        args.leads, args.runs = 3_000, 1
    with tempfile.TemporaryDirectory() as tmp:
        env = _store(Path(tmp), args.leads)
        store = ["--tracking-uri", env["MLFLOW_TRACKING_URI"]]
        commands = {
            "--help": ["--help"],
            "models": ["models", *store],
            "promote": ["promote", "1", *store],
            "rollback": ["rollback", *store],
        }
        measured = {f"leadscore {name}": (_seconds(argv, args.runs), LIMITS[name]) for name, argv in commands.items()}
        demo = {k: v for k, v in env.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
        for label, served in (("MLFLOW_TRACKING_URI", env), ("./mlflow.db", demo)):
            seconds = _serve_seconds(served, Path(tmp), args.runs)
            measured[f"leadscore serve to first 200 ({label})"] = (seconds, SERVE_LIMIT)
    table = Table(title=f"leadscore commands, median of {args.runs} run(s) each", title_justify="left")
    for column in ("command", "seconds", "limit", "ratio"):
        table.add_column(column, justify="left" if column == "command" else "right")
    for name, (seconds, limit) in measured.items():
        table.add_row(name, f"{seconds:.2f}", f"{limit:.1f}", f"{seconds / limit:.2f}")
    Console(width=100).print(table)


if __name__ == "__main__":
    main()
