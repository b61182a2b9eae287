"""Benchmark: the live loop's honest figures (issue #25, acceptance bullets 2 and 3).

Run: .venv/bin/python benchmarks/bench_live.py [--seeds 10] [--holdout-seeds 100] [--short]
(--short: 3 seeds of the estimates, 10 of the hold-out, a smaller world: a few minutes, for
`make test-slow`.)
One generated world (2024-2025) and one model trained on it (a throwaway MLflow store); then
`leadscore simulate` continues the world past its history against the scoring service, each seed in
a fresh copy of the world and a fresh feedback store (lead ids of separate seeds would collide in
one store). The service is the BentoML app's ASGI form driven by Starlette's TestClient (an httpx
client, which `synthetic.crm.CRM` takes as its `http`), not a `leadscore serve` subprocess: the
same code path (/score_batch, /feedback, the score log written off the request path) with a new
service instance in about a second per seed, where a process takes ten or more.

1. Estimates before labels (no drift, no exploration): on the scored hand-over candidates (the
   simulated leads that raised their hand, scored by the model at that moment: the population the
   model was trained on, its hand-overs), CBPE from the answers' probabilities alone (expected
   ROC AUC; expected acceptance of the model's MQLs = their mean probability) against the
   realised figures from the simulation's truth (ROC AUC of the probabilities against what sales
   would decide on every candidate, `would_accept`; acceptance of the model's MQLs = their mean
   `would_accept`). Limit: |diff| <= 0.03 for each, on every seed.
2. The exploration hold-out (LEADSCORE_EXPLORE_SHARE=0.05, drain weeks so that explored leads'
   decisions come back): the acceptance of the leads below both thresholds estimated by
   self-normalised IPW with its 95% bootstrap interval (`monitoring.ipw.acceptance`) from what the
   CRM saw, against the truth: the mean acceptance probability (`accept_probability`, sales'
   decision's own probability, of which `would_accept` is one draw) of every model-scored lead
   below both thresholds in the period. Beside it the naive rate: acceptance among every decided
   handed-over lead, with its 95% Wilson interval. Limit: the IPW interval covers the truth in at
   least 90 of 100 seeds. The decisions are read from the truth file's record of what the CRM
   posted first (each hand-over's first decision); for the first seeds the same estimate is also
   made end to end from the service's store (`read_scores` + `latest_decisions`, through
   `reports.sources.live_funnel`), whose decisions in force include the reps' corrections (~3% of
   decisions flipped later): printed beside.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

KEY = "bench-live-key"
WORLD_SEED = 29
LIMIT_ESTIMATE = 0.03  # |estimated - realised|, ROC AUC and acceptance of model MQLs
SHARE = 0.05  # the exploration hold-out's share
LIMIT_COVERED = 90  # of 100 seeds


def make_world(root: Path, leads: int) -> tuple[Path, str]:
    """Generate a world of `leads` leads (2024-2025) into root/world with its manifest, train a
    model on it into root/mlflow.db (@champion); the world's folder and the tracking URI."""
    from features.defaults import load_rules
    from features.settings import FeatureConfig
    from synthetic.generate import generate, write_dataset
    from synthetic.manifest import World
    from training.settings import TrainingConfig
    from training.train import train

    folder = root / "world"
    write_dataset(generate(leads, seed=WORLD_SEED), folder, "parquet")
    World(seed=WORLD_SEED, leads=leads, start="2024-01-01", days=730, format="parquet").write(folder)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    train(folder, TrainingConfig(), FeatureConfig(), load_rules(), tracking_uri=uri)
    return folder, uri


@cache
def _app():
    """The service's ASGI app, built once per process (BentoML registers its metrics per app);
    each TestClient context starts a new service instance in it with the environment of the time."""
    from serving.service import LeadScoring

    return LeadScoring.to_asgi()


@contextmanager
def service(uri: str, db: Path, explore: float = 0.0, explore_seed: int = 0) -> Iterator:
    """A started service (an httpx client on its ASGI app) serving @champion of `uri`, logging to
    the SQLite store `db`, exploring `explore` of the leads below both thresholds (seeded
    `explore_seed`), without the feature log (not read here) or model reloading."""
    from starlette.testclient import TestClient

    env = {
        "LEADSCORE_API_KEY": KEY,
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_REGISTRY_URI": uri,
        "LEADSCORE_DB_URL": f"sqlite:///{db}",
        "LEADSCORE_RELOAD_SECONDS": "0",
        "LEADSCORE_FEATURE_LOG_RATE": "0",
        "LEADSCORE_EXPLORE_SHARE": str(explore),
        "LEADSCORE_EXPLORE_SEED": str(explore_seed),
    }
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        with TestClient(_app()) as client:
            yield client
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def simulate_in(base: Path, folder: Path, client, options) -> pd.DataFrame:
    """Copy the world `base` to `folder` and simulate `options` (`synthetic.simulate.Options`)
    against the service behind `client` (an httpx client); the simulation's truth file."""
    from synthetic.crm import CRM
    from synthetic.drift import parse
    from synthetic.simulate import simulate

    shutil.copytree(base, folder)
    simulate(folder, CRM("http://testserver", KEY, http=client), options, parse(None))
    return pd.read_parquet(folder / "simulation" / "truth.parquet")


