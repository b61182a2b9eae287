"""The service's front door through its ASGI app: the API docs open without the key, ambiguous or
misleading requests are refused, every 4xx is one {"error": ...} object, /readyz shows no paths,
and the work one request may ask for is bounded (413 naming the limit)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import AUTH, KEY, _client

LEAD = {"lead_id": "L-door", "job_title": "VP of Sales", "company_size": 800, "industry": "software"}


def _events(n: int, day: int = 1) -> list[dict]:
    return [{"ts": f"2025-12-{day:02d}T10:{i // 60 % 60:02d}:{i % 60:02d}Z", "type": "page_view"} for i in range(n)]


def _contacts(n: int, events: int) -> list[dict]:
    return [{"lead_id": f"C{i}", "created_at": "2025-01-01T00:00:00Z", "events": _events(events)} for i in range(n)]


def _one_error(response) -> str:
    """The 4xx body's message: the body must be exactly one object with an "error" text."""
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str), response.text
    return body["error"]


# --- the API docs ---------------------------------------------------------------------------------


def test_docs_and_the_document_open_without_the_key_and_calls_still_need_it(client):
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/static_content/swagger-ui-bundle.js" in page.text and "https://" not in page.text  # offline
    assert client.get("/static_content/swagger-ui-bundle.js").status_code == 200  # Swagger UI, no key
    document = client.get("/openapi.json").json()
    assert client.get("/docs.json").json() == document  # BentoML's name for it, same document
    assert document["info"]["title"] == "leadscore" and document["info"]["version"] == _version()
    assert {"/score", "/score_batch", "/feedback", "/readyz"} <= set(document["paths"])
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "The service's LEADSCORE_API_KEY.",
    }
    assert client.post("/score", json={"lead": LEAD}).status_code == 401
    home = client.get("/", follow_redirects=False)
    assert home.status_code == 307 and home.headers["location"] == "/docs"


def _version() -> str:
    from importlib.metadata import version

    return version("leadscore")


def test_the_document_states_the_running_services_limits(monkeypatch, tmp_path):
    monkeypatch.setenv("LEADSCORE_MAX_EVENTS", "1234")
    with _client(monkeypatch, tmp_path, f"sqlite:///{tmp_path / 'empty.db'}") as client:
        description = client.get("/openapi.json").json()["info"]["description"]
    assert "at\nmost 1,234 events" in description or "at most 1,234 events" in " ".join(description.split())


