"""Benchmark: `leadscore generate` speed, table sizes and peak memory, 100k and 1M leads.

Run: .venv/bin/python benchmarks/bench_generate.py [--sizes 100000 1000000] [--format parquet] [--short]
(--short: 2,000 and 10,000 leads, the whole path in seconds, for `make test-slow`.)
Each size runs in its own process, so the peak memory printed is that size's own.
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


def one(n: int, fmt: str) -> dict:
    from synthetic.generate import generate, write_dataset

    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        tables = generate(n, seed=7)
        made = time.perf_counter()
        paths = write_dataset(tables, Path(tmp), fmt)
        done = time.perf_counter()
        return {
            "leads": n,
            "events": tables["events"].num_rows,
            "outcomes": tables["outcomes"].num_rows,
            "generate_s": made - began,
            "write_s": done - made,
            "mb": sum(p.stat().st_size for p in paths.values()) / 1e6,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--format", default="parquet", choices=["parquet", "csv"])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--short", action="store_true", help="small sizes: the whole path in seconds (make test-slow)")
    args = parser.parse_args()
    if args.short:
        args.sizes = [2_000, 10_000]
    if args.one:
        print(json.dumps(one(args.one, args.format)))
        return
    table = Table(title=f"leadscore generate ({args.format})")
    for column in ("leads", "events", "outcomes", "generate s", "write s", "total s", "files MB", "peak RSS MB"):
        table.add_column(column, justify="right")
    rows = []
    for n in args.sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(n), "--format", args.format],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(out.stdout)
        rows.append(r)
        table.add_row(
            f"{r['leads']:,}",
            f"{r['events']:,}",
            f"{r['outcomes']:,}",
            f"{r['generate_s']:.2f}",
            f"{r['write_s']:.2f}",
            f"{r['generate_s'] + r['write_s']:.2f}",
            f"{r['mb']:.1f}",
            f"{r['peak_rss_mb']:.0f}",
        )
    Console(width=140).print(table)
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        ratio = (b["generate_s"] + b["write_s"]) / (a["generate_s"] + a["write_s"])
        print(f"time ratio {b['leads'] // a['leads']}x leads: {ratio:.1f}x")


if __name__ == "__main__":
    main()
