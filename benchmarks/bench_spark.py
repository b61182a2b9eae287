"""Benchmark: nightly rescoring of every lead, on one process vs on Spark local[2].

Run: .venv/bin/python benchmarks/bench_spark.py [--sizes 100000 300000 1000000] [--short]
(--short: a model on 3,000 leads and 2,000 and 4,000 leads scored, for `make test-slow`.)
(needs the spark extra: `make install-spark`). For each size it generates the demo data (about 20
events a lead) as Parquet, then runs, as a user would, `leadscore score --as-of END` (one process)
and `leadscore score --as-of END --engine spark --master local[2]`, each in its own process:
wall time (the Spark one includes starting the JVM, reported apart), leads/s, the largest
processes' peak memory, and whether both wrote the same scores. The model is trained once on
20,000 leads of the same world. Both engines share the machine's 2 cores.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

PROJECT = Path(__file__).resolve().parents[1]
AS_OF = "2025-12-31T00:00:00Z"


def _run(argv: list[str], env: dict) -> tuple[float, float, str]:
    """Wall seconds, peak memory (MB, all its processes together: JVM and Python workers too)
    and output of one command."""
    import psutil

    began = time.perf_counter()
    process = subprocess.Popen(argv, env=env, cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    root, peak = psutil.Process(process.pid), 0.0
    while process.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()) / 1e6)
        except psutil.Error:
            pass
        time.sleep(0.2)
    took = time.perf_counter() - began
    out, err = process.communicate()
    if process.returncode:
        raise SystemExit(f"{' '.join(argv)} failed:\n{err[-2000:]}")
    return took, peak, out.strip()


def _spark_start(env: dict) -> float:
    """Seconds to start (and stop) a local[2] Spark session: the fixed cost in every Spark run."""
    code = "from features.spark import session; s = session('local[2]'); s.range(1).count(); s.stop()"
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, cwd=PROJECT)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--driver-memory", default="8g", help="spark.driver.memory for local[2]")
    parser.add_argument("--short", action="store_true", help="small sizes: the whole path in seconds (make test-slow)")
    args = parser.parse_args()
    if args.short:
        args.sizes, args.driver_memory = [2_000, 4_000], "2g"
    from synthetic.generate import generate, write_dataset
    from training.settings import TrainingConfig
    from training.train import train

    tmp = Path(tempfile.mkdtemp(prefix="bench-spark-"))
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    write_dataset(generate(3_000 if args.short else 20_000, seed=7), tmp / "train", "parquet")
    from features.defaults import load_rules
    from features.settings import FeatureConfig

    train(tmp / "train", TrainingConfig(), FeatureConfig(), load_rules(), tracking_uri=uri)
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(PROJECT)}
    leadscore = str(Path(sys.executable).parent / "leadscore")
    start = _spark_start(env)
    rows = []
    for n in args.sizes:
        data = tmp / f"data-{n}"
        write_dataset(generate(n, seed=7), data, "parquet")
        events = pd.read_parquet(data / "events.parquet", columns=["type"]).shape[0]
        base = [leadscore, "score", "--data", str(data), "--as-of", AS_OF]
        local_s, local_mb, _ = _run([*base, "--out", str(tmp / f"local-{n}.parquet")], env)
        spark_s, spark_mb, said = _run(
            [
                *base,
                "--out",
                str(tmp / f"spark-{n}.parquet"),
                "--engine",
                "spark",
                "--master",
                "local[2]",
                "--spark-conf",
                f"spark.driver.memory={args.driver_memory}",
            ],
            env,
        )
        a = pd.read_parquet(tmp / f"local-{n}.parquet").sort_values("lead_id", ignore_index=True)
        b = pd.read_parquet(tmp / f"spark-{n}.parquet").sort_values("lead_id", ignore_index=True)
        same = len(a) == len(b) and np.allclose(a["probability"], b["probability"], rtol=0, atol=1e-12)
        rows.append((n, events, len(a), local_s, local_mb, spark_s, spark_mb, same))
        print(f"{n:,} leads done ({said.splitlines()[-1] if said else ''})", flush=True)
    print(f"Spark local[2] session start and stop alone: {start:.1f} s (part of every Spark wall time below)")
    print(
        f"{'leads':>10} {'events':>12} {'scored':>10} {'1 process s':>12} {'leads/s':>9} {'peak MB':>8} "
        f"{'spark s':>8} {'leads/s':>9} {'peak MB':>8} {'spark/1p':>8} {'same':>5}"
    )
    for n, events, scored, ls, lmb, ss, smb, same in rows:
        print(
            f"{n:>10,} {events:>12,} {scored:>10,} {ls:>12.1f} {scored / ls:>9,.0f} {lmb:>8,.0f} "
            f"{ss:>8.1f} {scored / ss:>9,.0f} {smb:>8,.0f} {ss / ls:>8.2f} {'yes' if same else 'NO':>5}"
        )
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        print(
            f"growth from {first[0]:,} to {last[0]:,} leads ({last[0] / first[0]:.0f}x): one process "
            f"{last[3] / first[3]:.1f}x, Spark {last[5] / first[5]:.1f}x "
            f"(without the session start: {(last[5] - start) / (first[5] - start):.1f}x)"
        )
    print(f"peak MB: all processes of the command together, sampled every 0.2 s; data in {tmp}")


if __name__ == "__main__":
    main()
