"""Benchmark: the account answer on the demo data's test period, side by side with the best lead's
probability, the roll-up and the rule score's roll-up (issue 26's acceptance).

Run: .venv/bin/python benchmarks/bench_accounts.py [--leads 100000] [--seed 7] [--data FOLDER] [--short]
(--short: 20,000 leads, about a minute, for `make test-slow`; its figures are not the acceptance's.)
The demo data (`make demo`: 100,000 leads, seed 7) is generated into a temporary folder unless
--data names one; then the run's steps that `leadscore train` takes up to the account answer
(`training.train.training_data`, `fit`, `training.account_fit.fit_accounts`) run once, and the
test period's account windows are measured: ROC AUC, PR AUC, ECE and log-loss of each answer,
the independence check of the roll-up, and whether the acceptance holds (ECE <= 0.03 and ROC AUC at
least the best lead's), each figure printed beside its limit.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ANSWERS = {
    "account": "account answer (kept)",
    "account_model": "account model",
    "account_rollup": "roll-up 1 - prod(1 - p)",
    "account_best_lead": "best lead's probability",
    "account_rule_rollup": "rule score's roll-up (best rule score)",
}
MAX_ECE = 0.03


def measure(folder: Path) -> tuple[dict, list[str], float]:
    from features.defaults import load_rules
    from features.settings import FeatureConfig
    from training.account_fit import fit_accounts
    from training.settings import TrainingConfig
    from training.train import fit, training_data

    config, features, rules = TrainingConfig(), FeatureConfig(), load_rules()
    began = time.perf_counter()
    data = training_data(folder, config, features)
    fitted = fit(data, config, features, rules)
    fit_began = time.perf_counter()
    accounts = fit_accounts(data, fitted.model, config, rules)
    seconds = time.perf_counter() - fit_began
    why = [accounts.model.why] if accounts.model is not None else []
    print(f"data, features and the lead model: {fit_began - began:.1f} s; the account answer: {seconds:.1f} s")
    return accounts.metrics, [*why, *accounts.notes], seconds


def show(metrics: dict, notes: list[str]) -> bool:
    out = Console(width=120)
    table = Table(title="account windows of the test period: any lead accepted in the window", title_justify="left")
    for column in ("answer", "ROC AUC", "PR AUC", "ECE", "log-loss"):
        table.add_column(column, justify="left" if column == "answer" else "right")
    for key, words in ANSWERS.items():
        cells = [metrics.get(f"{key}_{m}") for m in ("roc_auc", "pr_auc", "ece", "log_loss")]
        table.add_row(words, *("-" if c is None else f"{c:.4f}" for c in cells))
    out.print(table)
    windows, rate = metrics.get("account_test_windows"), metrics.get("account_acceptance_rate")
    if windows is not None:
        out.print(f"test windows {windows:,.0f}, accepted {rate:.1%}")
    if "account_handover_rollup_windows" in metrics:
        n, predicted, observed = (metrics[f"account_handover_rollup_{k}"] for k in ("windows", "predicted", "observed"))
        out.print(
            f"independence check, {n:,.0f} test windows of 2+ hand-overs: the roll-up of the handed-over leads "
            f"predicts {predicted:.1%} with at least one accepted; sales accepted at least one in {observed:.1%}"
        )
    if "account_mqa_share" in metrics:
        out.print(
            f"MQAs {metrics['account_mqa_share']:.1%} of the test windows, a lead accepted in "
            f"{metrics['account_mqa_acceptance']:.1%} of them; accounts with a rule MQL "
            f"{metrics['account_rule_mql_share']:.1%}, accepted in {metrics['account_rule_mql_acceptance']:.1%}"
        )
    for note in notes:
        out.print(note)
    ece, auc, best = (metrics.get(k) for k in ("account_ece", "account_roc_auc", "account_best_lead_roc_auc"))
    if ece is None:
        out.print("no account answer to measure")
        return False
    calibrated, ranks = ece <= MAX_ECE, auc >= best
    out.print(f"ECE {ece:.4f} (limit {MAX_ECE}): {'met' if calibrated else 'NOT met'}")
    out.print(f"ROC AUC {auc:.4f} vs best lead {best:.4f} (ratio {auc / best:.3f}): {'met' if ranks else 'NOT met'}")
    return calibrated and ranks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data", type=Path, default=None, help="A data folder (default: the demo data, generated)")
    parser.add_argument("--short", action="store_true", help="20,000 leads: the whole path in about a minute")
    args = parser.parse_args()
    if args.short:
        args.leads = 20_000
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.data
        if folder is None:
            from synthetic.generate import generate, write_dataset

            folder = Path(tmp) / "demo"
            write_dataset(generate(args.leads, seed=args.seed), folder, "parquet")
        metrics, notes, _ = measure(folder)
    show(metrics, notes)


if __name__ == "__main__":
    main()
