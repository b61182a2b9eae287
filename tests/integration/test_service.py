"""The BentoML service through its ASGI app: auth, answers, bad input, feedback, fallback."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import AUTH, _client, decision
from tests.waiting import wait_for

HOT_LEAD = {
    "lead_id": "L-hot",
    "job_title": "VP of Sales",
    "company_size": 800,
    "industry": "software",
    "email_domain": "northpeak.com",
    "events": [
        {"ts": "2025-12-30T10:00:00Z", "type": "demo_request"},
        {"ts": "2025-12-30T09:00:00Z", "type": "pricing_page_view"},
    ],
}


def _rows(tmp_path, table: str) -> list:
    with create_engine(f"sqlite:///{tmp_path / 'feedback.db'}").connect() as connection:
        return list(connection.execute(text(f"select * from {table}")))


def _logged(tmp_path, n: int, timeout: float = 10) -> list:
    """The score log once it holds `n` rows (it is written off the request path, within a second)."""
    wait_for(lambda: len(_rows(tmp_path, "scores")) >= n, timeout, every=0.1)
    return _rows(tmp_path, "scores")


@pytest.mark.parametrize("path", ["/score", "/score_batch", "/feedback"])
def test_every_api_needs_the_key(client, path):
    assert client.post(path, json={}).status_code == 401
    assert client.post(path, json={}, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert "API key" in client.post(path, json={}).json()["error"]


def test_health_needs_no_key_and_readyz_names_the_model(client):
    assert client.get("/healthz").status_code == 200 and client.get("/livez").status_code == 200
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["mode"] == "model" and ready["model_version"] == "leadscore/1"
    assert ready["store"] == "ready"  # opened before the service says it is up


def test_score_answers_with_model_rules_reasons_and_logs_it(client, tmp_path):
    answer = client.post("/score", json={"lead": {**HOT_LEAD, "source": "webinar"}}, headers=AUTH).json()
    assert answer["scored_by"] == "model" and 0 < answer["probability"] < 1
    assert {"rule_score", "rule_is_mql", "rule_threshold", "grade", "next_step", "model_version"} <= set(answer)
    assert 3 <= len(answer["top_reasons"]) <= 5
    logged = _logged(tmp_path, 1)
    assert len(logged) == 1 and logged[0].lead_id == "L-hot" and logged[0].scored_by == "model"
    assert logged[0].source == "webinar"  # marketers compare acceptance by source on live traffic


@pytest.mark.parametrize(
    ("lead", "field"),
    [
        ({"lead_id": "x", "company_size": -5}, "company_size"),
        ({"lead_id": "x", "colour": "red"}, "colour"),
        ({"lead_id": ""}, "lead_id"),
        ({"lead_id": "x", "job_title": "y" * 5_000}, "job_title"),
        ({"lead_id": "x", "events": [{"ts": "soon", "type": "page_view"}]}, "ts"),
    ],
)
def test_bad_input_is_a_4xx_that_names_the_field(client, lead, field):
    response = client.post("/score", json={"lead": lead}, headers=AUTH)
    assert 400 <= response.status_code < 500
    assert field in response.text


def test_malformed_json_is_a_4xx(client):
    response = client.post("/score", content=b"{not json", headers={**AUTH, "content-type": "application/json"})
    assert 400 <= response.status_code < 500


def test_batch_reports_a_bad_lead_in_its_own_slot(client):
    leads = [HOT_LEAD, {"lead_id": "bad", "company_size": "many"}, {**HOT_LEAD, "lead_id": "L-2"}, 7]
    items = client.post("/score_batch", json={"leads": leads}, headers=AUTH).json()
    assert [i["index"] for i in items] == [0, 1, 2, 3]
    assert items[0]["result"]["lead_id"] == "L-hot" and items[2]["result"]["lead_id"] == "L-2"
    assert items[1]["result"] is None and "leads[1]: company_size" in items[1]["error"]
    assert items[3]["result"] is None and items[3]["error"].startswith("leads[3]: Input should be a valid dict")


def test_oversized_batch_says_the_limit(client):
    response = client.post("/score_batch", json={"leads": [{"lead_id": str(i)} for i in range(1_001)]}, headers=AUTH)
    assert response.status_code == 413 and "at most 1000 leads" in response.text


def test_feedback_is_stored_once(client, tmp_path):
    body = decision(
        "crm-991", "L-hot", decided_at="2026-01-02T10:00:00Z", rep_id="rep-7", note="'; drop table decisions; --"
    )
    first = client.post("/feedback", json={"feedback": body}, headers=AUTH).json()
    again = client.post("/feedback", json={"feedback": body}, headers=AUTH).json()
    assert first == {"feedback_id": "crm-991", "stored": True, "duplicate": False, "error": None}
    assert again == {"feedback_id": "crm-991", "stored": False, "duplicate": True, "error": None}
    stored = _rows(tmp_path, "decisions")
    assert len(stored) == 1 and stored[0].note == "'; drop table decisions; --" and stored[0].reason == "no_budget"


def test_feedback_with_an_unknown_reason_is_refused(client, tmp_path):
    body = decision("x", "L", reason="bad_vibes", decided_at="2026-01-02T10:00:00Z")
    response = client.post("/feedback", json={"feedback": body}, headers=AUTH)
    assert response.status_code == 422 and "reason: not one of" in response.text and "bad_vibes" not in response.text
    assert _rows(tmp_path, "decisions") == []


def _post(client, body: dict):
    return client.post("/feedback", json={"feedback": body}, headers=AUTH)


def _error(response) -> str:
    """The one-line error of a refused request (BentoML answers `[{"error": ...}]` for a 4xx it raised)."""
    body = response.json()
    return (body[0] if isinstance(body, list) else body)["error"]


POISONED = [
    ("rejected without a reason", {"reason": None}, "reason: required for a rejected decision"),
    ("decided before the hand-over", {"mql_at": "2026-01-03T00:00:00Z"}, "decided_at: before mql_at"),
    ("a NUL in the note", {"note": "secret\x00note"}, "note: contains a NUL character"),
    ("a NUL in the feedback id", {"feedback_id": "crm\x00-1"}, "feedback_id: contains a NUL character"),
    ("year 9999", {"decided_at": "9999-12-31T00:00:00Z"}, "decided_at: in the future"),
    ("1900", {"mql_at": "1900-01-01T00:00:00Z"}, "mql_at: before 1970"),
    ("no decision time", {"decided_at": None}, "decided_at: expected an ISO 8601 time"),
    ("an open decision", {"decision": "open"}, "decision: Input should be 'accepted', 'rejected' or 'recycled'"),
    ("an unknown field", {"colour": "red"}, "colour: Extra inputs are not permitted"),
]


@pytest.mark.parametrize(("why", "fields", "message"), POISONED, ids=[p[0] for p in POISONED])
def test_feedback_that_retraining_would_refuse_is_a_422_naming_the_field(client, tmp_path, why, fields, message):
    response = _post(client, {**decision("crm-1", "L-1", decided_at="2026-01-02T10:00:00Z"), **fields})
    assert response.status_code == 422, why
    error = _error(response)
    assert error.startswith(message) and "\n" not in error and "secret" not in error, (why, error)
    assert _rows(tmp_path, "decisions") == []


def test_a_lone_surrogate_is_refused_and_nothing_is_stored(client, tmp_path):
    body = json.dumps({"feedback": decision("crm-1", "L-1", note="x\ud800")})  # "\ud800": not a character
    response = client.post("/feedback", content=body.encode(), headers={**AUTH, "content-type": "application/json"})
    assert 400 <= response.status_code < 500 and "ud800" not in response.text
    assert _rows(tmp_path, "decisions") == []


def test_the_same_feedback_id_with_another_body_is_a_409_naming_what_differs(client, tmp_path):
    body = decision("crm-7", "L-7", decided_at="2026-01-02T10:00:00Z")
    assert _post(client, body).json()["stored"] is True
    changed = _post(client, {**body, "decision": "accepted", "reason": None})
    assert changed.status_code == 409
    assert _error(changed) == "feedback_id 'crm-7' was stored with another decision (differs in: decision, reason)"
    again = _post(client, body)
    assert again.status_code == 200 and again.json() == {
        "feedback_id": "crm-7",
        "stored": False,
        "duplicate": True,
        "error": None,
    }
    assert [(r.feedback_id, r.decision) for r in _rows(tmp_path, "decisions")] == [("crm-7", "rejected")]


def test_a_new_feedback_id_for_the_same_handover_is_a_correction(client):
    from core.store import FeedbackStore

    first = decision("crm-1", "L-1", mql_at="2026-01-01T09:00:00Z", decided_at="2026-01-02T10:00:00Z")
    fixed = {**first, "feedback_id": "crm-2", "decision": "accepted", "reason": None, "decided_at": "2026-01-02T11:00Z"}
    assert _post(client, first).status_code == 200 and _post(client, fixed).status_code == 200
    store = FeedbackStore()  # LEADSCORE_DB_URL: the service's store
    history = store.decisions().set_index("feedback_id")
    assert history.loc["crm-1", "status"] == "superseded" and history.loc["crm-1", "superseded_by"] == "crm-2"
    assert store.latest_decisions()["feedback_id"].tolist() == ["crm-2"]
    store.engine.dispose()


def test_a_decision_time_with_an_offset_is_stored_as_the_same_instant(client):
    from core.store import FeedbackStore

    assert _post(client, decision("crm-5", "L-5", decided_at="2026-01-02T10:30:00+05:30")).status_code == 200
    store = FeedbackStore()
    [stored] = store.decisions()["decided_at"].tolist()
    assert stored == datetime(2026, 1, 2, 5, 0, tzinfo=UTC)
    store.engine.dispose()


def test_feedback_reasons_are_the_served_models(client, monkeypatch):
    """The reason codes come from the served model's contract, not from the defaults."""
    from features.contract import ContractConfig
    from serving.asgi import running

    monkeypatch.setattr(running().scorer, "contract", ContractConfig(reasons=["price"]))
    assert _post(client, decision("crm-p", "L-p", reason="price")).status_code == 200
    refused = _post(client, decision("crm-q", "L-q", reason="no_budget"))
    assert refused.status_code == 422 and _error(refused) == "reason: not one of price"


