"""Benchmark: one lead answered in-process (`Scorer.score`), stage by stage, beside its limits.

Run: .venv/bin/python benchmarks/bench_lead.py [--tracking-uri sqlite:///mlflow.db] [--n 2000] [--short]
Without --tracking-uri, a model is first trained on 20,000 demo leads into a throwaway store
(`bench_serving.trained_service_env`; --short: 3,000 leads and 200 answers per case). The
example lead of `serving/examples/score.json` is answered `--n` times with reasons and without,
with its account contacts and without them.
Each stage's time is its own (a stage called inside another counts once, in the inner one),
measured by wrapping the functions the scorer calls ("account members": who counts for the
account; "answer fields": the answer's columns and rows; "answer objects": the pydantic answer of
each lead); "the rest" is what no stage wraps: the request's bookkeeping, trend, next steps,
exploration. The wrappers cost about a microsecond a call, so the stage table's total is a little
above the plain p50 printed beside the limit.
Limits (issue 27): p50 <= 1 ms with reasons, <= 0.5 ms without.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

LIMITS_MS = {True: 1.0, False: 0.5}
# stage -> the functions whose own time it is (module, attribute path)
STAGES = {
    "request columns": [("serving.columns", "LeadColumns.__call__")],
    "features": [("serving.scorer", "feature_columns"), ("training.members", "feature_columns")],
    "rules": [("serving.scorer", "rule_score"), ("training.members", "rule_score")],
    "matrix": [("training.model", "LeadModel.matrix")],
    "margin": [("training.model", "LeadModel.margin")],
    "SHAP": [("training.model", "LeadModel.contributions")],
    "calibration": [("training.model", "LeadModel.calibrate"), ("training.model", "LeadModel.interval")],
    "reasons": [
        ("training.explain", "Explainer.totals"),
        ("training.explain", "Explainer.parts"),
        ("training.explain", "Explainer.reasons"),
    ],
    "account members": [("serving.scorer", "prepare")],
    "account": [("serving.scorer", "account_columns")],
    "answer fields": [("serving.scorer", "answer_columns"), ("serving.scorer", "answer_rows")],
    "answer objects": [("serving.scorer", "Scorer._by_model"), ("serving.scorer", "Scorer._by_rules")],
}
REST = "the rest"  # what no stage wraps: the request's own bookkeeping, trend, next steps, exploration


class Stages:
    """Own time per stage: wrappers on a stack, each subtracting the time of the calls inside it."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.stack: list[float] = []

    def wrap(self, stage: str, function):
        def timed(*args, **kwargs):
            self.stack.append(0.0)
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                took = time.perf_counter() - began
                inner = self.stack.pop()
                self.seconds[stage] += took - inner
                if self.stack:
                    self.stack[-1] += took

        return timed

    def install(self) -> None:
        import importlib

        for stage, places in STAGES.items():
            for module_name, path in places:
                owner = importlib.import_module(module_name)
                *outer, name = path.split(".")
                for part in outer:
                    owner = getattr(owner, part)
                setattr(owner, name, self.wrap(stage, getattr(owner, name)))


def _scorer(uri: str):
    from features.defaults import load_rules
    from serving.scorer import Scorer
    from training.registry import connect, load_model

    model = load_model("models:/leadscore@champion", connect(uri))
    scorer = Scorer(model, load_rules(), model.feature_config, model.contract)
    gc.freeze()  # as a service worker does after its start: no full collection walks what it imported
    return scorer


def _p50_ms(scorer, lead, reasons: bool, n: int) -> tuple[float, float]:
    """The p50 wall time of one answer (ms), and the process's mean CPU time per answer (ms): on
    shared cores the CPU time moves less with the neighbours than the wall time does."""
    for _ in range(50):
        scorer.score([lead], reasons=reasons)
    took = []
    cpu = time.process_time()
    for _ in range(n):
        began = time.perf_counter()
        scorer.score([lead], reasons=reasons)
        took.append(time.perf_counter() - began)
    return float(np.percentile(took, 50) * 1e3), (time.process_time() - cpu) / n * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", help="an MLflow store with leadscore@champion (default: train one)")
    parser.add_argument("--n", type=int, default=2_000, help="answers per case")
    parser.add_argument("--short", action="store_true", help="a small model and 200 answers per case")
    args = parser.parse_args()
    if args.short:
        args.n = 200
    from serving.schemas import Lead

    uri = args.tracking_uri
    if uri is None:
        from benchmarks.bench_serving import trained_service_env

        folder = Path(tempfile.mkdtemp(prefix="bench-lead-"))
        uri = trained_service_env(folder, 3_000 if args.short else 20_000)["MLFLOW_TRACKING_URI"]
    scorer = _scorer(uri)
    body = json.loads((PROJECT / "serving" / "examples" / "score.json").read_text())["lead"]
    cases = {"with contacts": Lead.model_validate(body), "no contacts": Lead.model_validate(body | {"contacts": []})}
    console = Console()
    plain = {(c, r): _p50_ms(scorer, lead, r, args.n) for c, lead in cases.items() for r in (True, False)}
    summary = Table(title="One lead in-process (Scorer.score), p50 ms, one run")
    for column in ("case", "reasons", "p50 ms", "limit ms", "within", "CPU ms per answer"):
        summary.add_column(column, justify="right")
    for (case, reasons), (p50, cpu) in plain.items():
        limit = LIMITS_MS[reasons]
        summary.add_row(case, str(reasons), f"{p50:.3f}", f"{limit:.1f}", "yes" if p50 <= limit else "NO", f"{cpu:.3f}")
    console.print(summary)

    stages = Stages()
    stages.install()
    table = Table(title="Own time per stage, microseconds per answer (wrapped run)")
    table.add_column("stage")
    columns = list(plain)
    for case, reasons in columns:
        table.add_column(f"{case}, {'reasons' if reasons else 'no reasons'}", justify="right")
    per_case = {}
    for case, reasons in columns:
        stages.seconds.clear()
        began = time.perf_counter()
        for _ in range(args.n):
            scorer.score([cases[case]], reasons=reasons)
        total = time.perf_counter() - began
        own = dict(stages.seconds)
        own[REST] = total - sum(own.values())
        per_case[(case, reasons)] = {k: v / args.n * 1e6 for k, v in own.items()} | {"total": total / args.n * 1e6}
    for stage in [*STAGES, REST, "total"]:
        table.add_row(stage, *(f"{per_case[c].get(stage, 0.0):.0f}" for c in columns))
    console.print(table)


if __name__ == "__main__":
    main()
