"""Training against a real `mlflow server` on 127.0.0.1 with a PostgreSQL backend store."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from synthetic.generate import generate, write_dataset
from tests.live import free_port, wait_until

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}


def _postgres():
    import psycopg

    try:
        return psycopg.connect(connect_timeout=3, autocommit=True, **PG)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432 ({str(exc).strip()})")


@pytest.fixture
def mlflow_server(tmp_path):
    connection = _postgres()
    database = f"leadscore_mlflow_{secrets.token_hex(4)}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{database}"')
    port = free_port()
    mlflow = str(Path(sys.executable).with_name("mlflow"))
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [
            mlflow,
            "server",
            "--backend-store-uri",
            f"postgresql://postgres@127.0.0.1:5432/{database}",
            "--artifacts-destination",
            (tmp_path / "artifacts").as_uri(),
            "--serve-artifacts",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                return response.status == 200

        wait_until(healthy, server, tmp_path / "server.log")
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        connection.close()


@pytest.mark.training
def test_train_register_and_load_through_a_tracking_server(mlflow_server, tmp_path):
    import pandas as pd

    from features.defaults import load_rules
    from features.settings import FeatureConfig
    from training.registry import CHAMPION, connect, load_pyfunc, version_of
    from training.settings import TrainingConfig
    from training.train import train

    data = tmp_path / "data"
    write_dataset(generate(8_000, seed=3), data, "parquet")
    result = train(data, TrainingConfig(), FeatureConfig(), load_rules(), tracking_uri=mlflow_server)
    client = connect(mlflow_server)
    assert str(version_of(client, "leadscore", CHAMPION).version) == result.version == "1"
    run = client.get_run(result.run_id)
    assert "model_roc_auc" in run.data.metrics and run.data.tags["data.leads"] == "8000"
    assert {a.path for a in client.list_artifacts(result.run_id, "plots")} >= {"plots/reliability.png"}
    model = load_pyfunc("models:/leadscore@champion", client)  # the files through the server
    example = pd.DataFrame(
        [
            {
                "lead_id": "x",
                "job_title": "VP Sales",
                "company_size": 300.0,
                "created_at": pd.Timestamp("2025-06-01"),
                "as_of": pd.Timestamp("2025-06-02"),
                "account_id": "a",
            }
        ]
    )
    assert 0 < model.predict(example).loc[0, "probability"] < 1
