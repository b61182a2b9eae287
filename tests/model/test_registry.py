"""Retraining, the promotion gate, promote / rollback and batch scoring through the CLI."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from features.contract import load_dataset
from tests.code.test_cli import run
from training.registry import CHALLENGER, CHAMPION, version_of


@pytest.fixture
def store(trained, tmp_path):
    """A private copy of the trained store, so each test may move aliases freely."""
    shutil.copy(trained["root"] / "mlflow.db", tmp_path / "mlflow.db")
    if (trained["root"] / "mlartifacts").exists():  # with LEADSCORE_TEST_TRAINED they stay in the cache
        shutil.copytree(trained["root"] / "mlartifacts", tmp_path / "mlartifacts")
    from training.registry import connect

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    return uri, connect(uri)


def _decide_open(data, tmp_path) -> str:
    """The still-open hand-overs, now decided by sales: accepted when the lead asked for a demo."""
    history = load_dataset(data)
    opened = history.outcomes[history.outcomes["decision"] == "open"].copy()
    demo = set(history.events.loc[history.events["type"] == "demo_request", "lead_id"].astype(str))
    accepted = opened["lead_id"].isin(demo).to_numpy() | (np.arange(len(opened)) % 4 == 0)
    opened["decision"] = np.where(accepted, "accepted", "rejected")
    opened["reason"] = np.where(accepted, None, "no_need")
    opened["decided_at"] = opened["mql_at"] + pd.Timedelta(days=3)
    path = tmp_path / "decisions.csv"
    opened.to_csv(path, index=False)
    return str(path)


def test_retrain_with_new_decisions_registers_a_challenger_and_applies_the_gate(capsys, trained, store, tmp_path):
    uri, client = store
    decisions = _decide_open(trained["data"], tmp_path)
    code, out, err = run(
        capsys, "retrain", "--data", str(trained["data"]), "--decisions", decisions, "--tracking-uri", uri
    )
    assert code == 0, err
    assert "decision(s) from" in out and "merged into the history" in out
    assert str(version_of(client, "leadscore", CHALLENGER).version) == "2"
    run_tags = client.search_runs(
        [client.get_experiment_by_name("leadscore").experiment_id], order_by=["attributes.start_time DESC"]
    )[0].data.tags
    assert run_tags["registered_version"] == "2" and run_tags["gate.reason"]
    champion = str(version_of(client, "leadscore", CHAMPION).version)
    assert champion == ("2" if run_tags["gate.promote"] == "True" else "1")


def test_a_worse_model_never_becomes_champion(capsys, trained, store, tmp_path):
    uri, client = store
    crippled = tmp_path / "training.yaml"
    crippled.write_text("model: {max_rounds: 1, params: {learning_rate: 0.01, num_leaves: 2}}\n")
    code, out, err = run(
        capsys, "train", "--data", str(trained["data"]), "--training-config", str(crippled), "--tracking-uri", uri
    )
    assert code == 0, err
    assert "left as @challenger" in out
    assert str(version_of(client, "leadscore", CHAMPION).version) == "1"
    assert str(version_of(client, "leadscore", CHALLENGER).version) == "2"


def test_promote_and_rollback(capsys, trained, store):
    uri, client = store
    first = client.get_model_version("leadscore", "1")
    # its files' location, not its source (models:/m-...), which MLflow resolves through its global URI
    files = client.get_model_version_download_uri("leadscore", "1")
    client.create_model_version("leadscore", files, first.run_id)  # a second version to move between
    code, out, _ = run(capsys, "promote", "2", "--tracking-uri", uri)
    assert code == 0 and "version 2 (was 1)" in out
    code, out, _ = run(capsys, "rollback", "--tracking-uri", uri)
    assert code == 0 and "version 1 (was 2)" in out
    assert str(version_of(client, "leadscore", CHAMPION).version) == "1"
    code, _, err = run(capsys, "promote", "9", "--tracking-uri", uri)
    assert code == 2 and "has no version 9" in err


def test_rollback_without_history_says_so_in_one_line(capsys, store):
    uri, client = store
    code, out, err = run(capsys, "rollback", "--tracking-uri", uri)
    assert code == 0 and err == ""
    said = "no earlier champion to roll back to (version 1 is the first @champion on record)"
    assert out.strip() == f"leadscore@champion stays version 1: {said}"
    assert str(version_of(client, "leadscore", CHAMPION).version) == "1"


def _more_versions(client, n: int) -> None:
    """`n` more versions of the trained model (its files, its run), to move @champion between."""
    first = client.get_model_version("leadscore", "1")
    files = client.get_model_version_download_uri("leadscore", "1")
    for _ in range(n):
        client.create_model_version("leadscore", files, first.run_id)


def test_rollback_steps_back_through_the_champion_history(capsys, store):
    uri, client = store
    _more_versions(client, 2)
    for version in ("2", "3"):
        assert run(capsys, "promote", version, "--tracking-uri", uri)[0] == 0
    code, out, _ = run(capsys, "rollback", "--tracking-uri", uri)
    assert code == 0 and "version 2 (was 3); rollback again: version 1" in out
    code, out, _ = run(capsys, "rollback", "--tracking-uri", uri)  # twice: two versions back
    assert code == 0 and "version 1 (was 2); no earlier champion on record" in out
    assert str(version_of(client, "leadscore", CHAMPION).version) == "1"
    code, out, _ = run(capsys, "rollback", "--tracking-uri", uri)
    assert code == 0 and "stays version 1: no earlier champion to roll back to (version 1 is the first @champion" in out
    assert str(version_of(client, "leadscore", CHAMPION).version) == "1"


def test_rollback_passes_over_a_deleted_version(capsys, store):
    uri, client = store
    _more_versions(client, 2)
    for version in ("2", "3"):
        run(capsys, "promote", version, "--tracking-uri", uri)
    client.delete_model_version("leadscore", "2")
    code, out, _ = run(capsys, "rollback", "--tracking-uri", uri)
    assert code == 0 and "version 1 (was 3)" in out


def test_a_trained_version_carries_its_description_and_tags(trained, store):
    _, client = store
    version = client.get_model_version("leadscore", "1")
    run_tags = client.get_run(version.run_id).data.tags
    tags, metrics = version.tags, trained["result"].metrics
    assert tags["data.sha256"] == run_tags["data.sha256"] and len(tags["data.sha256"]) == 64
    assert tags["data.outcomes"] == run_tags["data.outcomes"]
    assert tags["gate.promote"] == "True" and tags["gate.reason"].startswith(
        "no champion yet; ranks better than chance"
    )
    assert float(tags["test.roc_auc"]) == pytest.approx(metrics["model_roc_auc"], abs=1e-6)
    assert float(tags["test.log_loss"]) == pytest.approx(metrics["model_log_loss"], abs=1e-6)
    assert f"ROC AUC {metrics['model_roc_auc']:.4f}" in version.description
    assert f"data sha256 {tags['data.sha256'][:12]}" in version.description
    assert "Gate: promoted to @champion: no champion yet; ranks better than chance" in version.description


def test_models_lists_versions_aliases_figures_and_gate_reasons(capsys, trained, store):
    uri, client = store
    _more_versions(client, 1)
    client.set_registered_model_alias("leadscore", CHALLENGER, "2")
    run(capsys, "promote", "2", "--tracking-uri", uri)
    code, out, err = run(capsys, "models", "--tracking-uri", uri)
    assert code == 0, err
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 5}
    assert set(rows) >= {"1", "2"}
    assert "@challenger, @champion" in rows["2"] and "@" not in rows["1"].split("│")[2]
    auc, loss = trained["result"].metrics["model_roc_auc"], trained["result"].metrics["model_log_loss"]
    assert f"{auc:.4f}" in rows["1"] and f"{loss:.4f}" in rows["1"] and "passed" in rows["1"]
    assert "no champion yet" in rows["1"]
    account = trained["result"].metrics
    assert f"{account['account_roc_auc']:.4f}" in rows["1"] and f"{account['account_ece']:.4f}" in rows["1"]
    assert "@champion history, oldest first: 1 → 2" in out and "leadscore rollback: back to version 1" in out
    code, _, err = run(capsys, "models", "--model-name", "nothing", "--tracking-uri", uri)
    assert code == 2 and "no registered model named nothing" in err


def test_models_shows_the_gate_as_it_decided_and_a_recalibrated_versions_figures(capsys, trained, store, monkeypatch):
    """A version the gate did not compare says "not compared", one it refused "refused"; a
    recalibrated version shows its parent's ROC AUC and its own log-loss on the newest decisions."""
    uri, client = store
    first = client.get_model_version("leadscore", "1")
    files = client.get_model_version_download_uri("leadscore", "1")
    experiment = client.get_experiment_by_name("leadscore").experiment_id
    for reason, promote in (
        ("not compared: too few test hand-overs", "False"),
        ("ROC AUC 0.6 vs champion 0.8", "False"),
    ):
        version = client.create_model_version("leadscore", files, first.run_id).version
        client.set_model_version_tag("leadscore", version, "gate.promote", promote)
        client.set_model_version_tag("leadscore", version, "gate.reason", reason)
    recalibration = client.create_run(experiment, tags={"recalibration.of": "leadscore/1"})
    client.log_metric(recalibration.info.run_id, "later_log_loss_after", 0.4321)
    client.set_terminated(recalibration.info.run_id)
    version = client.create_model_version("leadscore", files, recalibration.info.run_id).version
    for key, value in {"gate.promote": "True", "gate.reason": "the new calibration lowers the log-loss"}.items():
        client.set_model_version_tag("leadscore", version, key, value)
    monkeypatch.setenv("COLUMNS", "400")  # each row on one line
    code, out, err = run(capsys, "models", "--tracking-uri", uri)
    assert code == 0, err
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 5}
    cells = {key: [cell.strip() for cell in line.split("│")[1:-1]] for key, line in rows.items()}
    assert cells["2"][10:] == ["not compared", "not compared: too few test hand-overs"]
    assert cells["3"][10:] == ["refused", "ROC AUC 0.6 vs champion 0.8"]
    recalibrated = cells["4 (recalibrated leadscore/1)"]
    auc, loss = trained["result"].metrics["model_roc_auc"], trained["result"].metrics["model_log_loss"]
    assert recalibrated[3:5] == [f"{auc:.4f}", f"{loss:.4f} (newest: 0.4321)"] and recalibrated[10] == "passed"


