"""Faults: the feedback store going away and coming back, a disk that is full or read-only, a
retrain that crashes, and SQL-looking text. Each test says what happened and what was kept."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import AUTH, _client, decision
from tests.integration.test_service import HOT_LEAD
from tests.live import TcpProxy, postgres_database
from tests.waiting import wait_for


def _decision(i: int, **fields) -> dict:
    return {**decision(f"fb-{i}", f"L-{i}"), **fields}


def _count(url: str, table: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text(f"select count(*) from {table}")).scalar_one()
    finally:
        engine.dispose()


def test_feedback_store_down_then_back_keeps_every_decision_once(monkeypatch, tmp_path, trained):
    """PostgreSQL behind a proxy that the test cuts: while it is down, /feedback answers 503 with
    Retry-After and stores nothing, /score keeps answering; once it is back the client's retries
    (and some duplicates) are stored exactly once."""
    shutil.copy(trained["root"] / "mlflow.db", tmp_path / "mlflow.db")
    with postgres_database("leadscore_faults") as database:
        proxy = TcpProxy(5432).start()
        url = f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}/{database}"
        direct = f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
        client_env = _client(monkeypatch, tmp_path, f"sqlite:///{tmp_path / 'mlflow.db'}")
        monkeypatch.setenv("LEADSCORE_DB_URL", url)  # _client points it at SQLite: this test wants PG
        with client_env as client:
            for i in range(30):
                assert client.post("/feedback", json={"feedback": _decision(i)}, headers=AUTH).status_code == 200
            proxy.cut()
            refused = [client.post("/feedback", json={"feedback": _decision(i)}, headers=AUTH) for i in range(30, 50)]
            assert {r.status_code for r in refused} == {503}
            assert all(r.headers.get("retry-after") == "5" for r in refused)
            assert all(r.json()["stored"] is False and "unavailable" in r.json()["error"] for r in refused)
            scored = client.post("/score", json={"lead": HOT_LEAD}, headers=AUTH)
            assert scored.status_code == 200 and scored.json()["scored_by"] == "model"  # scoring goes on
            assert _count(direct, "decisions") == 30  # nothing half-written
            proxy.start()
            retried = [client.post("/feedback", json={"feedback": _decision(i)}, headers=AUTH) for i in range(20, 50)]
            assert [r.status_code for r in retried] == [200] * 30
            assert [r.json()["duplicate"] for r in retried] == [True] * 10 + [False] * 20
        assert _count(direct, "decisions") == 50
        proxy.cut()


def _store_unavailable_yet_scoring(client) -> None:
    """What a CRM sees while the service's database is down: scores, and 503 + Retry-After for
    decisions (nothing stored, post again later); /readyz stays ready and says the store is not."""
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready" and ready.json()["store"] == "unavailable"
    scored = client.post("/score", json={"lead": HOT_LEAD}, headers=AUTH)
    assert scored.status_code == 200 and scored.json()["scored_by"] == "model"
    refused = client.post("/feedback", json={"feedback": _decision(1)}, headers=AUTH)
    assert refused.status_code == 503 and refused.headers.get("retry-after") == "5"
    assert refused.json()["stored"] is False and "unavailable" in refused.json()["error"]


def test_a_service_whose_database_is_unreachable_starts_scores_and_connects_when_it_returns(
    monkeypatch, tmp_path, trained
):
    """Acceptance: LEADSCORE_DB_URL points at a PostgreSQL port nobody listens on (yet); the
    service starts, answers /score 200 and /feedback 503; once the database answers, decisions
    are stored without a restart."""
    shutil.copy(trained["root"] / "mlflow.db", tmp_path / "mlflow.db")
    with postgres_database("leadscore_down") as database:
        proxy = TcpProxy(5432)  # not started: its port is closed
        client_env = _client(monkeypatch, tmp_path, f"sqlite:///{tmp_path / 'mlflow.db'}")
        monkeypatch.setenv(
            "LEADSCORE_DB_URL", f"postgresql+psycopg://postgres:pw-s3cret@127.0.0.1:{proxy.port}/{database}"
        )
        with client_env as client:
            _store_unavailable_yet_scoring(client)
            proxy.start()
            assert wait_for(lambda: client.get("/readyz").json()["store"] == "ready", timeout=20, every=0.2)
            stored = client.post("/feedback", json={"feedback": _decision(1)}, headers=AUTH)
            assert stored.status_code == 200 and stored.json()["stored"] is True
        proxy.cut()
        assert _count(f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}", "decisions") == 1


@pytest.mark.parametrize("where", ["/dev/full", "read-only"])
def test_a_full_disk_or_read_only_store_means_scores_without_decisions(monkeypatch, tmp_path, trained, where):
    shutil.copy(trained["root"] / "mlflow.db", tmp_path / "mlflow.db")
    readonly = tmp_path / "ro.db"
    readonly.touch()
    url = "sqlite:////dev/full" if where == "/dev/full" else f"sqlite:///file:{readonly}?mode=ro&uri=true"
    client_env = _client(monkeypatch, tmp_path, f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("LEADSCORE_DB_URL", url)
    with client_env as client:
        _store_unavailable_yet_scoring(client)


def test_sql_looking_text_is_stored_verbatim_and_changes_nothing_else(client, tmp_path):
    nasty = "x'); DROP TABLE decisions; --"
    assert client.post("/feedback", json={"feedback": _decision(1)}, headers=AUTH).status_code == 200
    body = _decision(2, feedback_id=nasty, lead_id=f"{nasty}-lead", rep_id=f"{nasty}-rep", note=f'{nasty} " OR 1=1')
    assert client.post("/feedback", json={"feedback": body}, headers=AUTH).status_code == 200
    answer = client.post("/score", json={"lead": {**HOT_LEAD, "lead_id": nasty, "job_title": nasty}}, headers=AUTH)
    assert answer.status_code == 200 and answer.json()["lead_id"] == nasty
    engine = create_engine(f"sqlite:///{tmp_path / 'feedback.db'}")
    with engine.connect() as connection:
        rows = connection.execute(text("select feedback_id, lead_id, rep_id, note from decisions order by received_at"))
        assert [tuple(r) for r in rows] == [
            ("fb-1", "L-1", None, None),
            (nasty, f"{nasty}-lead", f"{nasty}-rep", f'{nasty} " OR 1=1'),
        ]


def test_a_retrain_that_crashes_midway_leaves_the_champion(monkeypatch, trained, tmp_path):
    from features.defaults import load_rules
    from features.settings import FeatureConfig
    from training import train as train_module
    from training.registry import connect
    from training.settings import TrainingConfig

    shutil.copy(trained["root"] / "mlflow.db", tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"

    def crash(*args, **kwargs):
        raise MemoryError("killed while evaluating")

    monkeypatch.setattr(train_module, "evaluate", crash)
    with pytest.raises(MemoryError):
        train_module.train(trained["data"], TrainingConfig(), FeatureConfig(), load_rules(), tracking_uri=uri)
    registry = connect(uri)
    assert str(registry.get_model_version_by_alias("leadscore", "champion").version) == "1"
    assert len(registry.search_model_versions("name='leadscore'")) == 1  # nothing half-registered


@pytest.mark.training
def test_corrupt_champion_artifacts_mean_rules_until_the_model_loads(monkeypatch, tmp_path):
    """The champion's files are damaged at start: the service comes up on the rules, /readyz and
    every answer say why, and the model is picked up once its files are whole again."""
    from features.defaults import load_rules
    from features.settings import FeatureConfig
    from synthetic.generate import generate, write_dataset
    from training.settings import TrainingConfig
    from training.train import train

    monkeypatch.chdir(tmp_path)  # the run's artifacts go to ./mlartifacts, this test's own
    write_dataset(generate(4_000, seed=3), tmp_path / "data", "parquet")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    train(tmp_path / "data", TrainingConfig(), FeatureConfig(), load_rules(), tracking_uri=uri)
    [pickled] = (tmp_path / "mlartifacts").rglob("python_model.pkl")
    whole = pickled.read_bytes()
    pickled.write_bytes(b"not a model")
    monkeypatch.setenv("LEADSCORE_RELOAD_SECONDS", "0.5")
    client_env = _client(monkeypatch, tmp_path, uri)
    with client_env as client:
        ready = client.get("/readyz").json()
        assert ready["mode"] == "rules" and "not loaded" in ready["reason"]
        answer = client.post("/score", json={"lead": HOT_LEAD}, headers=AUTH).json()
        assert answer["scored_by"] == "rules" and "not loaded" in answer["fallback_reason"]
        pickled.write_bytes(whole)
        assert wait_for(lambda: client.get("/readyz").json()["mode"] == "model", timeout=30, every=0.2)
        assert client.post("/score", json={"lead": HOT_LEAD}, headers=AUTH).json()["scored_by"] == "model"


def test_an_unreachable_tracking_server_means_rules_and_says_so(monkeypatch, tmp_path):
    from tests.live import free_port

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    with _client(monkeypatch, tmp_path, f"http://127.0.0.1:{free_port()}") as client:
        ready = client.get("/readyz").json()
        assert ready["status"] == "ready" and ready["mode"] == "rules" and "not loaded" in ready["reason"]
        assert client.post("/score", json={"lead": HOT_LEAD}, headers=AUTH).json()["scored_by"] == "rules"
