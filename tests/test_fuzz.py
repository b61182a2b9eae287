"""Fuzzing the live service against its own OpenAPI document (schemathesis): whatever arrives,
the answer is never a 5xx."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.test_mlflow_server import _free_port

KEY = "fuzz-key-0d9e"


@pytest.fixture(scope="module")
def live_service(trained, tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    shutil.copy(trained["root"] / "mlflow.db", root / "mlflow.db")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    port = _free_port()
    env = {
        **os.environ,
        "LEADSCORE_API_KEY": KEY,
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_REGISTRY_URI": uri,
        "LEADSCORE_DB_URL": f"sqlite:///{root / 'feedback.db'}",
    }
    log = (root / "serve.log").open("w")
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("leadscore")), "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=root,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:
                if json.loads(response.read()).get("status") == "ready":
                    break
        except (OSError, ValueError):
            pass
        assert server.poll() is None and time.monotonic() < deadline, (root / "serve.log").read_text()[-3000:]
        time.sleep(0.5)
    yield base
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
    log.close()


def test_no_input_gets_a_5xx(live_service):
    """Every POST endpoint, 150 generated requests each (valid and invalid), with the API key."""
    api = schemathesis.openapi.from_url(f"{live_service}/docs.json")
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
