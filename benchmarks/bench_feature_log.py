"""Benchmark: the feature log's compact rows (issue #25): 1,000,000 feature rows written and read
back, and what logging them adds to an answer.

Run: .venv/bin/python benchmarks/bench_feature_log.py [--rows 1000000] [--short]
(--short: 50,000 rows and fewer repetitions, for `make test-slow`.)
Not timed: a 3,000-lead world is generated and a model trained on it (a throwaway MLflow store);
its hand-overs' feature rows (the model's own input, by its feature names: the real width and
kinds, numbers and texts) are drawn at random into `--rows` rows (new lead ids, times spread over
26 weeks) and written through `FeedbackStore.log_feature_frame` into a SQLite store (timed apart:
encoding and inserting, rows/s).
Timed, in a fresh process (its own peak memory): `FeedbackStore.read_feature_rows()` of every row,
against the limit: `leadscore monitor` must finish in 60 s on 2 cores, so the read should take at
most a third of it (20 s). Also printed: the bytes per row on disk (SQLite's `dbstat` when it has
it, else the file) next to the same rows as JSON text, and the cost of the feature log on an
answer in-process: `Scorer.score_and_features` with rate 0 and rate 1, interleaved, p50 and p99;
and on a batch of 1,000 different leads: the CPU the feature rows add to its answer, and the
store's cost of encoding and inserting those 1,000 rows (`FeedbackStore.log_feature_rows`, SQLite).
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

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_serving's leads

LIMIT = 60.0  # seconds for the whole `leadscore monitor` (issue #25, 2 cores)
AIM = 20.0  # seconds for the read alone: a third of the limit
START = pd.Timestamp("2026-01-05", tz="UTC")
EXAMPLE = Path(__file__).resolve().parents[1] / "serving" / "examples" / "score.json"


def model_rows(folder: Path, tracking: str):
    """A model trained on a small world, and its hand-overs' feature rows (as the service logs them)."""
    from features.defaults import load_rules
    from features.settings import FeatureConfig
    from monitoring.monitor import read_folder
    from synthetic.generate import generate, write_dataset
    from training.registry import connect, load_model
    from training.settings import TrainingConfig
    from training.train import train

    write_dataset(generate(3_000, seed=7), folder, "parquet")
    train(folder, TrainingConfig(), FeatureConfig(), load_rules(), tracking_uri=tracking)
    model = load_model("models:/leadscore@champion", connect(tracking))
    return model, read_folder(folder, model).features


def rows_of(base: pd.DataFrame, names: list[str], version: str, rows: int, seed: int = 0) -> pd.DataFrame:
    """`rows` feature rows drawn from `base`: new lead ids, times over 26 weeks."""
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(base), rows)
    at = START + pd.to_timedelta(np.sort(rng.integers(0, 26 * 7 * 86_400, rows)), unit="s")
    head = pd.DataFrame(
        {
            "lead_id": [f"B{i}" for i in range(rows)],
            "scored_at": at,
            "model_version": version,
            "segment": base["segment"].astype(str).to_numpy()[pick],
        }
    )
    features = base[names].iloc[pick].reset_index(drop=True)
    return pd.concat([head, features.drop(columns=["segment"], errors="ignore")], axis=1)


def on_disk(path: Path, rows: int) -> tuple[float, str]:
    """Bytes per feature row on disk, and how they were measured."""
    import sqlite3

    with sqlite3.connect(path) as connection:
        try:
            (size,) = connection.execute(
                "select sum(pgsize) from dbstat where name = 'score_features' or name like 'ix_score_features%'"
            ).fetchone()
            return size / rows, "dbstat: the table and its index"
        except sqlite3.OperationalError:
            return path.stat().st_size / rows, "the whole file"