# --- 1. estimates before labels ---------------------------------------------------------------


def candidates(truth: pd.DataFrame) -> pd.DataFrame:
    """The rows compared: the hand-over candidates (leads that raised their hand) the model scored,
    less those the label policy excludes (the model's probability is that sales accept a lead that
    is not a duplicate or spam: training leaves those decisions out, training/defaults/training.yaml)."""
    from training.settings import LabelPolicy

    policy = LabelPolicy()
    excluded = [reason for reason, target in policy.reasons.items() if target == "exclude"]
    scored = truth["candidate"] & (truth["scored_by"] == "model") & truth["probability"].notna()
    return truth[scored & ~truth["reason"].isin(excluded)]


def estimates_vs_realised(truth: pd.DataFrame) -> dict:
    """CBPE from the answers alone against the realised figures of the truth, on `candidates`."""
    from monitoring.estimate import cbpe, realised

    rows = candidates(truth)
    p, mql = rows["probability"].to_numpy(float), rows["is_mql"].to_numpy(bool)
    expected, actual = cbpe(p, mql), realised(p, mql, rows["would_accept"].to_numpy(float))
    out = {"n": len(rows), "mqls": int(mql.sum())}
    for name in ("roc_auc", "mql_acceptance"):
        out[f"{name}_est"], out[f"{name}_real"] = expected[name], actual[name]
        out[f"{name}_diff"] = abs(expected[name] - actual[name])
    out["mean_p"], out["acceptance"] = float(p.mean()), actual["acceptance"]
    return out


# --- 2. the exploration hold-out ----------------------------------------------------------------


