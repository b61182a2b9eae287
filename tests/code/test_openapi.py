"""The OpenAPI document the service serves: valid OpenAPI 3.0, derived from the service's pydantic
models (every field, nullable where the model allows null), readable schema names, examples from
serving/examples/."""

from __future__ import annotations

import json
import types
import typing

import pytest
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV30SpecValidator

from serving.openapi import NULL, Docs, oas30
from tests.conftest import PROJECT


@pytest.fixture(scope="module")
def document() -> dict:
    from serving.service import LeadScoring

    docs = Docs(LeadScoring)
    return json.loads(docs.body(docs.limits(None)))


def _walk(node):
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def test_the_document_is_valid_openapi_3_0(document):
    assert document["openapi"] == "3.0.3"
    validate(document, cls=OpenAPIV30SpecValidator)
    assert not [n for n in _walk(document) if isinstance(n, dict) and n.get("type") == "null"]  # a 3.1 idiom
    assert not [n for n in _walk(document) if isinstance(n, dict) and isinstance(n.get("type"), list)]


def test_title_version_description_and_the_key(document):
    from importlib.metadata import version

    info = document["info"]
    assert info["title"] == "leadscore" and info["version"] == version("leadscore") != "None"
    assert "Authorization: Bearer" in info["description"] and "Authorize" in info["description"]
    assert "slack" not in json.dumps(document).lower() and "twitter" not in json.dumps(document).lower()
    assert document["security"] == [{"bearer": []}]
    for path in ("/readyz", "/livez", "/healthz"):
        assert document["paths"][path]["get"]["security"] == []  # the probes need no key


def test_schemas_keep_their_models_names(document):
    names = set(document["components"]["schemas"])
    wanted = {"Lead", "Event", "Contact", "Score", "Reason", "BatchItem", "Decision", "FeedbackReceipt", "Error"}
    assert wanted | {"ScoreRequest", "ScoreBatchRequest", "FeedbackRequest", "Readiness"} <= names
    assert not [n for n in names if "IODescriptor" in n or "__" in n]


def _allows_null(annotation) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in typing.get_args(
        annotation
    )


def test_every_answer_field_is_there_and_nullable_exactly_where_the_model_allows_null(document):
    from serving.schemas import Score

    properties = document["components"]["schemas"]["Score"]["properties"]
    assert set(properties) == set(Score.model_fields)  # a field added to the answer appears by itself
    for name, field in Score.model_fields.items():
        schema = properties[name]
        nullable = schema.get("nullable") is True or NULL in schema.get("anyOf", [])
        assert nullable == _allows_null(field.annotation), name
    for name in ("probability", "score", "threshold", "model_version"):  # null when the rules answer
        assert properties[name]["nullable"] is True


def test_each_request_example_is_the_file_and_fits_its_schema(document):
    for path in ("/score", "/score_batch", "/feedback"):
        content = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        file = PROJECT / "serving" / "examples" / f"{path.strip('/')}.json"
        assert content["example"] == json.loads(file.read_text())
        validator = OAS30Validator({**content["schema"], "components": document["components"]})
        assert not [e.message for e in validator.iter_errors(content["example"])], path