TEXT_FIELDS = [
    ({"job_title": "VP\x00 Sales"}, "lead.job_title"),
    ({"extra": {"visits": "many\x00"}}, "lead.extra.visits"),
    ({"events": [{"ts": "2025-12-30T10:00:00Z", "type": "page_view", "detail": "a\x00"}]}, "lead.events[0].detail"),
    ({"events": [{"ts": "2025-12-30T10:00:00Z", "type": "page_view\x00"}]}, "lead.events[0].type"),
    (
        {"contacts": [{"lead_id": "C-1", "created_at": "2025-12-01T00:00:00Z", "job_title": "x\x00"}]},
        "lead.contacts[0]",
    ),
]


@pytest.mark.parametrize(("fields", "where"), TEXT_FIELDS, ids=[w for _, w in TEXT_FIELDS])
def test_a_nul_in_any_text_of_a_lead_is_a_422_naming_the_field(client, tmp_path, fields, where):
    response = client.post("/score", json={"lead": {**HOT_LEAD, **fields}}, headers=AUTH)
    assert response.status_code == 422
    error = _error(response)
    assert error.startswith(f"{where}") and error.endswith("contains a NUL character") and "\x00" not in error
    batch = [HOT_LEAD, {**HOT_LEAD, "lead_id": "L-2", **fields}]
    items = client.post("/score_batch", json={"leads": batch}, headers=AUTH).json()
    assert items[0]["result"]["lead_id"] == "L-hot" and items[1]["result"] is None
    assert items[1]["error"] == f"leads[1]: {error.removeprefix('lead.')}"
    assert [r.lead_id for r in _logged(tmp_path, 1)] == ["L-hot"]  # only the good lead is logged


