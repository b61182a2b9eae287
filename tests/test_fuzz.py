"""Fuzzing the live service against its own OpenAPI document (schemathesis): whatever arrives,
the answer is never a 5xx."""

from __future__ import annotations

import shutil

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.live import live_service

KEY = "fuzz-key-0d9e"


@pytest.fixture(scope="module")
def service_url(trained, tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    shutil.copy(trained["root"] / "mlflow.db", root / "mlflow.db")
    with live_service(root, KEY, f"sqlite:///{root / 'mlflow.db'}") as base:
        yield base


def test_no_input_gets_a_5xx(service_url):
    """Every POST endpoint, 150 generated requests each (valid and invalid), with the API key."""
    api = schemathesis.openapi.from_url(f"{service_url}/docs.json")
    operations = [result.ok() for result in api.get_all_operations()]
    posts = [op for op in operations if op.method.upper() == "POST"]
    assert {op.path for op in posts} >= {"/score", "/score_batch", "/feedback"}
    seen: dict[int, int] = {}
    for operation in posts:

        @given(case=operation.as_strategy())
        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            response = case.call(headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            assert response.status_code < 500, f"{case.path}: {response.status_code} {response.text[:300]}"
            if 400 <= response.status_code < 500:
                assert response.text.strip(), "a 4xx must say what is wrong"

        check()
    print(f"\nfuzz cases by status: {dict(sorted(seen.items()))}")
    assert sum(seen.values()) >= 300
