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
