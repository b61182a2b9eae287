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


def _fuzz(service_url: str, per_endpoint: int) -> dict[int, int]:
    """Every POST endpoint, `per_endpoint` generated requests each (valid and invalid), with the
    API key: never a 5xx, and a 4xx always says what is wrong and where."""
    api = schemathesis.openapi.from_url(f"{service_url}/openapi.json")  # the document needs no key
    operations = [result.ok() for result in api.get_all_operations()]
    posts = [op for op in operations if op.method.upper() == "POST"]
    assert {op.path for op in posts} >= {"/score", "/score_batch", "/feedback"}
    seen: dict[int, int] = {}
    for operation in posts:
        fields = _fields(operation)

        @given(case=operation.as_strategy())
        @settings(max_examples=per_endpoint, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            response = case.call(headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            assert response.status_code < 500, f"{case.path}: {response.status_code} {response.text[:300]}"
            if 400 <= response.status_code < 500:
                text = response.text
                assert text.strip(), "a 4xx must say what is wrong"
                named = "JSON" in text or any(f in text for f in fields)  # noqa: B023 (check runs in this iteration)
                assert named, f"{case.path}: no field named in {text[:300]}"

        check()
    print(f"\nfuzz cases by status: {dict(sorted(seen.items()))}")
    return seen


def _fields(operation) -> set[str]:
    """Every property name in the operation's request schema (where a 4xx can point)."""
    names: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            names.update((node.get("properties") or {}).keys())
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(operation.definition.raw)
    walk(operation.schema.raw_schema.get("components", {}))
    return names


def test_no_input_gets_a_5xx(service_url):
    """150 generated requests per endpoint in the default run."""
    assert sum(_fuzz(service_url, 150).values()) >= 300


@pytest.mark.slow
def test_a_thousand_generated_requests_get_no_5xx(service_url):
    """The bad-input suite of the reliability issue: 350 per endpoint, over 1,000 in all."""
    assert sum(_fuzz(service_url, 350).values()) >= 1_000
