"""The served model learns from the newest history: after the evaluation it is refit on every
hand-over but the newest calibration window and calibrated on that window; the run's figures stay
those of the evaluated model, and the run and the version say what the served model learnt from."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from synthetic.generate import generate, write_dataset
from tests.code.test_cli import run
from training.registry import CHAMPION, connect, load_model, version_of


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    root = tmp_path_factory.mktemp("refit")
    write_dataset(generate(15_000, seed=9), root / "data", "parquet")
    return root


def _train(capsys, root, name: str, refit: bool):
    config = root / f"{name}.yaml"
    config.write_text(yaml.safe_dump({"refit": refit, "model_name": name}))
    uri = f"sqlite:///{root / 'mlflow.db'}"
    code, out, err = run(
        capsys, "train", "--data", str(root / "data"), "--training-config", str(config), "--tracking-uri", uri
    )
    assert code == 0, err
    client = connect(uri)
    version = version_of(client, name, CHAMPION)
    return client, client.get_run(version.run_id), version, out


def test_served_model_is_fitted_on_the_newest_history_with_the_same_figures(capsys, history):
    client, run_, version, out = _train(capsys, history, "refit", True)
    _, plain, _, _ = _train(capsys, history, "asis", False)
    tags = run_.data.tags
    test_from = pd.Timestamp(tags["split.test_from"])
    # the evaluated model learnt from the oldest hand-overs only and never saw a test one; the
    # served one is fitted on everything up to the newest window (the evaluation's calibration
    # hand-overs too) and calibrated on that window, the newest hand-overs
    plain_tags = plain.data.tags
    assert pd.Timestamp(plain_tags["served.fitted_to"]) < pd.Timestamp(plain_tags["served.calibrated_from"])
    assert pd.Timestamp(plain_tags["served.calibrated_to"]) < test_from
    assert pd.Timestamp(tags["served.fitted_to"]) > pd.Timestamp(plain_tags["served.calibrated_to"])
    assert pd.Timestamp(tags["served.calibrated_from"]) >= test_from - pd.Timedelta(days=7)
    newest = pd.Timestamp(tags["served.calibrated_to"])  # the newest matured decision
    assert newest >= pd.Timestamp(tags["data.last_handover"]) - pd.Timedelta(days=31)
    assert int(tags["served.fitted_rows"]) > run_.data.metrics["split_train_rows"]
    assert version.tags["served.fitted_rows"] == tags["served.fitted_rows"]  # on the registered version too
    assert f"fitted on {int(tags['served.fitted_rows']):,} hand-overs" in out
    # the figures and the gate come from the evaluated model: the refit changes none of them
    figures = {k: v for k, v in run_.data.metrics.items() if k.startswith(("model_", "rule_", "equal_volume"))}
    assert figures and figures == {k: plain.data.metrics[k] for k in figures}
    served = load_model("models:/refit@champion", client)
    evaluated = load_model("models:/asis@champion", client)
    assert served.booster.model_to_string() != evaluated.booster.model_to_string()
    assert served.trained_through == newest  # a later run's gate compares on hand-overs after it
    assert np.isfinite(served.thresholds["__all__"])