def test_empty_registry_serves_rules_and_says_why(monkeypatch, tmp_path):
    with _client(monkeypatch, tmp_path, f"sqlite:///{tmp_path / 'empty.db'}") as c:
        ready = c.get("/readyz").json()
        assert ready["mode"] == "rules" and "not loaded" in ready["reason"]
        answer = c.post("/score", json={"lead": HOT_LEAD}, headers=AUTH).json()
        assert answer["scored_by"] == "rules" and "not loaded" in answer["fallback_reason"]
        assert answer["rule_score"] > 0 and answer["probability"] is None


def test_times_in_the_future_are_refused_with_the_field(client):
    future = {**HOT_LEAD, "events": [{"ts": "2999-01-01T00:00:00Z", "type": "page_view"}]}
    response = client.post("/score", json={"lead": future}, headers=AUTH)
    assert response.status_code == 400 and "ts: in the future" in response.text
    response = client.post("/score", json={"lead": {**HOT_LEAD, "as_of": "2999-01-01T00:00:00Z"}}, headers=AUTH)
    assert response.status_code == 400 and "as_of: in the future" in response.text


def test_a_contacts_time_without_offset_is_utc_and_one_in_the_future_is_refused(client):
    def contact(created_at: str) -> dict:
        events = [{"ts": "2025-12-29T09:00:00Z", "type": "webinar_attended"}]
        return {**HOT_LEAD, "contacts": [{"lead_id": "L-peer", "created_at": created_at, "events": events}]}

    naive = client.post("/score", json={"lead": contact("2025-12-01T08:00:00")}, headers=AUTH)
    utc = client.post("/score", json={"lead": contact("2025-12-01T08:00:00Z")}, headers=AUTH)
    assert naive.status_code == 200
    # the same answer, but for its trend: the second is against the first
    assert {**naive.json(), "trend": None} == {**utc.json(), "trend": None}
    future = client.post("/score", json={"lead": contact("2999-01-01T00:00:00Z")}, headers=AUTH)
    assert future.status_code == 400 and "created_at: in the future" in future.text