def _score(capsys, trained, uri: str, out, *options: str):
    """`leadscore score` of the trained data folder with the test's tracking store."""
    return run(capsys, "score", "--data", str(trained["data"]), "--out", str(out), "--tracking-uri", uri, *options)


def test_score_writes_one_row_per_lead(capsys, trained, store, tmp_path):
    uri, _ = store
    out = tmp_path / "scores.parquet"
    code, _, err = _score(capsys, trained, uri, out, "--as-of", "2025-06-01")
    assert code == 0, err
    scores = pd.read_parquet(out)
    leads = load_dataset(trained["data"]).leads
    assert len(scores) == (leads["created_at"] <= pd.Timestamp("2025-06-01", tz="UTC")).sum()
    assert {"lead_id", "probability", "score", "grade", "is_mql", "rule_score", "rule_is_mql", "model_version"} <= set(
        scores.columns
    )
    assert scores["model_version"].unique().tolist() == ["leadscore/1"]
    assert scores["score"].between(0, 100).all() and set(scores["grade"]) <= {"A", "B", "C", "D"}


def test_score_at_handover_matches_training_probabilities(capsys, trained, store, tmp_path):
    """The registered champion scoring the history through the CLI gives each test-period
    hand-over the probability the registered model computes for it in memory."""
    from features.settings import FeatureConfig
    from training.settings import TrainingConfig
    from training.train import training_data

    uri, _ = store
    out = tmp_path / "h.parquet"
    code, _, err = _score(capsys, trained, uri, out, "--at-handover")
    assert code == 0, err
    scores = pd.read_parquet(out)
    assert len(scores) == len(load_dataset(trained["data"]).outcomes)
    data = training_data(trained["data"], TrainingConfig(), FeatureConfig())  # the run's own first step
    test = data.parts["test"]
    keys = test.features[["lead_id", "as_of"]].assign(as_of=lambda f: pd.to_datetime(f["as_of"], utc=True))
    served = keys.merge(
        scores.assign(as_of=pd.to_datetime(scores["as_of"], utc=True)), on=["lead_id", "as_of"], how="left"
    )["probability"].to_numpy()
    assert len(served) == len(test.y) and not np.isnan(served).any()
    np.testing.assert_allclose(served, trained["model"].probability(test.features), rtol=0, atol=1e-12)


