"""Logging a model prints nothing of MLflow's own notices that leadscore answers (a python_model
object saved with CloudPickle; the version of pip a uv environment does not have), and the
logged model still pins what it needs."""

from __future__ import annotations

import logging

import mlflow

from training import registry
from training.pyfunc import log_model, requirements


def test_a_logged_model_pins_its_requirements_without_mlflows_notices(trained, tmp_path, caplog):
    client = registry.connect(f"sqlite:///{tmp_path / 'mlflow.db'}")
    notices = logging.getLogger("mlflow")  # MLflow's own handler; its records do not reach the root logger
    notices.addHandler(caplog.handler)
    try:
        with registry.logging_to(client), mlflow.start_run(experiment_id=registry.experiment_id(client, "logging")):
            version = log_model(trained["model"], "logged")
            logging.getLogger("mlflow.pyfunc").warning("a notice of another kind")  # still said
    finally:
        notices.removeHandler(caplog.handler)
    said = [record.getMessage() for record in caplog.records]
    assert "a notice of another kind" in said
    assert not any("CloudPickle" in line or "pip version" in line for line in said), said
    assert logging.getLogger("mlflow.pyfunc").filters == []  # the filter was for that one call
    files = mlflow.artifacts.download_artifacts(
        artifact_uri=client.get_model_version_download_uri("logged", version), tracking_uri=client.tracking_uri
    )
    with open(f"{files}/requirements.txt") as pinned:
        assert pinned.read().split() == requirements()