def test_the_readme_example_is_a_hot_lead(client):

    from tests.conftest import PROJECT

    example = json.loads((PROJECT / "serving" / "examples" / "score.json").read_text())
    answer = client.post("/score", json=example, headers=AUTH).json()
    assert answer["scored_by"] == "model" and answer["grade"] in ("A", "B")
    assert any("demo" in r["text"] or "pricing page" in r["text"] for r in answer["top_reasons"])


def test_times_before_1970_are_refused_with_the_field(client):
    ancient = {**HOT_LEAD, "events": [{"ts": "0001-01-01T00:00:00Z", "type": "page_view"}]}
    response = client.post("/score", json={"lead": ancient}, headers=AUTH)
    assert response.status_code == 400 and "ts: before 1970" in response.text


def test_a_body_over_the_size_limit_is_a_413_that_says_the_limit(client):
    big = b'{"lead": {"lead_id": "' + b"x" * (17 * 2**20) + b'"}}'
    response = client.post("/score", content=big, headers={**AUTH, "content-type": "application/json"})
    assert response.status_code == 413 and "the limit is 16,777,216 bytes" in response.json()["error"]

    def streamed():  # no Content-Length: counted as it arrives
        for _ in range(17):
            yield b"x" * 2**20

    response = client.post("/score", content=streamed(), headers={**AUTH, "content-type": "application/json"})
    assert response.status_code == 413 and "LEADSCORE_MAX_BODY_BYTES" in response.text
    json_body = {**AUTH, "content-type": "application/json"}
    small = client.post("/score", content=iter([b'{"lead": ', b'{"lead_id": "L-1"}}']), headers=json_body)
    assert small.status_code == 200  # a streamed body under the limit still arrives whole


# settings: read once when the service starts (serving/settings.py), passed to what needs them


def test_readyz_says_starting_until_the_service_runs():
    from starlette.testclient import TestClient

    from tests.conftest import service_app

    response = TestClient(service_app()).get("/readyz")  # no lifespan: no service instance yet
    assert response.status_code == 503
    assert response.json() == {
        "status": "starting",
        "mode": "starting",
        "model_version": None,
        "reason": None,
        "store": "unavailable",
    }