def test_a_rule_answer_and_a_model_answer_validate_against_the_document(client):
    from openapi_schema_validator import OAS30Validator

    document = client.get("/openapi.json").json()
    schema = document["paths"]["/score"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    validator = OAS30Validator({**schema, "components": document["components"]})
    model = client.post("/score", json={"lead": {**LEAD, "events": _events(3)}}, headers=AUTH).json()
    rules = client.post("/score", json={"lead": LEAD}, headers=AUTH).json()  # no events: the rules answer
    assert model["scored_by"] == "model" and rules["scored_by"] == "rules" and rules["probability"] is None
    for answer in (model, rules):
        assert not [e.message for e in validator.iter_errors(answer)]
    batch = document["paths"]["/score_batch"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    items = client.post("/score_batch", json={"leads": [LEAD, {"lead_id": ""}]}, headers=AUTH).json()
    assert items[1]["result"] is None  # a lead that did not validate: null in its slot
    assert not [e.message for e in OAS30Validator({**batch, "components": document["components"]}).iter_errors(items)]
    ready = client.get("/readyz").json()
    readiness = {"$ref": "#/components/schemas/Readiness", "components": document["components"]}
    assert not [e.message for e in OAS30Validator(readiness).iter_errors(ready)]


# --- requests that are ambiguous or misleading ------------------------------------------------------


def test_two_authorization_headers_are_refused(client):
    for headers in ([("authorization", "Bearer wrong"), ("authorization", f"Bearer {KEY}")], [*AUTH.items()] * 2):
        response = client.post("/score", json={"lead": LEAD}, headers=headers)
        assert response.status_code == 400 and "authorization: sent more than once" in _one_error(response)
    assert client.post("/score", json={"lead": LEAD}, headers=AUTH).status_code == 200


def test_a_redirect_never_names_the_host_the_client_sent(client):
    headers = {**AUTH, "host": "evil.example"}
    response = client.post("/score/", json={"lead": LEAD}, headers=headers, follow_redirects=False)
    assert response.status_code == 307 and response.headers["location"] == "/score"  # a path, not a URL
    assert client.post("/score/", json={"lead": LEAD}, headers=AUTH).status_code == 200  # a client following it


def test_readyz_gives_a_short_reason_without_paths_and_answers_only_get_and_head(monkeypatch, tmp_path):
    monkeypatch.setenv("LEADSCORE_MODEL_URI", str(tmp_path / "models" / "missing"))  # a folder that is not there
    with _client(monkeypatch, tmp_path, f"sqlite:///{tmp_path / 'empty.db'}") as client:
        ready = client.get("/readyz").json()
        assert ready["mode"] == "rules" and ready["reason"].startswith("model not loaded: ")
        assert str(tmp_path) not in json.dumps(ready) and "/" not in ready["reason"] and len(ready["reason"]) < 80
        assert client.head("/readyz").status_code == 200
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            response = client.request(method, "/readyz")
            assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD"
            assert "GET and HEAD" in _one_error(response)


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/score", b"{not json", 400),
        ("POST", "/score", json.dumps({"lead": {"lead_id": "x", "company_size": -1}}).encode(), 400),
        ("POST", "/score", json.dumps({"lead": {"lead_id": "x", "job_title": "a\x00b"}}).encode(), 422),
        ("POST", "/score_batch", json.dumps({"leads": [{"lead_id": str(i)} for i in range(1_001)]}).encode(), 413),
        ("POST", "/feedback", json.dumps({"feedback": {"lead_id": "x"}}).encode(), 422),
        ("GET", "/score", b"", 405),
        ("GET", "/no-such-endpoint", b"", 404),
        ("POST", "/score", b'{"lead": {"lead_id": "x"}}', 401),
    ],
)
def test_every_4xx_is_one_object_with_an_error(client, method, path, body, status):
    headers = {"content-type": "application/json", **({} if status == 401 else AUTH)}
    response = client.request(method, path, content=body, headers=headers)
    assert response.status_code == status and _one_error(response)


def test_a_bad_field_is_named_in_one_line_without_the_value(client):
    lead = {"lead_id": "x", "job_title": "Jane Doe <jane@example.com>", "company_size": -1}
    error = _one_error(client.post("/score", json={"lead": lead}, headers=AUTH))
    assert error.startswith("lead.company_size: ") and "\n" not in error and "jane" not in error.lower()


# --- the work one request may ask for ---------------------------------------------------------------


def test_events_past_the_limit_are_a_413_naming_it(monkeypatch, tmp_path):
    monkeypatch.setenv("LEADSCORE_MAX_EVENTS", "300")
    monkeypatch.setenv("LEADSCORE_MAX_CONTACTS", "20")
    with _client(monkeypatch, tmp_path, f"sqlite:///{tmp_path / 'empty.db'}") as client:
        fits = {**LEAD, "events": _events(100), "contacts": _contacts(2, 100)}  # 300 events, 2 contacts
        assert client.post("/score", json={"lead": fits}, headers=AUTH).status_code == 200
        over = {**LEAD, "events": _events(101), "contacts": _contacts(2, 100)}
        response = client.post("/score", json={"lead": over}, headers=AUTH)
        assert response.status_code == 413
        assert _one_error(response).startswith("events: at most 300 events per request") and (
            "LEADSCORE_MAX_EVENTS" in response.text
        )
        batch = [{**LEAD, "lead_id": f"L{i}", "events": _events(50)} for i in range(7)]  # 350 events in all
        response = client.post("/score_batch", json={"leads": batch}, headers=AUTH)
        assert response.status_code == 413 and "events: at most 300" in _one_error(response)
        many = [{**LEAD, "lead_id": f"L{i}", "contacts": _contacts(3, 0)} for i in range(7)]  # 21 contacts in all
        response = client.post("/score_batch", json={"leads": many}, headers=AUTH)
        assert response.status_code == 413 and "LEADSCORE_MAX_CONTACTS" in _one_error(response)


def test_the_largest_lead_accepted_is_scored(client):
    """50,000 events (the default limit): 5,000 of its own and 45 contacts of 1,000: answered."""
    lead = {**LEAD, "events": _events(5_000), "contacts": _contacts(45, 1_000)}
    response = client.post("/score", json={"lead": lead}, headers=AUTH)
    assert response.status_code == 200 and response.json()["scored_by"] == "model"
    lead["contacts"].append({"lead_id": "one-more", "created_at": "2025-01-01T00:00:00Z", "events": _events(1)})
    response = client.post("/score", json={"lead": lead}, headers=AUTH)
    assert response.status_code == 413 and "events: at most 50000" in _one_error(response)


# --- the documented limits, exactly ---------------------------------------------------------------


def test_a_batch_of_the_documented_1000_leads_is_answered_and_1001_are_a_413(client):
    leads = [{**LEAD, "lead_id": f"L{i}", "events": _events(1)} for i in range(1_000)]
    response = client.post("/score_batch", json={"leads": leads, "reasons": False}, headers=AUTH)
    assert response.status_code == 200 and len(response.json()) == 1_000
    assert all(item["result"]["scored_by"] == "model" for item in response.json())
    response = client.post("/score_batch", json={"leads": [*leads, LEAD], "reasons": False}, headers=AUTH)
    assert response.status_code == 413 and _one_error(response).startswith("leads: at most 1000 leads per batch")


def test_a_batch_at_each_limit_is_answered_and_one_more_is_a_413(monkeypatch, tmp_path):
    monkeypatch.setenv("LEADSCORE_MAX_EVENTS", "40")
    monkeypatch.setenv("LEADSCORE_MAX_CONTACTS", "6")
    with _client(monkeypatch, tmp_path, f"sqlite:///{tmp_path / 'empty.db'}") as client:

        def batch(events: int, contacts: int) -> int:
            leads = [{**LEAD, "lead_id": f"L{i}", "events": _events(events)} for i in range(4)]
            leads.append({**LEAD, "lead_id": "L-account", "contacts": _contacts(contacts, 0), "events": []})
            response = client.post("/score_batch", json={"leads": leads}, headers=AUTH)
            if response.status_code == 413:
                return _one_error(response)
            assert response.status_code == 200 and all(i["error"] is None for i in response.json()), response.text
            return "answered"

        assert batch(10, 6) == "answered"  # 40 events, 6 contacts: each limit exactly
        assert batch(10, 7).startswith("contacts: at most 6 contacts per request")
        assert batch(11, 6).startswith("events: at most 40 events per request")


# --- strict requests --------------------------------------------------------------------------------


@pytest.mark.parametrize("media", [None, "text/plain", "application/x-www-form-urlencoded", "application/jsonx"])
def test_a_body_that_is_not_declared_json_is_a_415(client, media):
    headers = {**AUTH, **({"content-type": media} if media else {})}
    response = client.post("/score", content=json.dumps({"lead": LEAD}).encode(), headers=headers)
    assert response.status_code == 415 and _one_error(response).startswith("Content-Type: send application/json")
    headers["content-type"] = "application/json; charset=utf-8"
    assert client.post("/score", content=json.dumps({"lead": LEAD}).encode(), headers=headers).status_code == 200


def test_a_key_sent_twice_is_a_400_naming_its_path_not_its_values(client):
    body = b'{"lead": {"lead_id": "L-1", "events": [{"ts": "2025-12-01T10:00:00Z", "type": "page_view",'
    body += b' "type": "secret-7731"}]}}'
    response = client.post("/score", content=body, headers={**AUTH, "content-type": "application/json"})
    assert response.status_code == 400 and _one_error(response).startswith("lead.events[0].type: sent more than once")
    assert "7731" not in response.text
    twice = b'{"feedback": {"feedback_id": "f", "lead_id": "L", "decision": "accepted", "decision": "rejected"}}'
    response = client.post("/feedback", content=twice, headers={**AUTH, "content-type": "application/json"})
    assert response.status_code == 400 and _one_error(response).startswith("feedback.decision: sent more than once")


SECRET = "Jane.Doe-4471"  # in every bad value below: no answer and no log line may repeat it
BAD_LEADS = [
    {"lead_id": f"{SECRET}\u202e"},
    {"lead_id": f" {SECRET}\x85"},
    {"company_size": SECRET},
    {"company_size": True},
    {"created_at": f"{SECRET} 2025"},
    {"created_at": "0001-01-01T00:00:00+14:00"},
    {"as_of": "2999-01-01T00:00:00Z"},
    {"industry": 4471},
    {"job_title": f"{SECRET}\x00"},
    {"events": [{"ts": SECRET, "type": "page_view"}]},
    {"events": [{"ts": "2025-12-01T10:00:00Z", "type": f"{SECRET}\x00"}]},
    {"extra": {"visits": SECRET * 30}},
    {"extra": {"visits": [SECRET]}},
    {"contacts": [{"lead_id": SECRET, "created_at": SECRET}]},
]
BAD_DECISIONS = [
    {"decision": SECRET},
    {"reason": SECRET},
    {"decision": "accepted", "reason": "bad_fit"},
    {"decided_at": f"{SECRET}"},
    {"decided_at": "0001-01-01T00:00:00+14:00"},
    {"note": f"{SECRET}\x00"},
    {"lead_id": f"{SECRET}\x1b"},
    {"rep_id": f"{SECRET}\u2066"},
]


def test_no_refusal_repeats_a_value_sent_in_the_answer_or_the_log(client, caplog):
    caplog.set_level("DEBUG")
    answers = []
    for fields in BAD_LEADS:
        response = client.post("/score", json={"lead": {**LEAD, **fields}}, headers=AUTH)
        assert response.status_code in (400, 422), (fields, response.text)
        answers.append(_one_error(response))
        batch = client.post("/score_batch", json={"leads": [{**LEAD, **fields}]}, headers=AUTH).json()
        assert batch[0]["result"] is None and batch[0]["error"]
        answers.append(batch[0]["error"])
    base = {"feedback_id": "crm-1", "lead_id": "L-door", "decision": "rejected", "reason": "no_budget"}
    for fields in BAD_DECISIONS:
        feedback = {**base, "decided_at": "2026-01-02T10:30:00Z", **fields}
        response = client.post("/feedback", json={"feedback": feedback}, headers=AUTH)
        assert response.status_code in (400, 422), (fields, response.text)
        answers.append(_one_error(response))
    response = client.post("/score_batch", json={"leads": [LEAD], "reasons": SECRET}, headers=AUTH)
    answers.append(_one_error(response))
    for answer in answers:
        assert "4471" not in answer and "\n" not in answer and answer.split(":")[0], answer
    assert "4471" not in caplog.text and "TzInfo" not in caplog.text
    assert "reason: only for a rejected or recycled decision" in answers[len(BAD_LEADS) * 2 + 2]
