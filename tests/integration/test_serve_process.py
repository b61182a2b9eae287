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


EMAIL, NAME = "jane.doe@example.com", "Jane Doe"


def _scrape(base: str) -> dict[tuple[str, frozenset], float]:
    """/metrics as {(sample name, its labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    status, text = _get(f"{base}/metrics")
    assert status == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(metrics: dict, name: str, **labels: str) -> float:
    """The sum of `name` over the samples with these labels (others summed over)."""
    return sum(v for (n, have), v in metrics.items() if n == name and set(labels.items()) <= have)


def _bad_requests(base: str) -> list[int]:
    """100 requests refused for what they hold, each carrying an email address or a person's name."""
    lead = json.loads((EXAMPLES / "score.json").read_text())["lead"]
    decision = json.loads((EXAMPLES / "feedback.json").read_text())["feedback"]
    bodies = (
        [("score", {"lead": {**lead, "contacts": f"{NAME} <{EMAIL}>", "note": f"call {NAME}"}})] * 40
        + [("score", {"lead": {**lead, "job_title": f"{EMAIL}\u0000"}})] * 20
        + [("feedback", {"feedback": {**decision, "decision": "rejected", "note": f"{NAME} said no"}})] * 20
        + [("score_batch", {"leads": f"{NAME} <{EMAIL}>"})] * 10
        + [("score", f'{{"lead": {{"job_title": "{EMAIL}"'.encode())] * 10
    )
    return [
        _post(f"{base}/{path}", body if isinstance(body, bytes) else json.dumps(body).encode())[0]
        for path, body in bodies
    ]


def test_metrics_of_a_real_service_survive_other_bentoml_processes(trained, tmp_path):
    """10 model answers, 1 rules fallback and 3 posts to /feedback, counted over both workers; an
    other BentoML server starting meanwhile (which empties BentoML's default metrics folder)
    takes none of it away. Then 100 refused requests: one INFO line each, no traceback, nothing
    they held."""
    from bentoml.serving import ensure_prometheus_dir

    shutil.copy(trained["root"] / "mlflow.db", tmp_path / "mlflow.db")
    home = tmp_path / "home"  # the user's home, where BentoML keeps its default metrics folder
    home.mkdir()
    example = json.loads((EXAMPLES / "score.json").read_text())
    feedback = json.loads((EXAMPLES / "feedback.json").read_text())
    with live_service(tmp_path, KEY, f"sqlite:///{tmp_path / 'mlflow.db'}", env={"HOME": str(home)}) as base:
        for i in range(10):
            lead = {**example["lead"], "lead_id": f"L-metrics-{i}"}
            assert _post(f"{base}/score", json.dumps({"lead": lead}).encode())[1]["scored_by"] == "model"
        no_events = {k: v for k, v in example["lead"].items() if k != "events"}
        assert _post(f"{base}/score", json.dumps({"lead": no_events}).encode())[1]["scored_by"] == "rules"
        assert _post(f"{base}/feedback", json.dumps(feedback).encode())[1]["stored"] is True
        assert _post(f"{base}/feedback", json.dumps(feedback).encode())[1]["duplicate"] is True
        other = {"feedback": {**feedback["feedback"], "decision": "rejected", "reason": "no_budget"}}
        assert _post(f"{base}/feedback", json.dumps(other).encode())[0] == 409
        ensure_prometheus_dir(str(home / "bentoml" / "prometheus_multiproc_dir"))  # what any BentoML start does
        metrics = _scrape(base)
        started = len((tmp_path / "serve.log").read_text().splitlines())
        statuses = _bad_requests(base)
    assert _value(metrics, "leadscore_answers_total", scored_by="model") == 10
    assert _value(metrics, "leadscore_answers_total", scored_by="rules") == 1
    assert (
        _value(metrics, "leadscore_rule_fallbacks_total")
        == _value(metrics, "leadscore_rule_fallbacks_total", cause="missing_data")
        == 1
    )
    assert _value(metrics, "leadscore_sales_decisions_total", decision="accepted", reason="none") == 1
    assert [_value(metrics, "leadscore_feedback_total", outcome=o) for o in ("stored", "duplicate", "conflict")] == [
        1,
        1,
        1,
    ]
    assert _value(metrics, "leadscore_model_info", model_version="leadscore/1", scored_by="model") == 1
    assert ("leadscore_score_log_queue", frozenset()) in metrics
    assert _value(metrics, "leadscore_score_log_dropped_total") == 0
    count = "leadscore_request_duration_seconds_count"
    assert _value(metrics, count, endpoint="/score", code="200") == 11
    assert _value(metrics, count, endpoint="/feedback", code="200") == 2
    assert _value(metrics, count, endpoint="/feedback", code="409") == 1
    assert _value(metrics, "leadscore_request_duration_seconds_bucket", endpoint="/score", le="+Inf") == 11

    assert all(400 <= status < 500 for status in statuses), statuses
    after = (tmp_path / "serve.log").read_text().splitlines()[started:]
    refused = [line for line in after if " refused POST /" in line]
    assert len(refused) == 100 and all("[INFO]" in line for line in refused), after[:5]
    logged = "\n".join(after)
    assert "Traceback" not in logged and "[ERROR]" not in logged
    assert EMAIL not in logged and NAME not in logged and "jane.doe" not in logged


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


def test_json_log_lines(tmp_path):
    """LEADSCORE_LOG_FORMAT=json: every line the workers write is one JSON object (BentoML's
    supervising process, configured before leadscore runs, keeps its plain `[cli]` lines)."""
    with live_service(
        tmp_path, KEY, f"sqlite:///{tmp_path / 'empty.db'}", env={"LEADSCORE_LOG_FORMAT": "json"}
    ) as base:
        bad = {"lead": {"lead_id": "x", "contacts": f"{NAME} <{EMAIL}>"}}
        assert _post(f"{base}/score", json.dumps(bad).encode())[0] == 400
        assert _post(f"{base}/score", (EXAMPLES / "score.json").read_bytes())[0] == 200
    lines = (tmp_path / "serve.log").read_text().splitlines()
    records = [json.loads(line) for line in lines if "[cli]" not in line]
    assert {"time", "level", "logger", "message"} <= set(records[0])
    assert {r["logger"] for r in records if r["message"].startswith("refused ")} == {"leadscore.refused"}
    messages = [(r["level"], r["message"]) for r in records]
    assert ("INFO", "leadscore ready: rules") in messages
    assert ("INFO", "refused POST /score 400: lead.contacts: Input should be a valid array") in messages
    assert EMAIL not in "\n".join(lines)