def test_a_bad_setting_stops_the_start_with_one_line_naming_it(monkeypatch, tmp_path):
    from core.errors import LeadscoreError

    monkeypatch.setenv("LEADSCORE_MAX_BODY_BYTES", "abc")
    monkeypatch.setenv("LEADSCORE_RELOAD_SECONDS", "-1")
    starting = _client(monkeypatch, tmp_path, f"sqlite:///{tmp_path / 'mlflow.db'}")
    with pytest.raises(LeadscoreError) as info, starting:
        pass
    message = str(info.value)
    assert "\n" not in message
    assert "LEADSCORE_MAX_BODY_BYTES='abc'" in message and "valid integer" in message
    assert "LEADSCORE_RELOAD_SECONDS='-1'" in message and "greater than or equal to 0" in message


@pytest.mark.parametrize("key", [None, ""])
def test_no_api_key_stops_the_start(monkeypatch, tmp_path, key):
    from core.errors import LeadscoreError

    starting = _client(monkeypatch, tmp_path, f"sqlite:///{tmp_path / 'mlflow.db'}")
    if key is None:
        monkeypatch.delenv("LEADSCORE_API_KEY")
    else:
        monkeypatch.setenv("LEADSCORE_API_KEY", key)
    with pytest.raises(LeadscoreError, match=r"^LEADSCORE_API_KEY is not set: the service refuses to start"), starting:
        pass


def test_the_gate_uses_the_settings_read_at_start(monkeypatch, tmp_path):
    monkeypatch.setenv("LEADSCORE_MAX_BODY_BYTES", "1000")
    with _client(monkeypatch, tmp_path, f"sqlite:///{tmp_path / 'empty.db'}") as client:  # no model: rules
        monkeypatch.setenv("LEADSCORE_MAX_BODY_BYTES", "10")  # changed after the start: not read again
        monkeypatch.setenv("LEADSCORE_API_KEY", "another-key")
        big = client.post("/score", json={"lead": {**HOT_LEAD, "job_title": "x" * 1_000}}, headers=AUTH)
        assert big.status_code == 413 and "the limit is 1,000 bytes" in big.json()["error"]
        answer = client.post("/score", json={"lead": HOT_LEAD}, headers=AUTH)
        assert answer.status_code == 200 and answer.json()["scored_by"] == "rules"
        assert client.get("/readyz").json()["mode"] == "rules"


def test_the_api_key_and_the_database_password_are_in_no_repr():
    from serving.asgi import Gate
    from serving.settings import ServiceSettings

    settings = ServiceSettings(api_key="key-s3cret-9", db_url="postgresql+psycopg://scorer:pw-s3cret-4@db/leads")
    shown = repr(settings) + str(settings) + repr(Gate.from_settings(settings))
    assert "s3cret" not in shown and "**********" in shown


# what every answer carries (issue 18): fit, intent, trend, interval, warnings

PARTS = {"fit", "intent", "quadrant", "interval", "confidence", "trend", "warnings"}
HOT_NOW = {**HOT_LEAD, "as_of": "2025-12-30T11:00:00Z"}  # scored an hour after its demo request


def test_every_answer_of_the_model_and_of_the_rules_carries_the_parts(client, tmp_path):
    no_events = {key: value for key, value in HOT_NOW.items() if key != "events"}
    leads = [HOT_NOW, {**no_events, "lead_id": "L-unknown"}, {**HOT_NOW, "lead_id": "L-idle", "events": []}]
    one = client.post("/score", json={"lead": HOT_NOW}, headers=AUTH).json()
    items = client.post("/score_batch", json={"leads": leads}, headers=AUTH).json()
    hot, unknown, idle = (item["result"] for item in items)
    for answer in (one, hot, unknown, idle):
        assert set(answer) >= PARTS, answer
    assert one["scored_by"] == hot["scored_by"] == idle["scored_by"] == "model"
    assert one["fit"]["level"] == "high" and one["intent"]["level"] == "high" and one["interval"]["low"] is not None
    assert one["interval"]["low"] <= one["probability"] <= one["interval"]["high"]
    # events left out: unknown, the rules answer and intent has no level; events []: none, the model answers
    assert unknown["scored_by"] == "rules" and unknown["intent"]["level"] is None
    assert unknown["intent"]["reason"] == unknown["fallback_reason"] and unknown["fit"]["points"] > 0
    assert unknown["interval"]["reason"] == "the rules answered: there is no probability"
    assert idle["intent"]["level"] == "low" and idle["quadrant"] == "strong fit, low intent: nurture"
    logged = {row.lead_id: row for row in _logged(tmp_path, 4)}
    assert logged["L-idle"].fit_level == "high" and logged["L-idle"].intent_level == "low"
    assert logged["L-idle"].interval_low <= logged["L-idle"].interval_high and logged["L-idle"].confidence in (
        "high",
        "low",
    )
    assert logged["L-unknown"].intent_level is None and logged["L-unknown"].interval_low is None


