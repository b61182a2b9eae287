"""Benchmark: point-in-time feature building, batch throughput and single-lead latency.

Run: .venv/bin/python benchmarks/bench_features.py [--sizes 100000 250000 500000 1000000] [--short]
(--short: 2,000 and 4,000 leads, the whole path in seconds, for `make test-slow`.) Limits (issue 27), at
1,000,000 leads / 20 M events: load + validate + build <= 20 s, peak RSS <= 6 GB, time per lead
growing linearly or better from the smallest size (one lead's limits are `bench_lead.py`'s).
For each size, demo data (about 20 events per lead) is generated and written as Parquet once;
a fresh process then reads and validates it and builds features for every lead as of the end of
the period, so the peak memory printed is that size's own. Single-lead latency is measured the
way the service calls it: one lead row, its own events and its account's contacts.
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

AS_OF = "2026-01-01T00:00:00Z"


def batch(folder: str) -> dict:
    from features.build import build_features
    from features.contract import load_dataset

    began = time.perf_counter()
    data = load_dataset(folder)
    loaded = time.perf_counter()
    frame = build_features(data.leads, data.events, AS_OF)
    built = time.perf_counter()
    return {
        "leads": len(frame),
        "events": len(data.events),
        "load_s": loaded - began,
        "features_s": built - loaded,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def single(folder: str, n: int = 1_000) -> dict:
    import numpy as np
    import pandas as pd

    from features.arrays import to_columns
    from features.build import PEOPLE, build_features, feature_columns, row_columns
    from features.contract import ContractConfig, load_dataset
    from features.settings import FeatureConfig

    data = load_dataset(folder)
    contract, config = ContractConfig(), FeatureConfig()
    events = data.events.assign(lead_id=data.events["lead_id"].astype(str), type=data.events["type"].astype(str))
    by_lead = dict(tuple(events.groupby("lead_id", sort=False)))
    by_account = dict(tuple(data.leads.groupby("account_id", sort=False)))
    at = pd.Timestamp(AS_OF).value // 1_000
    rng = np.random.default_rng(0)
    frames = []
    for i in rng.choice(len(data.leads), n, replace=False):
        lead = data.leads.iloc[[i]]
        contacts = by_account[lead["account_id"].iloc[0]]
        own = [by_lead[c] for c in contacts["lead_id"] if c in by_lead]
        frames.append((lead, pd.concat(own) if own else events.iloc[:0], contacts))
    # as the service calls it: the request already parsed into column arrays
    requests = [
        (to_columns(lead, row_columns(contract)), to_columns(ev, ("lead_id", "ts", "type")), to_columns(c, PEOPLE))
        for lead, ev, c in frames
    ]
    core, front = [], []
    for rows, ev, contacts in requests:
        began = time.perf_counter()
        feature_columns(rows, np.array([at]), ev, config, contract, contacts)
        core.append(time.perf_counter() - began)
    for lead, ev, contacts in frames[:200]:
        began = time.perf_counter()
        build_features(lead, ev, AS_OF, population=contacts)
        front.append(time.perf_counter() - began)
    ms = np.array(core) * 1e3
    return {
        "n": n,
        "p50_ms": float(np.median(ms)),
        "p95_ms": float(np.percentile(ms, 95)),
        "p99_ms": float(np.percentile(ms, 99)),
        "events_per_request": float(np.mean([len(f[1]) for f in frames])),
        "pandas_p50_ms": float(np.median(front) * 1e3),
    }


def _child(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


LIMITS = {"leads": 1_000_000, "total_s": 20.0, "peak_rss_mb": 6 * 1024, "growth": 1.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 250_000, 500_000, 1_000_000])
    parser.add_argument("--batch", help=argparse.SUPPRESS)
    parser.add_argument("--single", help=argparse.SUPPRESS)
    parser.add_argument("--short", action="store_true", help="small sizes: the whole path in seconds (make test-slow)")
    args = parser.parse_args()
    if args.short:
        args.sizes = [2_000, 4_000]
    if args.batch or args.single:
        print(json.dumps(batch(args.batch) if args.batch else single(args.single)))
        return
    from synthetic.generate import generate, write_dataset

    table = Table(title=f"build_features as of {AS_OF}, every lead")
    columns = ("leads", "events", "load+validate s", "features s", "total s", "leads/s", "events/s", "peak RSS MB")
    for column in (*columns, "s per 100k leads"):
        table.add_column(column, justify="right")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            folder = Path(tmp) / str(n)
            write_dataset(generate(n, seed=7), folder, "parquet")
            r = _child("--batch", str(folder))
            r["total_s"] = r["load_s"] + r["features_s"]
            rows.append(r)
            table.add_row(
                f"{r['leads']:,}",
                f"{r['events']:,}",
                f"{r['load_s']:.1f}",
                f"{r['features_s']:.1f}",
                f"{r['total_s']:.1f}",
                f"{r['leads'] / r['total_s']:,.0f}",
                f"{r['events'] / r['total_s']:,.0f}",
                f"{r['peak_rss_mb']:,.0f}",
                f"{r['total_s'] / r['leads'] * 1e5:.2f}",
            )
            if n == args.sizes[0]:
                latency = _child("--single", str(folder))
    Console(width=160).print(table)
    _report(rows, latency)


def _report(rows: list[dict], latency: dict) -> None:
    """Each figure beside its limit (the limits are for 1,000,000 leads)."""
    first, last = rows[0], rows[-1]
    at_scale = last["leads"] == LIMITS["leads"]
    note = "" if at_scale else f" (limits are for {LIMITS['leads']:,} leads; this run's largest is {last['leads']:,})"
    print(f"{last['leads']:,} leads, {last['events']:,} events{note}:")
    print(f"  load + validate {last['load_s']:6.1f} s")
    print(f"  build features  {last['features_s']:6.1f} s")
    total, limit = last["total_s"], LIMITS["total_s"]
    print(f"  total           {total:6.1f} s   limit {limit:.0f} s   {_verdict(total, limit)}")
    peak, limit = last["peak_rss_mb"], LIMITS["peak_rss_mb"]
    print(f"  peak RSS        {peak:6,.0f} MB  limit {limit:,} MB  {_verdict(peak, limit)}")
    if len(rows) > 1:
        scale = last["leads"] / first["leads"]
        growth = {k: (last[k] / first[k]) / scale for k in ("load_s", "features_s", "total_s")}
        print(
            f"time per lead at {last['leads']:,} vs {first['leads']:,} leads (1.00 = linear): "
            f"load {growth['load_s']:.2f}x, build {growth['features_s']:.2f}x, total {growth['total_s']:.2f}x   "
            f"limit {LIMITS['growth']:.2f}x (linear or better)   {_verdict(growth['total_s'], LIMITS['growth'])}"
        )
    print(
        f"single lead, feature_columns as the service calls it ({latency['n']} requests, "
        f"{latency['events_per_request']:.0f} events of lead and account each): "
        f"p50 {latency['p50_ms']:.2f} ms (p95 {latency['p95_ms']:.2f} ms, p99 {latency['p99_ms']:.2f} ms)"
    )
    print(f"single lead through the pandas front build_features: p50 {latency['pandas_p50_ms']:.2f} ms")


def _verdict(value: float, limit: float) -> str:
    return "ok" if value <= limit else "OVER"


if __name__ == "__main__":
    main()
