"""Benchmark: `leadscore recalibrate` after sales start accepting twice as many leads.

Run: .venv/bin/python benchmarks/recalibration.py [--leads 20000] [--short]
(--short: 4,000 leads, the whole path in under a minute, for `make test-slow`.)
Generates a CRM history, doubles the acceptance of every hand-over from the 60% point in time on
(rejections turned into acceptances at random: the features predict as well as before, only the
base rate moves), trains on the hand-overs before the change, recalibrates on the decisions from
the change to the 80% point, and prints ECE, log-loss, mean probability and acceptance on the
following 20% (which neither the model nor its recalibration saw), before and after, with the time
the recalibration took next to the training's.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from rich.console import Console
from rich.table import Table
from sklearn.metrics import log_loss


def doubled(outcomes: pd.DataFrame, change: pd.Timestamp, seed: int = 0) -> pd.DataFrame:
    """From `change` on, twice the acceptance: rejections turned into acceptances at random."""
    out = outcomes.copy()
    decided = out["decision"].isin(["accepted", "rejected"])
    before = out.loc[decided & (out["mql_at"] < change), "decision"].eq("accepted").mean()
    after = decided & (out["mql_at"] >= change) & out["decision"].eq("rejected")
    flip = after & (np.random.default_rng(seed).random(len(out)) < before / (1 - before))
    out.loc[flip, "decision"], out.loc[flip, "reason"] = "accepted", None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--short", action="store_true", help="small sizes: the whole path in seconds (make test-slow)")
    args = parser.parse_args()
    if args.short:
        args.leads = 4_000
    from features.build import build_features
    from features.contract import load_dataset
    from features.defaults import load_rules
    from features.settings import FeatureConfig
    from synthetic.generate import generate, write_dataset
    from training import recalibrate as rc
    from training.labels import label_outcomes
    from training.metrics import expected_calibration_error
    from training.registry import connect, load_model
    from training.settings import LabelPolicy, TrainingConfig
    from training.train import train

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tables = generate(args.leads, seed=5)
        mql = pd.to_datetime(tables["outcomes"].column("mql_at").to_pandas(), utc=True)
        change, following = mql.quantile(0.6), mql.quantile(0.8)
        outcomes = doubled(tables["outcomes"].to_pandas(), change)
        for name, keep in (("before", mql < change), ("recent", mql < following), ("all", mql == mql)):
            part = pa.Table.from_pandas(
                outcomes[keep.to_numpy()], schema=tables["outcomes"].schema, preserve_index=False
            )
            write_dataset({**tables, "outcomes": part}, root / name, "parquet")
        uri = f"sqlite:///{root / 'mlflow.db'}"
        began = time.perf_counter()
        train(root / "before", TrainingConfig(), FeatureConfig(), load_rules(), tracking_uri=uri)
        trained_in = time.perf_counter() - began
        model = load_model("models:/leadscore@champion", connect(uri))
        began = time.perf_counter()
        decided = rc.decisions_from_folder(model, root / "recent", TrainingConfig().labels, change)
        result = rc.recalibrate(decided)
        new = rc.recalibrated_model(model, result, decided.mql_at.max())
        recalibrated_in = time.perf_counter() - began

        data = load_dataset(root / "all")
        rows = label_outcomes(data.outcomes, LabelPolicy(mature_after_days=0))
        rows = rows[rows["mql_at"] >= following].merge(data.leads, on="lead_id").reset_index(drop=True)
        features = build_features(
            rows, data.events, "mql_at", model.feature_config, model.contract, population=data.leads
        )
        y = rows["label"].to_numpy()
        table = Table(title=f"the following period: {len(y):,} hand-overs from {following:%Y-%m-%d}")
        for column in ("", "as trained", "recalibrated"):
            table.add_column(column, justify="right" if column else "left")
        p0, p1 = model.probability(features), new.probability(features)
        table.add_row(
            "ECE (10 bins)", f"{expected_calibration_error(y, p0):.4f}", f"{expected_calibration_error(y, p1):.4f}"
        )
        table.add_row("log-loss", f"{log_loss(y, p0):.4f}", f"{log_loss(y, p1):.4f}")
        table.add_row("mean probability", f"{p0.mean():.4f}", f"{p1.mean():.4f}")
        table.add_row("acceptance", f"{y.mean():.4f}", f"{y.mean():.4f}")
        console = Console(width=120)
        console.print(table)
        console.print(
            f"recalibrated on {result.rows:,} decisions from {change:%Y-%m-%d} in {recalibrated_in:.1f} s "
            f"(training took {trained_in:.1f} s, {trained_in / recalibrated_in:.0f}x longer); gate: {result.reason}"
        )


if __name__ == "__main__":
    main()