def test_the_trend_is_against_the_same_leads_previous_answer_and_says_when(client, tmp_path):
    first = client.post("/score", json={"lead": {**HOT_NOW, "events": []}}, headers=AUTH).json()
    assert first["trend"]["direction"] is None
    assert first["trend"]["reason"] == "no earlier model score for this lead in the score log"
    second = client.post("/score", json={"lead": HOT_NOW}, headers=AUTH).json()  # before the log is written
    assert second["trend"]["previous_score"] == first["score"] and second["trend"]["direction"] == "rising"
    assert second["trend"]["change"] == second["score"] - first["score"]
    [row, _] = sorted(_logged(tmp_path, 2), key=lambda r: r.scored_at)
    when = datetime.fromisoformat(second["trend"]["previous_at"])
    # when: the time the previous answer was given, as the score log keeps it (SQLite: UTC wall time)
    assert when == datetime.fromisoformat(row.scored_at).replace(tzinfo=UTC)
    third = client.post("/score_batch", json={"leads": [HOT_NOW]}, headers=AUTH).json()[0]["result"]
    assert third["trend"]["direction"] == "steady" and third["trend"]["previous_score"] == second["score"]


def test_what_a_lead_sent_and_the_model_did_not_read_is_in_its_warnings(client):
    odd = {
        **HOT_NOW,
        "extra": {"visits": 4},
        "events": [*HOT_NOW["events"], {"ts": "2025-12-30T08:00:00Z", "type": "fax_sent", "detail": "to Jane"}],
    }
    answer = client.post("/score", json={"lead": odd}, headers=AUTH).json()
    assert answer["warnings"] == [
        "extra.visits: not read: the served model reads no extra columns",
        "events: 1 event of a type outside the contract not read: 'fax_sent' (1)",
    ]
    assert client.post("/score", json={"lead": HOT_NOW}, headers=AUTH).json()["warnings"] == []


def test_the_openapi_document_says_what_missing_and_empty_events_mean(client):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    events = schemas["Lead"]["properties"]["events"]["description"]
    assert "Left out (or null): unknown" in events and "[] : the lead did nothing" in events
    assert set(schemas["Score"]["properties"]) >= PARTS


def test_a_worker_runs_one_blas_thread(monkeypatch, tmp_path, trained):
    """The workers are the service's parallelism (one per core): a second OpenBLAS thread in a
    worker spins after every matrix product (a batch's reasons), CPU taken from the other worker."""
    import shutil
    import threading

    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads() -> set[int]:
        return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}

    # two threads, as numpy starts on two cores, set by a thread that then ends: threadpoolctl
    # leaves OpenBLAS's limit to the first thread that set one while it lives (the service's is
    # the loop's thread in a worker; here, the test client's)
    setter = threading.Thread(target=threadpool_limits, kwargs={"limits": 2, "user_api": "blas"})
    setter.start()
    setter.join()
    if blas_threads() != {2}:
        pytest.skip(f"BLAS would not run two threads here ({sorted(blas_threads())}): nothing to limit")
    shutil.copy(trained["root"] / "mlflow.db", tmp_path / "mlflow.db")
    with _client(monkeypatch, tmp_path, f"sqlite:///{tmp_path / 'mlflow.db'}") as client:
        assert client.post("/score_batch", json={"leads": [HOT_LEAD]}, headers=AUTH).status_code == 200
        assert blas_threads() == {1}
