"""A real `leadscore serve` (bentoml serve) process on 127.0.0.1, answering the README examples."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request

from tests.conftest import PROJECT
from tests.live import live_service

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


def _get(url: str, key: str | None = KEY) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_leadscore_serve_answers_the_examples(trained, tmp_path):
    shutil.copy(trained["root"] / "mlflow.db", tmp_path / "mlflow.db")
    with live_service(tmp_path, KEY, f"sqlite:///{tmp_path / 'mlflow.db'}") as base:
        with urllib.request.urlopen(f"{base}/readyz", timeout=5) as response:
            ready = json.loads(response.read())
        assert ready["mode"] == "model" and ready["model_version"] == "leadscore/1"
        status, answer = _post(f"{base}/score", (EXAMPLES / "score.json").read_bytes())
        assert status == 200 and answer["scored_by"] == "model" and answer["lead_id"] == "L-demo-1"
        status, items = _post(f"{base}/score_batch", (EXAMPLES / "score_batch.json").read_bytes())
        assert status == 200 and [i["result"]["lead_id"] for i in items] == ["L-demo-3", "L-demo-4"]
        status, receipt = _post(f"{base}/feedback", (EXAMPLES / "feedback.json").read_bytes())
        assert status == 200 and receipt["stored"] is True
        assert _post(f"{base}/score", (EXAMPLES / "score.json").read_bytes(), key=None)[0] == 401
        personal = json.loads((EXAMPLES / "score.json").read_text())
        personal["lead"]["extra"] = {"contact_email": "jane.doe@example.com", "contact_name": "Jane Doe"}
        assert _post(f"{base}/score", json.dumps(personal).encode())[0] == 200
        bad = {"lead": {"lead_id": "x", "job_title": "Jane Doe <jane.doe@example.com>", "company_size": -1}}
        assert _post(f"{base}/score", json.dumps(bad).encode())[0] == 400
    logged = (tmp_path / "serve.log").read_text()
    assert KEY not in logged  # the key never reaches the logs
    assert "jane.doe" not in logged and "Jane Doe" not in logged  # nor a lead's email or name


def test_metrics_count_fallbacks_and_decisions(tmp_path):
    """/metrics of a real server shows the rule fallbacks and the stored decisions."""
    with live_service(tmp_path, KEY, f"sqlite:///{tmp_path / 'empty.db'}") as base:  # empty registry: rules
        assert _post(f"{base}/score", (EXAMPLES / "score.json").read_bytes())[1]["scored_by"] == "rules"
        assert _post(f"{base}/feedback", (EXAMPLES / "feedback.json").read_bytes())[0] == 200
        assert _get(f"{base}/metrics", key=None)[0] == 401  # metrics and docs need the key too
        status, metrics = _get(f"{base}/metrics")
        assert status == 200
    assert 'leadscore_rule_fallbacks_total{cause="no_model"} 1.0' in metrics
    assert 'leadscore_sales_decisions_total{decision="accepted",reason="none"} 1.0' in metrics
