"""The live loop's honest figures on a small scale (issue #25, acceptance bullets 2 and 3; the full
runs, 10 and 100 seeds: benchmarks/bench_live.py, whose functions these tests share): `simulate`
against the service (its ASGI app, the session's trained model, a fresh store per seed), then

- before labels, CBPE's expected ROC AUC and acceptance of model MQLs from the answers alone are
  within 0.03 of the realised figures of the simulation's truth on the scored hand-over candidates;
- with 5% exploration, the IPW interval of the acceptance below both thresholds covers the truth
  where the acceptance of the handed-over leads misses it, and the store's record (score log and
  decisions in force) gives the same explored and decided leads as the CRM's.
"""

from __future__ import annotations

import importlib.util
import shutil

import pytest

from synthetic.simulate import Options
from tests.conftest import KEY, PROJECT, _client

spec = importlib.util.spec_from_file_location("bench_live", PROJECT / "benchmarks" / "bench_live.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


@pytest.fixture
def world(trained, tmp_path):
    """A copy of the trained model's world (tests/conftest.py WORLD), its manifest included."""
    folder = tmp_path / "world"
    shutil.copytree(trained["data"], folder)
    return folder


def _simulate(monkeypatch, trained, world, folder, options: Options, explore: float = 0.0):
    """Simulate `options` in a copy of `world` under `folder`, against a service with its own
    store (folder/feedback.db) exploring `explore`; the truth."""
    from synthetic.crm import CRM
    from synthetic.drift import parse
    from synthetic.simulate import simulate

    folder.mkdir()
    shutil.copy(trained["root"] / "mlflow.db", folder / "mlflow.db")
    monkeypatch.setenv("LEADSCORE_EXPLORE_SHARE", str(explore))
    monkeypatch.setenv("LEADSCORE_EXPLORE_SEED", str(options.seed))
    monkeypatch.setenv("LEADSCORE_FEATURE_LOG_RATE", "0")
    shutil.copytree(world, folder / "world")
    with _client(monkeypatch, folder, f"sqlite:///{folder / 'mlflow.db'}") as client:
        simulate(folder / "world", CRM("http://testserver", KEY, http=client), options, parse(None))
        truth = bench.pd.read_parquet(folder / "world" / "simulation" / "truth.parquet")
        bench.wait_for_log(folder / "feedback.db", int(truth["scored"].sum()))
    return truth


@pytest.mark.slow
def test_before_labels_the_estimates_agree_with_the_realised_figures(monkeypatch, trained, world, tmp_path):
    truth = _simulate(monkeypatch, trained, world, tmp_path / "s0", Options(weeks=2, leads_per_week=2_000, seed=0))
    figures = bench.estimates_vs_realised(truth)
    print(figures)
    assert figures["n"] >= 500 and figures["mqls"] >= 100
    assert figures["roc_auc_diff"] <= bench.LIMIT_ESTIMATE, figures
    # one seed's few hundred MQLs: the realised acceptance is one draw, its standard error about
    # 0.025 here; the estimate must sit within that draw's 99% band (the benchmark's 10 seeds of
    # more leads hold it to 0.03)
    p, n = figures["mql_acceptance_real"], figures["mqls"]
    assert figures["mql_acceptance_diff"] <= 2.58 * (p * (1 - p) / n) ** 0.5, figures


@pytest.mark.slow
def test_the_holdout_interval_covers_the_truth_below_both_where_handed_leads_miss_it(
    monkeypatch, trained, world, tmp_path
):
    for seed in range(3):
        folder = tmp_path / f"s{seed}"
        options = Options(weeks=2, drain_weeks=4, leads_per_week=600, explore=bench.SHARE, seed=seed)
        truth = _simulate(monkeypatch, trained, world, folder, options, explore=bench.SHARE)
        frame, target = bench.below_truth(truth)
        row = bench.holdout(frame, target, seed)
        stored = bench.from_store(folder / "feedback.db", seed)
        print(seed, row, stored)
        assert row["explored"] >= 20 and row["decided"] >= 15  # the hold-out sent leads and sales decided them
        # the 95% interval misses the truth one seed in twenty by design: each seed's estimate must
        # lie within one interval width of the truth (about 4 standard errors), the naive rate far off
        assert abs(row["estimate"] - target) <= row["high"] - row["low"] and not row["naive_covered"], row
        assert row["naive"] > row["high"]  # handed-over leads alone overstate the leads held back
        # the store's record: the same leads below both thresholds and the same explored decisions
        assert (stored["n"], stored["decided"]) == (row["n"], row["decided"]), (stored, row)
