"""Reading requests: the budget that stops a request past its limits, the pieces of the front door
(safe redirects, 4xx bodies as one object), and what they rely on in BentoML and uvicorn (these
tests fail loudly when a new version changes it)."""

from __future__ import annotations

import inspect
import json

import pytest

from serving.intake import Budget, Limits, TooMuchWork, parse


def _lead(events: int, contacts: int = 0, per_contact: int = 0) -> dict:
    event = {"ts": "2025-12-01T10:00:00Z", "type": "page_view"}
    return {
        "lead_id": "L1",
        "events": [event] * events,
        "contacts": [
            {"lead_id": f"C{i}", "created_at": "2025-01-01T00:00:00Z", "events": [event] * per_contact}
            for i in range(contacts)
        ],
    }


def _request(body: dict, limits: Limits | None):
    from serving.service import ScoreRequest

    return parse(ScoreRequest, json.dumps(body).encode(), limits)


def test_a_request_within_its_limits_is_read_and_one_past_them_is_a_413_naming_the_limit():
    from bentoml.exceptions import BentoMLException

    limits = Limits(events=30, contacts=2, leads=10)
    assert len(_request({"lead": _lead(10, 2, 10)}, limits).lead.contacts) == 2  # 30 events, 2 contacts
    with pytest.raises(BentoMLException) as info:
        _request({"lead": _lead(11, 2, 10)}, limits)
    assert info.value.error_code == 413 and str(info.value).startswith("events: at most 30 events per request")
    with pytest.raises(BentoMLException) as info:
        _request({"lead": _lead(0, 3)}, limits)
    assert info.value.error_code == 413 and "LEADSCORE_MAX_CONTACTS" in str(info.value)
    assert len(_request({"lead": _lead(100)}, None).lead.events) == 100  # no running service: no budget


@pytest.mark.parametrize("opening", [b"[", b'{"a":', b'{"a":1,"a":'])
def test_a_body_nested_thousands_deep_is_a_400_never_a_500(opening):
    """Python's JSON reader gives up at about 1,000 levels (RecursionError): the duplicate-key
    check must leave such a body to pydantic, which refuses it in one line."""
    from bentoml.exceptions import BentoMLException

    from serving.service import ScoreRequest

    closing = b"]" if opening == b"[" else b"}"
    body = b'{"lead":' + opening * 5_000 + (b"" if opening == b"[" else b"1") + closing * 5_000 + b"}"
    with pytest.raises(BentoMLException) as info:
        parse(ScoreRequest, body, None)
    assert info.value.error_code == 400 and "recursion" in str(info.value)


def test_the_budget_stops_validation_at_the_first_event_past_the_limit():
    budget = Budget(Limits(events=3, contacts=1, leads=1))
    for _ in range(3):
        budget.charge("events")
    with pytest.raises(TooMuchWork):
        budget.charge("events")
    assert not issubclass(TooMuchWork, ValueError)  # pydantic would collect it and go on validating


def test_a_list_stops_at_its_first_bad_item():
    from bentoml.exceptions import BentoMLException

    bad = {"lead": {"lead_id": "L1", "events": [{"ts": "soon", "type": "page_view"}] * 1_000}}
    with pytest.raises(BentoMLException) as info:
        _request(bad, Limits(events=10, contacts=10, leads=10))
    assert info.value.error_code == 400 and str(info.value).count("lead.events.") == 1


def test_redirects_name_a_path_and_4xx_bodies_become_one_object():
    from serving.asgi import _one_object, _relative

    assert _relative(b"location", b"http://evil.example/score?x=1") == (b"location", b"/score?x=1")
    assert _relative(b"location", b"/docs") == (b"location", b"/docs")
    assert _relative(b"content-type", b"http://x") == (b"content-type", b"http://x")
    assert json.loads(_one_object(b'[{"error": "leads: at most 1000"}]', 413)) == {"error": "leads: at most 1000"}
    assert json.loads(_one_object(b"Not Found", 404))["error"].startswith("no such endpoint")
    assert json.loads(_one_object(b"", 400)) == {"error": "Bad Request"}
    kept = b'{"error": "x", "detail": []}'
    assert json.loads(_one_object(kept, 400)) == {"error": "x", "detail": []}


# --- what serving/intake.py and serving/asgi.py rely on --------------------------------------------


def test_bentoml_still_reads_a_request_through_its_input_models_from_http_request():
    import bentoml
    from _bentoml_impl.server.app import ServiceAppFactory

    from serving.service import LeadScoring, ScoreRequest

    source = inspect.getsource(ServiceAppFactory.api_endpoint)
    assert "method.input_spec.from_http_request(request, serde)" in source, (
        "BentoML no longer parses a request with input_spec.from_http_request: serving.intake.Intake is not called"
    )
    assert list(inspect.signature(bentoml.IODescriptor.from_http_request).parameters) == ["request", "serde"]
    assert LeadScoring.apis["score"].input_spec is ScoreRequest


def test_uvicorn_still_builds_its_auto_protocol_as_header_timeout_expects():
    from uvicorn.config import HTTP_PROTOCOLS
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    import serving.service  # noqa: F401 (its setup() puts HeaderTimeout in place)
    from serving.asgi import HeaderTimeout

    assert HTTP_PROTOCOLS["auto"] == "uvicorn.protocols.http.auto:AutoHTTPProtocol"
    from uvicorn.protocols.http import auto

    assert auto.AutoHTTPProtocol is HeaderTimeout and HeaderTimeout.__mro__[1] is HttpToolsProtocol
    hooks = ("connection_made", "on_message_begin", "on_headers_complete", "on_message_complete", "connection_lost")
    for hook in hooks:
        assert hook in vars(HttpToolsProtocol), f"uvicorn's HttpToolsProtocol has no {hook}: see serving.connections"
    init = inspect.getsource(HttpToolsProtocol.__init__)
    assert "self.loop =" in init and "self.cycle" in init and "self.transport" in init
    assert "self.connections = server_state.connections" in init