def test_each_200_example_is_a_real_answer_that_fits_its_schema(document):
    for path in ("/score", "/score_batch", "/feedback"):
        content = document["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]
        file = PROJECT / "serving" / "examples" / "answers" / f"{path.strip('/')}.json"
        assert content["example"] == json.loads(file.read_text())
        assert '"string"' not in file.read_text()  # not a placeholder
        validator = OAS30Validator({**content["schema"], "components": document["components"]})
        assert not [e.message for e in validator.iter_errors(content["example"])], path


def test_each_error_answer_shows_the_services_own_wording(document):
    """/docs shows what a refusal looks like (one {"error": ...} object), never a placeholder; the
    408 of a slow body and the 415 of a body not sent as JSON are documented too."""
    for path in ("/score", "/score_batch", "/feedback"):
        responses = document["paths"][path]["post"]["responses"]
        assert {"400", "401", "408", "413", "415", "422"} <= set(responses), path
        for code, response in responses.items():
            example = response["content"]["application/json"]["example"]
            if code != "200":
                assert set(example) == {"error"} and example["error"] not in ("", "string"), (path, code)


def test_the_rules_of_the_validation_are_stated(document):
    """Ids, times and free texts carry the patterns the service checks (core.wire), the batch its
    maxItems, a decision its reason codes and which decisions need a reason or take none."""
    from core.decisions import NEEDS_REASON, REASONS
    from core.wire import ID_PATTERN, TEXT_PATTERN, TIME_PATTERN

    schemas = document["components"]["schemas"]
    assert schemas["ScoreBatchRequest"]["properties"]["leads"]["maxItems"] == 1_000
    assert schemas["ScoreBatchRequest"]["additionalProperties"] is False
    lead = schemas["Lead"]["properties"]
    assert lead["lead_id"]["pattern"] == lead["account_id"]["pattern"] == ID_PATTERN
    assert lead["created_at"]["pattern"] == lead["as_of"]["pattern"] == TIME_PATTERN and "format" not in lead["as_of"]
    assert lead["job_title"]["pattern"] == schemas["Event"]["properties"]["detail"]["pattern"] == TEXT_PATTERN
    assert lead["company_size"]["type"] == "integer" and lead["company_size"]["minimum"] == 0
    decision = schemas["Decision"]
    assert decision["properties"]["reason"]["enum"] == [*REASONS, None]
    accepted, needing = decision["anyOf"]
    assert accepted["properties"]["reason"] == NULL and "accepted" in accepted["properties"]["decision"]["enum"]
    assert needing["properties"]["decision"]["enum"] == list(NEEDS_REASON) and needing["required"] == ["reason"]
    validator = OAS30Validator({"$ref": "#/components/schemas/Decision", "components": document["components"]})
    base = {"feedback_id": "f", "lead_id": "L", "decided_at": "2026-01-02T10:30:00Z"}
    assert validator.is_valid({**base, "decision": "rejected", "reason": "no_budget"})
    for wrong in ({"decision": "accepted", "reason": "bad_fit"}, {"decision": "rejected"}, {"decision": "recycled"}):
        assert not validator.is_valid({**base, **wrong}), wrong


def test_the_document_follows_the_running_services_limits_and_codes():
    from serving.service import LeadScoring

    docs = Docs(LeadScoring)
    limits = {**docs.limits(None), "max_leads": 50, "max_events": 300, "max_contacts": 20}
    rules = {"reasons": ["price"], "require_reasons": False}
    schemas = json.loads(docs.body(limits, rules))["components"]["schemas"]
    assert schemas["ScoreBatchRequest"]["properties"]["leads"]["maxItems"] == 50
    assert schemas["Lead"]["properties"]["events"]["maxItems"] == schemas["Contact"]["properties"]["events"]["maxItems"]
    assert schemas["Lead"]["properties"]["events"]["maxItems"] == 300
    assert schemas["Lead"]["properties"]["contacts"]["maxItems"] == 20
    assert schemas["Decision"]["properties"]["reason"]["enum"] == ["price", None]
    assert "required" not in schemas["Decision"]["anyOf"][1]  # reasons not required by this contract


def test_errors_are_documented_as_one_object(document):
    assert document["components"]["schemas"]["Error"]["required"] == ["error"]
    for path in ("/score", "/score_batch", "/feedback"):
        responses = document["paths"][path]["post"]["responses"]
        assert {"400", "401", "413", "422", "503", "504"} <= set(responses)
    assert "409" in document["paths"]["/feedback"]["post"]["responses"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            {"anyOf": [{"type": "number"}, {"type": "null"}], "title": "P"},
            {"type": "number", "title": "P", "nullable": True},
        ),
        ({"anyOf": [{"$ref": "#/x/S"}, {"type": "null"}]}, {"anyOf": [{"$ref": "#/x/S"}, NULL]}),
        (
            {"anyOf": [{"enum": ["up", "down"], "type": "string"}, {"type": "null"}]},
            {"enum": ["up", "down", None], "type": "string", "nullable": True},
        ),
        ({"const": "a"}, {"enum": ["a"]}),
        ({"type": "number", "exclusiveMinimum": 0}, {"type": "number", "minimum": 0, "exclusiveMinimum": True}),
        ({"$ref": "#/x/S", "description": "d"}, {"allOf": [{"$ref": "#/x/S"}], "description": "d"}),
        (
            {"type": "object", "properties": {"const": {"type": "string"}}},
            {"type": "object", "properties": {"const": {"type": "string"}}},
        ),
        ({"examples": [1, 2], "type": "integer"}, {"example": 1, "type": "integer"}),
    ],
)
def test_json_schema_becomes_openapi_3_0(given, expected):
    assert oas30(given) == expected
