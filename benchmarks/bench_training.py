"""Benchmark: train + calibrate + evaluate + log (one `leadscore train` run) at 100k and 1M leads.

Run: .venv/bin/python benchmarks/bench_training.py [--sizes 100000 1000000] [--short]
(--short: 3,000 leads, the whole training run in under a minute, for `make test-slow`.)
Each size: demo data is generated and written as Parquet (not timed), then a fresh process runs
the whole training run into a throwaway MLflow store; wall time, peak memory and the test-period
figures are printed.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table


def one(folder: str, store: str) -> dict:
    from features.defaults import load_rules
    from features.settings import FeatureConfig
    from training.settings import TrainingConfig
    from training.train import train

    stamps = {}
    began = time.perf_counter()
    result = train(
        Path(folder),
        TrainingConfig(),
        FeatureConfig(),
        load_rules(),
        tracking_uri=store,
        progress=lambda s: stamps.setdefault(s, time.perf_counter() - began),
    )
    m = result.metrics
    return {
        "seconds": time.perf_counter() - began,
        "steps": stamps,
        "split": result.split,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "model_auc": m["model_roc_auc"],
        "rule_auc": m["rule_roc_auc"],
        "ece": m["model_ece"],
        "model_eq": m["equal_volume_model_mql_acceptance"],
        "rule_eq": m["equal_volume_rule_mql_acceptance"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--short", action="store_true", help="small sizes: the whole path in seconds (make test-slow)")
    args = parser.parse_args()
    if args.short:
        args.sizes = [3_000]
    if args.one:
        print(json.dumps(one(*args.one)))
        return
    from synthetic.generate import generate, write_dataset

    table = Table(title="leadscore train: labels, features, fit, calibrate, evaluate, log, register")
    for column in (
        "leads",
        "hand-overs (train/cal/test)",
        "features s",
        "fit s",
        "total s",
        "peak RSS MB",
        "AUC model / rules",
        "ECE",
        "accepted at equal volume model / rules",
    ):
        table.add_column(column, justify="right")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            folder = Path(tmp) / str(n)
            write_dataset(generate(n, seed=7), folder, "parquet")
            store = f"sqlite:///{Path(tmp) / f'{n}.db'}"
            done = subprocess.run(
                [sys.executable, __file__, "--one", str(folder), store], capture_output=True, text=True
            )
            if done.returncode:
                raise SystemExit(done.stderr[-3000:])
            r = json.loads(done.stdout.strip().splitlines()[-1])
            s, steps = r["split"], r["steps"]
            table.add_row(
                f"{n:,}",
                f"{s['train']:,}/{s['calibrate']:,}/{s['test']:,}",
                f"{steps['features'] - steps['labels']:.0f}",
                f"{steps['fit'] - steps['features']:.0f}",
                f"{r['seconds']:.0f}",
                f"{r['peak_rss_mb']:,.0f}",
                f"{r['model_auc']:.3f} / {r['rule_auc']:.3f}",
                f"{r['ece']:.3f}",
                f"{r['model_eq']:.3f} / {r['rule_eq']:.3f}",
            )
    Console(width=170).print(table)


if __name__ == "__main__":
    main()