def test_connect_and_training_leave_mlflow_global_uris_alone(trained, tmp_path):
    import os

    import mlflow

    from training.registry import connect

    def globals_() -> tuple:
        return (
            mlflow.get_tracking_uri(),
            mlflow.get_registry_uri(),
            os.environ.get("MLFLOW_TRACKING_URI"),
            os.environ.get("MLFLOW_REGISTRY_URI"),
        )

    before = globals_()
    assert trained["uri"] not in before  # the session's training run pointed MLflow there only while logging
    other = f"sqlite:///{tmp_path / 'other.db'}"
    client = connect(other)
    assert client.tracking_uri == other
    assert globals_() == before


def test_score_with_unknown_model_is_a_clear_error(capsys, trained, store, tmp_path):
    uri, _ = store
    code, _, err = _score(capsys, trained, uri, tmp_path / "s.csv", "--model-uri", "models:/nothing@champion")
    assert code == 2 and "cannot load model models:/nothing@champion" in err
    assert not (tmp_path / "s.csv").exists()


def test_train_with_search_logs_the_parameters_it_chose(capsys, tmp_path):
    from synthetic.generate import generate, write_dataset
    from training.registry import connect

    write_dataset(generate(8_000, seed=4), tmp_path / "data", "parquet")
    config = tmp_path / "training.yaml"
    config.write_text("model: {search_trials: 3}\n")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code, _, err = run(
        capsys,
        "train",
        "--data",
        str(tmp_path / "data"),
        "--training-config",
        str(config),
        "--search",
        "--tracking-uri",
        uri,
    )
    assert code == 0, err
    client = connect(uri)
    latest = client.search_runs([client.get_experiment_by_name("leadscore").experiment_id])[0]
    chosen = {k: v for k, v in latest.data.params.items() if k.startswith("lightgbm.")}
    assert {"lightgbm.learning_rate", "lightgbm.num_leaves", "lightgbm.min_child_samples"} <= set(chosen)


