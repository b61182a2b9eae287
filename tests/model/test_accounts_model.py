"""The account answer of the session's trained model: registered with the model version, measured
in its MLflow run, better calibrated than the roll-up, and written one row per account by
`leadscore score --accounts`."""

from __future__ import annotations

import pandas as pd

from core.schema import ACCOUNT
from tests.code.test_cli import run


def test_the_account_answer_is_registered_with_the_model_and_measured_in_its_run(trained):
    model, metrics = trained["model"], trained["result"].metrics
    assert model.accounts is not None and model.accounts.method in ("model", "roll-up")
    assert model.accounts.why.startswith("kept the ")
    run_ = trained["client"].get_run(trained["result"].run_id)
    assert run_.data.tags["accounts.kept"] == model.accounts.why
    for name in ("account", "account_model", "account_rollup", "account_best_lead"):
        assert {f"{name}_roc_auc", f"{name}_pr_auc", f"{name}_ece"} <= set(run_.data.metrics), name
    assert "account_rule_rollup_roc_auc" in run_.data.metrics
    # the roll-up counts contacts never handed over and treats one account's leads as independent:
    # it promises too much, and the kept answer is better calibrated on the test period
    assert metrics["account_ece"] < metrics["account_rollup_ece"]
    assert 0.5 < metrics["account_roc_auc"] <= 1


def test_score_writes_one_row_per_account_beside_the_lead_scores(capsys, trained, tmp_path):
    out, accounts = tmp_path / "scores.parquet", tmp_path / "accounts.csv"
    code, stdout, err = run(
        capsys, "score", "--data", str(trained["data"]), "--out", str(out), "--accounts", str(accounts),
        "--as-of", "2025-06-01", "--tracking-uri", trained["uri"],
    )  # fmt: skip
    assert code == 0, err
    scores, rows = pd.read_parquet(out), pd.read_csv(accounts)
    assert f"{len(rows):,} accounts" in stdout and "model MQAs" in stdout
    assert rows["account_id"].is_unique and rows["leads"].sum() == len(scores)
    assert set(rows["account_id"]) == set(scores["account_id"])
    several = rows.loc[rows["leads"] > 1, "account_id"]
    assert len(several) > 50  # the demo world's companies have several contacts
    # each lead row carries its account's answer, the same for every lead of the account
    fields = [f.name for f in ACCOUNT if f.name not in ("account_id", "account_missing_roles", "account_next_step")]
    first = scores.groupby("account_id")[fields].nunique(dropna=False)
    assert (first <= 1).all().all()
    merged = scores.merge(rows, on="account_id", suffixes=("", "_row"))
    assert (merged["account_probability"] - merged["account_probability_row"]).abs().max() < 1e-9
    # the best lead is one with the account's highest probability
    p = scores.set_index("lead_id")["probability"]
    highest = scores.groupby("account_id")["probability"].max().reindex(rows["account_id"]).to_numpy()
    assert (p.reindex(rows["best_lead_id"]).to_numpy() == highest).all()


def test_score_refuses_to_write_the_accounts_over_the_scores(capsys, trained, tmp_path):
    out = tmp_path / "scores.parquet"
    code, _, err = run(
        capsys, "score", "--data", str(trained["data"]), "--out", str(out), "--accounts", str(out),
        "--tracking-uri", trained["uri"],
    )  # fmt: skip
    assert code != 0 and "--accounts" in err and "Traceback" not in err and not out.exists()
