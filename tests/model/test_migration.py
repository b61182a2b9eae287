"""Models registered by leadscore 0.1.0 (tests/fixtures/README.md) still load and answer exactly as
they did: the same `LeadModel.predict` rows and the same service answers to the example leads."""

from __future__ import annotations

import json
import math
import os
import re
from datetime import datetime
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from features.defaults import load_rules
from serving.schemas import Lead
from serving.scorer import Scorer
from training.answer import predict
from training.registry import connect, load_model

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EXAMPLES = Path(__file__).resolve().parents[2] / "serving" / "examples"
MODELS = {"model_0_1_0": "sigmoid", "model_0_1_0_isotonic": "isotonic"}
# both were trained on the same generated data; only the first keeps the feature rows they scored
FEATURES = FIXTURES / "model_0_1_0" / "features.parquet"


def _example_leads() -> list[Lead]:
    one = json.loads((EXAMPLES / "score.json").read_text())["lead"]
    batch = json.loads((EXAMPLES / "score_batch.json").read_text())["leads"]
    return [Lead.model_validate(lead) for lead in [one, *batch]]


def _assert_same(actual, expected, where: str = "answer") -> None:
    """Numbers to 1e-9, everything else (texts, flags, None) exactly."""
    if isinstance(expected, dict):
        assert set(actual) == set(expected), where
        for key in expected:
            _assert_same(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _assert_same(a, e, f"{where}[{i}]")
    elif isinstance(expected, float):
        assert isinstance(actual, int | float) and math.isclose(actual, expected, rel_tol=0, abs_tol=1e-9), where
    else:
        assert actual == expected, where


@pytest.mark.parametrize("name", MODELS)
def test_a_0_1_0_model_predicts_as_it_did(name):
    model = load_model(str(FIXTURES / name / "model"))
    assert model.calibration_methods == {"__all__": MODELS[name]}
    expected = pd.read_parquet(FIXTURES / name / "predictions.parquet")
    actual = predict(model, pd.read_parquet(FEATURES))[expected.columns]  # the answer as 0.1.0 gave it
    # the version is the one the pickled model carries ("leadscore/1"), so it is compared too
    numbers = expected.select_dtypes("float").columns
    pd.testing.assert_frame_equal(actual[numbers], expected[numbers], check_exact=False, rtol=0, atol=1e-9)
    pd.testing.assert_frame_equal(actual.drop(columns=numbers), expected.drop(columns=numbers), check_exact=True)


def _now(recorded: dict) -> datetime:
    return datetime.fromisoformat(recorded["now"])


# words that issue 18 rewrote (no "0 days ago", no zero count as a reason): the same reason, the
# same weight, this release's words
REWORDED = re.compile(r"days ago|\b0 (of|forms|webinars|pieces|contacts|days)\b")
PARTS_SINCE = {
    "confidence", "fit", "intent", "quadrant", "interval", "trend", "warnings", "explore", "propensity", "account"
}  # fmt: skip


def _as_recorded(answer: dict, recorded: dict) -> dict:
    """`answer` with the fields 0.1.0 answered, and the recorded words where they were reworded."""
    answer = {key: answer[key] for key in recorded}
    reasons = zip(answer["top_reasons"], recorded["top_reasons"], strict=True)
    answer["top_reasons"] = [
        {**now, "text": then["text"]} if REWORDED.search(then["text"]) else now for now, then in reasons
    ]
    return answer


@pytest.mark.parametrize("name", MODELS)
def test_a_0_1_0_model_answers_the_examples_as_it_did(name):
    model = load_model(str(FIXTURES / name / "model"))
    recorded = json.loads((FIXTURES / name / "answers.json").read_text())["answers"]
    scorer = Scorer(model, load_rules(), model.feature_config, model.contract)
    answers = [a.model_dump(mode="json") for a in scorer.score(_example_leads(), now=_now_of(name))]
    _assert_same([_as_recorded(a, r) for a, r in zip(answers, recorded, strict=True)], recorded)
    for answer in answers:
        assert set(answer) - set(recorded[0]) == PARTS_SINCE
        texts = " | ".join(r["text"] for r in answer["top_reasons"])
        assert " 0 days ago" not in texts and "1 days" not in texts and "matches 0 of" not in texts, texts


@pytest.mark.parametrize("name", MODELS)
def test_a_0_1_0_model_has_no_interval_and_says_why(name):
    model = load_model(str(FIXTURES / name / "model"))
    scorer = Scorer(model, load_rules(), model.feature_config, model.contract)
    for answer in scorer.score(_example_leads(), now=_now_of(name)):
        assert answer.scored_by == "model" and answer.confidence is None
        assert (answer.interval.low, answer.interval.high, answer.interval.width) == (None, None, None)
        assert answer.interval.reason.startswith("model leadscore/1 was fitted without interval data")
        assert answer.fit.level is not None and answer.intent.level is not None  # from its own contributions


def _now_of(name: str) -> datetime:
    return _now(json.loads((FIXTURES / name / "answers.json").read_text()))


@pytest.fixture
def registry_uri(tmp_path):
    """A throwaway SQLite registry; MLflow's global URIs, and the environment variables MLflow
    sets with them, are put back afterwards."""
    variables = {name: os.environ.get(name) for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    yield f"sqlite:///{tmp_path / 'mlflow.db'}"
    # cleared, not set to what get_*_uri() said: that is the resolved default, and setting it would
    # pin later tests of this process to it over their own MLFLOW_TRACKING_URI
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)
    for name, value in variables.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def test_a_registered_0_1_0_model_loads_from_the_registry(registry_uri):
    client = MlflowClient(tracking_uri=registry_uri, registry_uri=registry_uri)
    client.create_registered_model("leadscore")
    version = client.create_model_version("leadscore", source=str(FIXTURES / "model_0_1_0" / "model"))
    model = load_model(f"models:/leadscore/{version.version}", connect(registry_uri))
    assert model.version == "leadscore/1"
    expected = pd.read_parquet(FIXTURES / "model_0_1_0" / "predictions.parquet")
    actual = predict(model, pd.read_parquet(FEATURES))
    pd.testing.assert_series_equal(actual["probability"], expected["probability"], check_exact=False, rtol=0, atol=1e-9)