def read_back(db: str) -> dict:
    """Read every feature row (run in a fresh process)."""
    from core.store import FeedbackStore

    store = FeedbackStore(db)
    began = time.perf_counter()
    frame = store.read_feature_rows()
    took = time.perf_counter() - began
    kinds = frame.dtypes.iloc[4:].astype(str).value_counts().to_dict()
    return {
        "rows": len(frame),
        "features": len(frame.columns) - 4,
        "kinds": kinds,
        "seconds": took,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def answer_cost(model, repeats: int) -> dict[str, tuple[float, float]]:
    """p50 and p99 (ms) of one lead's `score_and_features` without and with the feature log."""
    from features.defaults import load_rules
    from serving.schemas import Lead
    from serving.scorer import Scorer

    scorer = Scorer(model, load_rules(), model.feature_config, model.contract)
    lead = Lead.model_validate(json.loads(EXAMPLE.read_text())["lead"])
    times: dict[float, list[float]] = {0.0: [], 1.0: []}
    for i in range(repeats + repeats // 10):
        for rate in (0.0, 1.0) if i % 2 else (1.0, 0.0):  # interleaved: the same machine load for both
            began = time.perf_counter()
            _, features = scorer.score_and_features([lead], rate=rate)
            took = time.perf_counter() - began
            assert len(features) == int(rate)
            if i >= repeats // 10:  # the first tenth warms up
                times[rate].append(took * 1e3)
    return {f"rate {rate:g}": (float(np.percentile(t, 50)), float(np.percentile(t, 99))) for rate, t in times.items()}


def batch_cost(model, repeats: int, folder: Path) -> dict[str, float]:
    """CPU ms a 1,000-lead batch's answer takes without and with its feature rows (interleaved, best
    of `repeats`), and ms to write its 1,000 feature rows into a fresh SQLite store (best of 3)."""
    from bench_serving import distinct_leads

    from core.store import FeedbackStore
    from features.defaults import load_rules
    from serving.schemas import Lead
    from serving.scorer import Scorer

    scorer = Scorer(model, load_rules(), model.feature_config, model.contract)
    leads = [Lead.model_validate(raw) for raw in distinct_leads(1_000)]
    best = {0.0: np.inf, 1.0: np.inf}
    for i in range(repeats):
        for rate in (0.0, 1.0) if i % 2 else (1.0, 0.0):
            began = time.process_time()
            scorer.score_and_features(leads, rate=rate, reasons=False)
            best[rate] = min(best[rate], time.process_time() - began)
    _, features = scorer.score_and_features(leads, rate=1.0, reasons=False)
    assert len(features) == len(leads)
    writes = []
    for k in range(3):
        store = FeedbackStore(f"sqlite:///{folder / f'batch{k}.db'}")
        store.log_feature_rows(features[:1])  # the tables and the layout exist: the write alone is timed
        began = time.perf_counter()
        store.log_feature_rows(features)
        writes.append(time.perf_counter() - began)
        store.engine.dispose()
    return {"rate 0": best[0.0] * 1e3, "rate 1": best[1.0] * 1e3, "write": min(writes) * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="feature rows written and read")
    parser.add_argument("--short", action="store_true", help="50,000 rows, fewer repetitions (make test-slow)")
    parser.add_argument("--read", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read:
        print(json.dumps(read_back(args.read)))
        return
    rows = 50_000 if args.short else args.rows
    from core.store import FeedbackStore

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tracking, path = f"sqlite:///{root / 'mlflow.db'}", root / "feedback.db"
        print("training a model on 3,000 leads (not timed)", flush=True)
        model, base = model_rows(root / "world", tracking)
        frame = rows_of(base, list(model.feature_names), model.version, rows)
        store = FeedbackStore(f"sqlite:///{path}")
        began = time.perf_counter()
        store.log_feature_frame(frame)
        written = time.perf_counter() - began
        store.engine.dispose()
        per_row, how = on_disk(path, rows)
        sample = frame.iloc[:2_000, 4:]
        as_json = sample.to_json(orient="records", lines=True).encode()
        json_per_row = len(as_json) / len(sample)
        del frame
        done = subprocess.run(
            [sys.executable, __file__, "--read", f"sqlite:///{path}"], capture_output=True, text=True, timeout=3_600
        )
        if done.returncode:
            raise SystemExit(done.stderr[-3000:])
        r = json.loads(done.stdout.strip().splitlines()[-1])
        cost = answer_cost(model, 300 if args.short else 3_000)
        batch = batch_cost(model, 3 if args.short else 10, root)
    assert r["rows"] == rows, r
    print(f"feature rows: {rows:,} x {r['features']} features of model {model.version} ({r['kinds']})")
    print(f"write (encode + insert, SQLite): {written:.1f} s, {rows / written:,.0f} rows/s")
    print(f"on disk: {per_row:,.0f} bytes per row ({how}); the same rows as JSON text: {json_per_row:,.0f} bytes")
    print(
        f"read_feature_rows: {r['seconds']:.1f} s, {rows / r['seconds']:,.0f} rows/s, "
        f"peak RSS {r['peak_rss_mb']:,.0f} MB; "
        f"aim {AIM:.0f} s (ratio {r['seconds'] / AIM:.2f}), limit of the whole monitor {LIMIT:.0f} s "
        f"(ratio {r['seconds'] / LIMIT:.2f})"
    )
    for name, (p50, p99) in cost.items():
        print(f"Scorer.score_and_features, one lead, feature log {name}: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    added = cost["rate 1"][0] - cost["rate 0"][0]
    print(f"added by the feature log on the request path: {added:+.3f} ms at p50")
    print(
        f"a 1,000-lead batch without reasons, CPU: {batch['rate 0']:.1f} ms without its feature rows, "
        f"{batch['rate 1']:.1f} ms with them ({batch['rate 1'] - batch['rate 0']:+.1f} ms); writing those 1,000 "
        f"feature rows (encode + insert, SQLite): {batch['write']:.1f} ms"
    )


if __name__ == "__main__":
    main()