def below_truth(truth: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """The model-scored leads (one answer each) with `below_both`, `accepted` (the first decision
    the CRM posted: 1/0, NaN if none came back or never sent) and `propensity` (the answer's), and
    the truth: the mean acceptance probability of every lead below both thresholds."""
    rows = truth[(truth["scored_by"] == "model") & truth["probability"].notna()]
    below = ~rows["is_mql"].astype(bool) & ~rows["rule_is_mql"].astype(bool)
    decided = rows["handed"] & rows["posted"]
    frame = pd.DataFrame(
        {
            "below_both": below,
            "handed": rows["handed"].astype(bool),
            "explored": rows["explored"].astype(bool),
            "accepted": np.where(decided, (rows["decision"] == "accepted").astype(float), np.nan),
            "propensity": rows["propensity"].astype(float),
        }
    )
    return frame, float(rows.loc[below, "accept_probability"].mean())


def holdout(frame: pd.DataFrame, truth: float, seed: int) -> dict:
    """The IPW estimate below both thresholds and the naive rate of every decided hand-over, each
    with its 95% interval and whether it covers `truth`."""
    from monitoring.calibration import wilson
    from monitoring.ipw import BELOW, acceptance

    row = acceptance(frame, {BELOW: "below_both"}, seed=seed).iloc[0]
    handed = frame.loc[frame["handed"], "accepted"].dropna()
    low, high = wilson(int(handed.sum()), len(handed))
    return {
        "truth": truth,
        "n": int(row["n"]),
        "explored": int(frame["explored"].sum()),
        "decided": int(row["decided"]),
        "estimate": float(row["estimate"]),
        "low": float(row["low"]),
        "high": float(row["high"]),
        "covered": bool(row["low"] <= truth <= row["high"]),
        "naive": float(handed.mean()) if len(handed) else np.nan,
        "naive_low": low,
        "naive_high": high,
        "naive_covered": bool(low <= truth <= high),
    }


def from_store(db: Path, seed: int) -> dict:
    """The same IPW estimate end to end from the service's store: the score log and the decisions
    in force, joined as `leadscore compare --db` joins them."""
    from core.store import FeedbackStore
    from monitoring.ipw import BELOW, acceptance
    from reports.sources import live_funnel

    store = FeedbackStore(f"sqlite:///{db}")
    try:
        rows = live_funnel(store.read_scores(), store.latest_decisions())
    finally:
        store.engine.dispose()
    row = acceptance(rows, {BELOW: "below_both"}, seed=seed).iloc[0]
    return {
        "n": int(row["n"]),
        "decided": int(row["decided"]),
        "estimate": float(row["estimate"]),
        "low": float(row["low"]),
        "high": float(row["high"]),
    }


def wait_for_log(db: Path, rows: int, timeout: float = 60) -> None:
    """Wait until the service's writer (off the request path) has logged `rows` answers in `db`."""
    from core.store import FeedbackStore

    store = FeedbackStore(f"sqlite:///{db}")
    deadline = time.monotonic() + timeout
    try:
        while len(store.read_scores(["probability"])) < rows:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{db}: the score log did not reach {rows:,} answers in {timeout:.0f} s")
            time.sleep(0.2)
    finally:
        store.engine.dispose()


# --- the run --------------------------------------------------------------------------------------


def run_estimates(base: Path, uri: str, root: Path, seeds: int, weeks: int, per_week: int, bar) -> list[dict]:
    from synthetic.simulate import Options

    rows = []
    task = bar.add_task("estimates before labels", total=seeds)
    for seed in range(seeds):
        folder = root / f"estimates-{seed}"
        with service(uri, root / f"estimates-{seed}.db") as client:
            truth = simulate_in(base, folder, client, Options(weeks=weeks, leads_per_week=per_week, seed=seed))
        rows.append({"seed": seed, **estimates_vs_realised(truth)})
        shutil.rmtree(folder)
        bar.update(task, advance=1)
    return rows


def run_holdout(base: Path, uri: str, root: Path, seeds: int, options: dict, store_seeds: int, bar) -> list[dict]:
    from synthetic.simulate import Options

    rows = []
    task = bar.add_task(f"exploration hold-out at {SHARE:.0%}", total=seeds)
    for seed in range(seeds):
        folder, db = root / f"holdout-{seed}", root / f"holdout-{seed}.db"
        with service(uri, db, explore=SHARE, explore_seed=seed) as client:
            truth = simulate_in(base, folder, client, Options(explore=SHARE, seed=100 + seed, **options))
            if seed < store_seeds:
                wait_for_log(db, int(truth["scored"].sum()))
        frame, target = below_truth(truth)
        row = {"seed": seed, **holdout(frame, target, seed)}
        if seed < store_seeds:
            row["store"] = from_store(db, seed)
        rows.append(row)
        shutil.rmtree(folder)
        db.unlink()
        bar.update(task, advance=1)
    return rows


def _f(x: float, digits: int = 3) -> str:
    return "-" if pd.isna(x) else f"{x:.{digits}f}"


def print_estimates(console, rows: list[dict], weeks: int, per_week: int) -> bool:
    """The table of part 1 and its verdict; whether every seed is within the limit."""
    from rich.table import Table

    table = Table(
        title=f"1. Estimates before labels: {weeks} weeks x {per_week:,} leads a week, no drift; "
        "scored hand-over candidates"
    )
    heads = ["seed", "candidates", "MQLs", "est. AUC", "real AUC", "|diff|", "AUC ok"]
    heads += ["est. MQL acc.", "real MQL acc.", "|diff|", "MQL acc. ok"]
    for head in heads:
        table.add_column(head, justify="right")
    ok_all = True
    for r in rows:
        ok_auc, ok_acc = r["roc_auc_diff"] <= LIMIT_ESTIMATE, r["mql_acceptance_diff"] <= LIMIT_ESTIMATE
        ok_all &= ok_auc and ok_acc
        table.add_row(
            str(r["seed"]),
            f"{r['n']:,}",
            f"{r['mqls']:,}",
            _f(r["roc_auc_est"]),
            _f(r["roc_auc_real"]),
            _f(r["roc_auc_diff"]),
            "yes" if ok_auc else "NO",
            _f(r["mql_acceptance_est"]),
            _f(r["mql_acceptance_real"]),
            _f(r["mql_acceptance_diff"]),
            "yes" if ok_acc else "NO",
        )
    console.print(table)
    worst_auc = max(r["roc_auc_diff"] for r in rows)
    worst_acc = max(r["mql_acceptance_diff"] for r in rows)
    console.print(
        f"max |diff| over {len(rows)} seeds: ROC AUC {worst_auc:.3f}, acceptance of model MQLs {worst_acc:.3f} "
        f"(limit {LIMIT_ESTIMATE}); mean probability vs acceptance of all candidates: "
        + ", ".join(f"{r['mean_p']:.3f}/{r['acceptance']:.3f}" for r in rows[:5])
        + (" ..." if len(rows) > 5 else "")
    )
    return ok_all


def print_holdout(console, rows: list[dict], options: dict) -> tuple[bool, int, int]:
    """The table of part 2 and its figures; (pass, IPW covered, naive covered)."""
    from rich.table import Table

    table = Table(
        title=f"2. Exploration hold-out at {SHARE:.0%}: {options['weeks']} weeks x {options['leads_per_week']:,} "
        f"leads + {options['drain_weeks']} drain weeks; acceptance of the leads below both thresholds"
    )
    heads = ["seed", "below both", "explored", "decided", "truth", "IPW", "95% interval", "covered"]
    heads += ["naive (handed)", "95% interval", "covered", "store: IPW", "store: interval"]
    for head in heads:
        table.add_column(head, justify="right")
    for r in rows:
        store = r.get("store")
        table.add_row(
            str(r["seed"]),
            f"{r['n']:,}",
            str(r["explored"]),
            str(r["decided"]),
            _f(r["truth"]),
            _f(r["estimate"]),
            f"{_f(r['low'])}-{_f(r['high'])}",
            "yes" if r["covered"] else "NO",
            _f(r["naive"]),
            f"{_f(r['naive_low'])}-{_f(r['naive_high'])}",
            "yes" if r["naive_covered"] else "no",
            _f(store["estimate"]) if store else "",
            f"{_f(store['low'])}-{_f(store['high'])}" if store else "",
        )
    console.print(table)
    covered = sum(r["covered"] for r in rows)
    naive = sum(r["naive_covered"] for r in rows)
    need = int(np.ceil(LIMIT_COVERED / 100 * len(rows)))
    width = np.mean([r["high"] - r["low"] for r in rows])
    bias = np.mean([r["estimate"] - r["truth"] for r in rows])
    console.print(
        f"IPW interval covers the truth in {covered} of {len(rows)} seeds (limit >= {need}); the naive rate's in "
        f"{naive} of {len(rows)}; mean interval width {width:.3f}, mean IPW - truth {bias:+.3f}, mean naive - truth "
        f"{np.mean([r['naive'] - r['truth'] for r in rows]):+.3f}"
    )
    stored = [r for r in rows if "store" in r]
    if stored:
        console.print(
            f"end to end through the store ({len(stored)} seeds; decisions in force, corrections included): "
            f"covers the truth in {sum(r['store']['low'] <= r['truth'] <= r['store']['high'] for r in stored)} "
            f"of {len(stored)}; mean store - truth-file estimate "
            f"{np.mean([r['store']['estimate'] - r['estimate'] for r in stored]):+.3f}"
        )
    return covered >= need and naive < need, covered, naive


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=30_000, help="leads of the generated history")
    parser.add_argument("--seeds", type=int, default=10, help="seeds of the estimates before labels")
    parser.add_argument("--holdout-seeds", type=int, default=100, help="seeds of the exploration hold-out")
    parser.add_argument("--store-seeds", type=int, default=5, help="hold-out seeds also read end to end from the store")
    parser.add_argument("--short", action="store_true", help="3 and 10 seeds, a smaller world (make test-slow)")
    args = parser.parse_args()
    if args.short:
        args.leads, args.seeds, args.holdout_seeds, args.store_seeds = 15_000, 3, 10, 2
    weeks, per_week = (4, 1_500) if args.short else (4, 4_000)  # ~2,000 MQLs a seed: the draw's SE ~0.011
    options = {"weeks": 2, "drain_weeks": 4, "leads_per_week": 800}
    from rich.console import Console

    from features.cli import progress

    console = Console(width=200)
    began = time.perf_counter()
    memory = Path("/dev/shm")  # the stores' commits cost no disk flush there (one per /feedback post)
    with tempfile.TemporaryDirectory(dir=memory if memory.is_dir() else None) as tmp, progress() as bar:
        root = Path(tmp)
        task = bar.add_task(f"generating {args.leads:,} leads and training", total=1)
        base, uri = make_world(root, args.leads)
        bar.update(task, advance=1)
        trained = time.perf_counter()
        estimates = run_estimates(base, uri, root, args.seeds, weeks, per_week, bar)
        part1 = time.perf_counter()
        held = run_holdout(base, uri, root, args.holdout_seeds, options, args.store_seeds, bar)
        part2 = time.perf_counter()
    ok1 = print_estimates(console, estimates, weeks, per_week)
    ok2, covered, naive = print_holdout(console, held, options)
    console.print(
        f"time: world and model {trained - began:.0f} s, estimates {part1 - trained:.0f} s "
        f"({(part1 - trained) / args.seeds:.1f} s a seed), hold-out {part2 - part1:.0f} s "
        f"({(part2 - part1) / args.holdout_seeds:.1f} s a seed), total {part2 - began:.0f} s"
    )
    console.print(
        f"{'PASS' if ok1 else 'FAIL'}: before labels, estimated ROC AUC and acceptance of model MQLs within "
        f"{LIMIT_ESTIMATE} of the realised figures on {args.seeds} seeds without drift"
    )
    console.print(
        f"{'PASS' if ok2 else 'FAIL'}: with {SHARE:.0%} exploration, the 95% IPW interval covers the truth below both "
        f"thresholds in {covered} of {args.holdout_seeds} seeds (limit {LIMIT_COVERED}%), the handed-over leads' "
        f"rate in {naive}"
    )


if __name__ == "__main__":
    main()
