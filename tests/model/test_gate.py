"""The gate on trained models: a model that cannot rank never becomes `@champion`, the first one
included, and the run and `leadscore models` say why. Small generated exports (6,000 leads) whose
labels nothing predicts, or whose acceptance changes so that early stopping keeps one round."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from synthetic.generate import generate, write_dataset
from tests.code.test_cli import run
from training.registry import CHALLENGER, CHAMPION, connect, version_of

LEADS = 6_000


def _relabelled(tables: dict, after: float, seed: int = 0) -> dict:
    """The tables with the decisions of the hand-overs from the `after` quantile of time on dealt
    at random among them: from then on, what sales accept has nothing to do with the lead."""
    outcomes = tables["outcomes"].to_pandas()
    mql_at = outcomes["mql_at"]
    rows = np.flatnonzero((mql_at >= mql_at.quantile(after)).to_numpy() & outcomes["decision"].ne("open").to_numpy())
    dealt = np.random.default_rng(seed).permutation(rows)
    columns = ["decision", "reason"]
    outcomes.loc[outcomes.index[rows], columns] = outcomes.loc[outcomes.index[dealt], columns].to_numpy()
    schema = tables["outcomes"].schema
    return {**tables, "outcomes": pa.Table.from_pandas(outcomes, schema=schema, preserve_index=False)}


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Three data folders from one generated CRM: as generated, with every decision dealt at
    random (labels nothing predicts), and dealt at random from the 60% point in time (the
    calibration and test periods: acceptance drifts away from what the training period shows)."""
    root = tmp_path_factory.mktemp("gate")
    tables = generate(LEADS, seed=3)
    folders = {"good": root / "good", "random": root / "random", "drift": root / "drift"}
    write_dataset(tables, folders["good"], "parquet")
    write_dataset(_relabelled(tables, 0.0), folders["random"], "parquet")
    write_dataset(_relabelled(tables, 0.6), folders["drift"], "parquet")
    return folders


def _train(capsys, folder, uri: str) -> str:
    """`leadscore train` of `folder`: what it printed (stdout and stderr) as one line."""
    code, out, err = run(capsys, "train", "--data", str(folder), "--tracking-uri", uri)
    assert code == 0, err
    return " ".join((out + err).split())  # notes go to stderr; the console folds long lines


def _models(capsys, uri: str) -> dict[str, str]:
    """`leadscore models`: each version's table row (its first line), by version."""
    code, out, err = run(capsys, "models", "--tracking-uri", uri)
    assert code == 0, err
    return {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 5}


def test_a_model_whose_labels_nothing_predicts_never_becomes_champion(capsys, exports, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = connect(uri)
    for version in ("1", "2"):  # the first model, and a later one like it
        out = _train(capsys, exports["random"], uri)
        assert f"version {version} left as @challenger: does not rank better than chance on the test period" in out
        assert "@champion stays where it is" in out
        assert version_of(client, "leadscore", CHAMPION) is None
        assert str(version_of(client, "leadscore", CHALLENGER).version) == version
    tags = client.get_model_version("leadscore", "2").tags
    assert tags["gate.promote"] == "False" and tags["gate.reason"].startswith("does not rank better than chance")
    rows = _models(capsys, uri)
    for version in ("1", "2"):
        assert "does not rank better than chance" in " ".join(rows[version].split())
    run_ = client.get_run(client.get_model_version("leadscore", "2").run_id)
    metrics = run_.data.metrics  # the interval the gate read, kept with the run
    assert metrics["model_roc_auc_low"] <= 0.5 and metrics["model_roc_auc_low"] < metrics["model_roc_auc_high"]


def test_a_model_early_stopping_cut_to_one_round_leaves_the_champion_in_place(capsys, exports, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = connect(uri)
    out = _train(capsys, exports["good"], uri)  # a model that ranks: the gate passes it
    assert "version 1 promoted to @champion: no champion yet; ranks better than chance" in out
    out = _train(capsys, exports["drift"], uri)
    assert "early stopping kept 1 boosting round(s) of up to 2000" in out  # the note says why, and what to try
    assert "acceptance by period: train" in out and "Try: drop such features" in out
    assert "version 2 left as @challenger: does not rank better than chance" in out
    assert str(version_of(client, "leadscore", CHAMPION).version) == "1"
    notes = client.get_run(client.get_model_version("leadscore", "2").run_id).data.tags["notes"]
    assert "early stopping kept 1 boosting round(s)" in notes
    assert "does not rank better than chance" in _models(capsys, uri)["2"]


def test_the_good_export_ranks_with_room_to_spare(capsys, exports, tmp_path):
    """The same check passes a model trained on the export as generated, with its interval well
    clear of chance: the gate is no obstacle to a model that learnt something."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _train(capsys, exports["good"], uri)
    client = connect(uri)
    metrics = client.get_run(client.get_model_version("leadscore", "1").run_id).data.metrics
    assert metrics["model_roc_auc_low"] > 0.6
    assert pd.notna(metrics["roc_auc_difference_high"]) and metrics["roc_auc_difference_high"] >= 0
