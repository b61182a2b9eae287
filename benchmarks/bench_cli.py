"""Benchmark: how long the command line takes to answer (issue 27's targets), each command in a
fresh process, as a person runs it: `leadscore --help` (limit 0.5 s) and `models`, `promote`,
`rollback` on a registry with two versions (limit 3 s each).

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

from rich.console import Console
from rich.table import Table

LIMITS = {"--help": 0.5, "models": 3.0, "promote": 3.0, "rollback": 3.0}
LEADSCORE = [sys.executable, "-m", "leadscore_cli"]


def _store(folder: Path, leads: int) -> str:
    """A store with two registered versions of `leadscore`, the second @champion."""
    from features.defaults import load_rules
    from features.settings import FeatureConfig
    from synthetic.generate import generate, write_dataset
    from training import registry
    from training.settings import TrainingConfig
    from training.train import train

    write_dataset(generate(leads, seed=3), folder / "data", "parquet")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    for _ in range(2):
        result = train(folder / "data", TrainingConfig(), FeatureConfig(), load_rules(), tracking_uri=uri)
    registry.promote(registry.connect(uri), "leadscore", result.version)
    return uri


def _seconds(argv: list[str], runs: int) -> float:
    """The median wall time of `leadscore ARGV` in a fresh process."""
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run([*LEADSCORE, *argv], capture_output=True, text=True, check=True, timeout=300)
        times.append(time.perf_counter() - began)
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
        uri = _store(Path(tmp), args.leads)
        store = ["--tracking-uri", uri]
        commands = {
            "--help": ["--help"],
            "models": ["models", *store],
            "promote": ["promote", "1", *store],
            "rollback": ["rollback", *store],
        }
        measured = {name: _seconds(argv, args.runs) for name, argv in commands.items()}
    table = Table(title=f"leadscore commands, median of {args.runs} run(s) each", title_justify="left")
    for column in ("command", "seconds", "limit", "ratio"):
        table.add_column(column, justify="left" if column == "command" else "right")
    for name, seconds in measured.items():
        table.add_row(f"leadscore {name}", f"{seconds:.2f}", f"{LIMITS[name]:.1f}", f"{seconds / LIMITS[name]:.2f}")
    Console(width=100).print(table)


if __name__ == "__main__":
    main()
