"""Shared fixtures: small generated CRM data sets, written once per test session.

Tests are split as Made-With-ML does, each folder a marker (`pytest -m model`): code/ (units and
the package layering), data/ (the contract, generated and real exports, point-in-time features),
model/ (behaviour of a trained model, the registry, migration of registered models) and
integration/ (the service, real servers, PostgreSQL, Spark, the browser)."""

from __future__ import annotations

import fcntl
import functools
import os
import pickle
import shutil
from pathlib import Path

import pandas as pd
import pytest

from synthetic.generate import generate, write_dataset
from synthetic.manifest import World

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("LEADSCORE_MONITOR_SECONDS", "0")  # no scheduled monitor run in a test service unless a test asks

PROJECT = Path(__file__).resolve().parents[1]
KINDS = ("code", "data", "model", "integration")
SHARED = PROJECT.parent / "shared"


def pytest_collection_modifyitems(items) -> None:
    """Mark each test with the kind its folder names (code, data, model, integration)."""
    tests = Path(__file__).resolve().parent
    for item in items:
        kind = Path(item.path).resolve().relative_to(tests).parts[0]
        if kind in KINDS:
            item.add_marker(getattr(pytest.mark, kind))
        if kind == "model" or "trained" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.training)  # model tests, and users of the session's model


@pytest.fixture(autouse=True)
def _training_is_marked(request, monkeypatch):
    """A test that fits a LightGBM model carries the `training` marker, so that `-m "not training"`
    leaves every training out; code and data tests never carry it (they run in seconds). A test
    that trains unmarked fails, naming this rule."""
    if request.node.get_closest_marker("training") is not None:
        return
    import lightgbm

    original = lightgbm.Booster.__init__

    def refuse(self, *args, **kwargs):
        if kwargs.get("train_set", args[1] if len(args) > 1 else None) is not None:
            raise AssertionError(
                f"{request.node.nodeid} trains a model without the `training` marker: training "
                "belongs in tests/model, or under @pytest.mark.training in tests/integration"
            )
        original(self, *args, **kwargs)

    monkeypatch.setattr(lightgbm.Booster, "__init__", refuse)


@pytest.fixture(scope="session")
def demo_tables():
    """A 30,000-lead synthetic CRM as pandas frames (big enough for statistical checks)."""
    return {name: table.to_pandas() for name, table in generate(30_000, seed=11).items()}


@pytest.fixture(scope="session")
def small_csv_dir(tmp_path_factory) -> Path:
    """A 300-lead synthetic CRM written as CSV: the base that bad-input tests corrupt."""
    out = tmp_path_factory.mktemp("small_csv")
    write_dataset(generate(300, seed=5), out, "csv")
    return out


@pytest.fixture
def data_copy(small_csv_dir, tmp_path) -> Path:
    """A private copy of the small CSV data set that a test may break."""
    for path in small_csv_dir.iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    return tmp_path


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False)


# the world the session's model is trained on; its manifest goes with the data, so that tests
# simulating past its history (leadscore simulate) copy the folder and nothing else
WORLD = World(seed=21, leads=40_000, start="2024-01-01", days=730, format="parquet")


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A model trained once on 40,000 generated leads, in a throwaway MLflow SQLite store. The
    run's workers (pytest-xdist) share it: the first to need it trains it in the run's common
    temporary folder, under a lock the others wait on; `LEADSCORE_TEST_TRAINED` names a folder
    that keeps it between runs (a developer's cache; unset in CI)."""
    from training.registry import connect, load_model

    root = tmp_path_factory.mktemp("trained")
    data = root / "data"
    uri = f"sqlite:///{root / 'mlflow.db'}"
    cache = Path(os.environ["LEADSCORE_TEST_TRAINED"]) if os.environ.get("LEADSCORE_TEST_TRAINED") else None
    if cache is None and os.environ.get("PYTEST_XDIST_WORKER"):
        cache = tmp_path_factory.getbasetemp().parent / "trained-once"
    if cache is None:
        _train_into(root, data)
    else:  # trained there once, its artifacts stay there; each test session copies the store
        cache.mkdir(parents=True, exist_ok=True)
        with (cache.parent / f"{cache.name}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (cache / "result.pkl").exists():
                _train_into(cache, cache / "data")
        shutil.copytree(cache / "data", data)
        shutil.copy(cache / "mlflow.db", root / "mlflow.db")
    result = pickle.loads(((cache or root) / "result.pkl").read_bytes())
    WORLD.write(data)
    client = connect(uri)
    model = load_model("models:/leadscore@champion", client)
    return {"data": data, "uri": uri, "result": result, "model": model, "client": client, "root": root}


def _train_into(folder: Path, data: Path) -> None:
    """The session's world written to `data` and a model trained on it into `folder`'s MLflow
    store, the training result beside it (result.pkl)."""
    from features.defaults import load_rules
    from features.settings import FeatureConfig
    from training.settings import TrainingConfig
    from training.train import train

    write_dataset(generate(WORLD.leads, WORLD.seed, WORLD.start, WORLD.days), data, "parquet")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    kept = train(data, TrainingConfig(), FeatureConfig(), load_rules(), tracking_uri=uri)
    (folder / "result.pkl").write_bytes(pickle.dumps(kept))


# the scoring service through its ASGI app (tests of the service, its faults and its data)
KEY = "test-key-7f3a"
AUTH = {"Authorization": f"Bearer {KEY}"}


@functools.cache
def service_app():
    """The service's ASGI app, built once per process: BentoML registers its Prometheus metrics
    per app. Each `with TestClient(...)` starts a new service instance in it (lifespan)."""
    from serving.service import LeadScoring

    return LeadScoring.to_asgi()


def _client(monkeypatch, tmp_path, tracking_uri: str):
    """A client whose service starts (lifespan) with this test's environment: the service reads
    its settings when it starts, not when the app is built."""
    monkeypatch.setenv("LEADSCORE_API_KEY", KEY)
    monkeypatch.setenv("LEADSCORE_DB_URL", f"sqlite:///{tmp_path / 'feedback.db'}")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", tracking_uri)
    from starlette.testclient import TestClient

    return TestClient(service_app())


@pytest.fixture
def client(monkeypatch, tmp_path, trained):
    shutil.copy(trained["root"] / "mlflow.db", tmp_path / "mlflow.db")
    with _client(monkeypatch, tmp_path, f"sqlite:///{tmp_path / 'mlflow.db'}") as c:
        yield c


def score_rows(n: int, start: int = 0, version: str = "leadscore/1") -> list[dict]:
    """`n` rows for the score log, lead ids L{start}.. (what the service logs per answer)."""
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    return [
        dict(
            lead_id=f"L{i}",
            scored_at=now,
            model_version=version,
            probability=0.4,
            is_mql=True,
            rule_score=55.0,
            rule_is_mql=False,
            scored_by="model",
            segment="smb",
        )
        for i in range(start, start + n)
    ]


def decision(feedback_id: str, lead_id: str, **fields) -> dict:
    """A /feedback body's decision: a rejection for no budget unless `fields` say otherwise."""
    return {
        "feedback_id": feedback_id,
        "lead_id": lead_id,
        "decision": "rejected",
        "reason": "no_budget",
        "decided_at": "2025-12-30T12:00:00Z",
        **fields,
    }