def test_retrain_reads_the_decisions_the_service_stored(capsys, trained, store, tmp_path):
    from datetime import timedelta

    from core.store import FeedbackStore

    uri, client = store
    history = load_dataset(trained["data"])
    opened = history.outcomes[history.outcomes["decision"] == "open"].head(40)
    feedback = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.db'}")
    for i, row in enumerate(opened.itertuples()):
        # half name their hand-over, half leave it to be matched to the lead's latest one
        feedback.add_decision(
            f"fb-{i}",
            row.lead_id,
            "accepted" if i % 3 == 0 else "rejected",
            None if i % 3 == 0 else "no_need",
            row.mql_at + timedelta(days=2),
            mql_at=row.mql_at if i % 2 else None,
        )
    feedback.add_decision("fb-ghost", "nobody-we-know", "accepted", None, opened["mql_at"].max())
    code, out, err = run(
        capsys,
        "retrain",
        "--data",
        str(trained["data"]),
        "--feedback-db",
        f"sqlite:///{tmp_path / 'feedback.db'}",
        "--tracking-uri",
        uri,
    )
    assert code == 0, err
    assert "40 of 41 stored decision(s)" in out and "1 for leads not in" in out
    assert str(version_of(client, "leadscore", CHALLENGER).version) == "2"
    second = client.get_model_version("leadscore", "2")  # the registry says what it learnt from
    assert second.tags["feedback.merged"] == "40" and "Sales decisions: 40 merged" in second.description


def test_retrain_needs_new_decisions(capsys, trained, store):
    uri, _ = store
    code, _, err = run(capsys, "retrain", "--data", str(trained["data"]), "--tracking-uri", uri)
    assert code == 2 and "give the new decisions" in err
