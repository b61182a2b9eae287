"""One real `leadscore serve` (bentoml serve) process on 127.0.0.1, answering the README examples."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.conftest import PROJECT
from tests.test_mlflow_server import _free_port

EXAMPLES = PROJECT / "serving" / "examples"
KEY = "process-test-key-51c2"


def _post(url: str, body: bytes, key: str | None = KEY) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_leadscore_serve_answers_the_examples(trained, tmp_path):
    shutil.copy(trained["root"] / "mlflow.db", tmp_path / "mlflow.db")
    port = _free_port()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {
        **os.environ,
        "LEADSCORE_API_KEY": KEY,
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_REGISTRY_URI": uri,
        "LEADSCORE_DB_URL": f"sqlite:///{tmp_path / 'feedback.db'}",
    }
    log = (tmp_path / "serve.log").open("w")
    leadscore = str(Path(sys.executable).with_name("leadscore"))
    server = subprocess.Popen(
        [leadscore, "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:
                    ready = json.loads(response.read())
                    if ready.get("status") == "ready":
                        break
            except (OSError, ValueError):
                pass
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-3000:]
            time.sleep(0.5)
        assert ready["mode"] == "model" and ready["model_version"] == "leadscore/1"
        status, answer = _post(f"{base}/score", (EXAMPLES / "score.json").read_bytes())
        assert status == 200 and answer["scored_by"] == "model" and answer["lead_id"] == "L-demo-1"
        status, items = _post(f"{base}/score_batch", (EXAMPLES / "score_batch.json").read_bytes())
        assert status == 200 and [i["result"]["lead_id"] for i in items] == ["L-demo-3", "L-demo-4"]
        status, receipt = _post(f"{base}/feedback", (EXAMPLES / "feedback.json").read_bytes())
        assert status == 200 and receipt["stored"] is True
        assert _post(f"{base}/score", (EXAMPLES / "score.json").read_bytes(), key=None)[0] == 401
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
    assert KEY not in (tmp_path / "serve.log").read_text()  # the key never reaches the logs


def test_metrics_count_fallbacks_and_decisions(trained, tmp_path):
    """/metrics of a real server shows the rule fallbacks and the stored decisions."""
    port = _free_port()
    uri = f"sqlite:///{tmp_path / 'empty.db'}"  # an empty registry: the rules answer
    env = {
        **os.environ,
        "LEADSCORE_API_KEY": KEY,
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_REGISTRY_URI": uri,
        "LEADSCORE_DB_URL": f"sqlite:///{tmp_path / 'feedback.db'}",
    }
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("leadscore")), "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:
                    if json.loads(response.read()).get("status") == "ready":
                        break
            except (OSError, ValueError):
                pass
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-3000:]
            time.sleep(0.5)
        assert _post(f"{base}/score", (EXAMPLES / "score.json").read_bytes())[1]["scored_by"] == "rules"
        assert _post(f"{base}/feedback", (EXAMPLES / "feedback.json").read_bytes())[0] == 200
        with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
            metrics = response.read().decode()
        assert 'leadscore_rule_fallbacks_total{cause="no_model"} 1.0' in metrics
        assert 'leadscore_sales_decisions_total{decision="accepted",reason="none"} 1.0' in metrics
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
