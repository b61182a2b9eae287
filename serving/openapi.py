"""The scoring API's OpenAPI document (`/openapi.json`) and its Swagger UI page (`/docs`).

The document is OpenAPI 3.0.3, built from the service's own pydantic models (each API's request
model and the answer its method is annotated with), so a field added to a model appears in it
with its description, bounds and whether it may be null. JSON Schema's `anyOf [..., {"type":
"null"}]` (what pydantic writes) becomes 3.0's `nullable: true`; every schema keeps its model's
name (Lead, Score, Decision...). The request examples are the files in `serving/examples/`.

Both need no key: they hold no data. The page's Authorize button takes the key, and the calls made
from it carry it as every client does (`Authorization: Bearer ...`). The page loads Swagger UI from
the copy BentoML ships (`/static_content/`), never from the network.
"""

from __future__ import annotations

import json
import typing
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, TypeAdapter

OPENAPI = "3.0.3"
REF = "#/components/schemas/{model}"
EXAMPLES = Path(__file__).parent / "examples"
DOCS_PATHS = ("/docs", "/openapi.json", "/docs.json", "/")  # /docs.json: BentoML's name; /: the page
ASSETS = "/static_content/"  # Swagger UI's files, as BentoML serves them
TAGS = {"score": "scoring", "score_batch": "scoring", "feedback": "feedback"}


class Error(BaseModel):
    """Every 4xx and 5xx answer: what is wrong and where (the field, the limit), never a value sent."""

    error: str


class Readiness(BaseModel):
    """The /readyz answer: who answers (the model, which version, or the rules, and why), and
    whether the feedback store is open (scoring does not need it)."""

    status: Literal["ready", "starting"]
    mode: Literal["model", "rules", "starting"]
    model_version: str | None = Field(description="The registered model version that answers; null when the rules do.")
    reason: str | None = Field(description="Why the rules answer, in a few words (details in the service log).")
    store: Literal["ready", "unavailable"]


ERRORS = {
    "400": "The body is not JSON of this shape: the message names the fields.",
    "401": "Missing or wrong API key (`Authorization: Bearer ...`).",
    "408": "The request's headers or body did not arrive in time: the connection is closed.",
    "413": "The body, or the events, contacts or leads it holds, past a limit: the message names it.",
    "415": "The body is not sent as `Content-Type: application/json`.",
    "422": "A value no store can hold (a NUL, a lone surrogate) or that retraining would refuse: the field named.",
    "503": "The service is starting or stopping (or, for /feedback, the store is down: post it again later).",
    "504": "Not answered within the request timeout.",
}
EXTRA_ERRORS = {"feedback": {"409": "The same feedback_id was stored with another body: the differing fields named."}}
# what each error looks like (the service's own wording; values sent are never repeated)
ERROR_EXAMPLES = {
    "400": "lead.company_size: Input should be a valid integer",
    "401": "missing or wrong API key (Authorization: Bearer ...)",
    "408": "request body not complete within 8 seconds of its headers",
    "409": "feedback_id 'fb-1042' was stored with another decision (differs in: decision, decided_at)",
    "413": "events: at most 50000 events per request (...; LEADSCORE_MAX_EVENTS); send less, e.g. split the batch",
    "415": "Content-Type: send application/json (the body is a JSON object)",
    "422": "reason: required for a rejected decision",
    "503": "the service is not running (starting or stopping)",
    "504": "Not answered within the request timeout.",
}

DESCRIPTION = """\
Calibrated probability that sales accepts a marketing-qualified lead, with the rule-based points
score beside it, and the sales decisions that train the next model.

**Key.** Every call but `/readyz`, `/livez` and `/healthz` needs `Authorization: Bearer <key>`
(the service's `LEADSCORE_API_KEY`). On this page: **Authorize**, paste the key, then *Try it out*.
This page and the document itself (`/openapi.json`) need no key: they hold no data.

**Limits.** A body of at most {max_bytes:,} bytes (`LEADSCORE_MAX_BODY_BYTES`). In one request, at
most {max_events:,} events (a lead's own and its contacts', over every lead of a batch;
`LEADSCORE_MAX_EVENTS`), {max_contacts:,} contacts (`LEADSCORE_MAX_CONTACTS`) and {max_leads:,}
leads in a batch (each list's own bound is in its schema). Past a limit: 413 naming it. Every
request is answered within {timeout} seconds, else 504.

**Errors.** Every 4xx answer is one JSON object, `{{"error": "..."}}`, naming the field or the limit,
never repeating a value sent.
"""


def package_version() -> str:
    """leadscore's version as installed ("0+unknown" when it is not: still a valid PEP 440 version)."""
    try:
        return installed_version("leadscore")
    except PackageNotFoundError:
        return "0+unknown"


NULL = {"enum": [None], "nullable": True}  # null, as OpenAPI 3.0 can say it beside a $ref


def _nullable(node: dict) -> dict:
    """JSON Schema's `anyOf: [X, {"type": "null"}]` as OpenAPI 3.0: X with `nullable: true` when X
    has a type of its own, else `anyOf: [X, NULL]` (3.0's `nullable` only counts beside a type:
    a validator would refuse null for a nullable $ref, and a generated client would ignore it)."""
    options = [o for o in node["anyOf"] if o != {"type": "null"}]
    rest = {k: v for k, v in node.items() if k != "anyOf"}
    if len(options) == 1 and "type" in options[0]:
        merged = {**options[0], **rest, "nullable": True}
        if "enum" in merged:  # an enum's values are checked apart from its type: null is one of them
            merged["enum"] = [*merged["enum"], None]
        return merged
    return {**rest, "anyOf": [*options, NULL]}


def oas30(node: Any) -> Any:
    """A pydantic (JSON Schema 2020-12) schema as an OpenAPI 3.0 Schema Object."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: oas30(schema) for name, schema in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = oas30(value)
        elif key in ("anyOf", "oneOf", "allOf"):
            out[key] = [oas30(schema) for schema in value]
        else:
            out[key] = value
    if "anyOf" in out and {"type": "null"} in out["anyOf"]:
        out = _nullable(out)
    if "const" in out:
        out["enum"] = [out.pop("const")]
    if "examples" in out:
        out["example"] = out.pop("examples")[0]
    for bound in ("Minimum", "Maximum"):
        value = out.get(f"exclusive{bound}")
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[bound.lower()], out[f"exclusive{bound}"] = value, True
    if "$ref" in out and len(out) > 1:  # 3.0 ignores whatever sits beside a $ref
        out = {"allOf": [{"$ref": out.pop("$ref")}], **out}
    return out


def _answer_type(api) -> Any:
    """What an API answers, as its method is annotated."""
    return typing.get_type_hints(api.func, include_extras=True)["return"]


def _example(path: Path) -> dict:
    """`{"example": ...}` from a JSON file of serving/examples/, or nothing when there is none."""
    return {"example": json.loads(path.read_text())} if path.exists() else {}


def _responses(name: str, answer: dict) -> dict:
    def error(code: str) -> dict:
        return {
            "application/json": {
                "schema": {"$ref": REF.format(model="Error")},
                "example": {"error": ERROR_EXAMPLES[code]},
            }
        }

    ok = {"schema": answer, **_example(EXAMPLES / "answers" / f"{name}.json")}  # a real answer
    return {
        "200": {"description": "The answer.", "content": {"application/json": ok}},
        **{
            code: {"description": text, "content": error(code)}
            for code, text in sorted({**ERRORS, **EXTRA_ERRORS.get(name, {})}.items())
        },
    }


def _operation(name: str, api, request: dict, answer: dict) -> dict:
    summary, stop, details = " ".join((api.doc or name).split()).partition(". ")
    return {
        "operationId": name,
        "tags": [TAGS.get(name, "scoring")],
        "summary": summary + stop.strip(),
        **({"description": details} if details else {}),
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": request, **_example(EXAMPLES / f"{name}.json")}},
        },
        "responses": _responses(name, answer),
    }


def _health() -> dict:
    text = {"text/plain": {"schema": {"type": "string"}}}
    ready = {"application/json": {"schema": {"$ref": REF.format(model="Readiness")}}}
    probe = {"tags": ["health"], "security": []}
    return {
        "/readyz": {
            "get": {
                **probe,
                "operationId": "readyz",
                "summary": "Ready to score: who answers (model or rules) and whether the feedback store is open.",
                "responses": {
                    "200": {"description": "Ready.", "content": ready},
                    "503": {"description": "Starting or stopping.", "content": ready},
                },
            }
        },
        "/livez": {
            "get": {
                **probe,
                "operationId": "livez",
                "summary": "The process is alive.",
                "responses": {"200": {"description": "Alive.", "content": text}},
            }
        },
        "/healthz": {
            "get": {
                **probe,
                "operationId": "healthz",
                "summary": "Same as /livez.",
                "responses": {"200": {"description": "Alive.", "content": text}},
            }
        },
    }


def _bounded(schemas: dict, limits: dict[str, int]) -> None:
    """The lists' `maxItems` within the running service's limits (a list's own bound may be
    larger than the limit over the whole request)."""
    lists = [("ScoreBatchRequest", "leads", "max_leads"), ("Lead", "contacts", "max_contacts")]
    lists += [("Lead", "events", "max_events"), ("Contact", "events", "max_events")]
    for model, name, limit in lists:
        field = schemas[model]["properties"][name]
        field["maxItems"] = min(field.get("maxItems", limits[limit]), limits[limit])


def _decision_rules(decision: dict, rules: dict) -> None:
    """The served contract's reason codes in the `Decision` schema, and which decisions need a
    reason (`core.decisions.NEEDS_REASON`; only when the contract requires reasons) or take none."""
    from core.decisions import NEEDS_REASON, SALES_DECISIONS

    reasons = list(rules["reasons"])
    decision["properties"]["reason"]["enum"] = [*reasons, None]
    needing = {"properties": {"decision": {"enum": list(NEEDS_REASON)}, "reason": {"enum": [*reasons, None]}}}
    if rules["require_reasons"]:
        needing = {"properties": {**needing["properties"], "reason": {"enum": reasons}}, "required": ["reason"]}
    others = [d for d in SALES_DECISIONS if d not in NEEDS_REASON]
    decision["anyOf"] = [{"properties": {"decision": {"enum": others}, "reason": NULL}}, needing]


def document(service, limits: dict[str, int], rules: dict | None = None) -> dict:
    """The OpenAPI 3.0 document of the BentoML `service` (its APIs, request models and answers),
    its description stating `limits` (max_bytes, max_events, max_contacts, max_leads, timeout),
    its `Decision` the served contract's reason `rules` (`core.decisions.context`)."""
    from core.decisions import context

    adapters = [("error", "serialization", TypeAdapter(Error)), ("ready", "serialization", TypeAdapter(Readiness))]
    for name, api in service.apis.items():
        adapters.append((f"{name} in", "validation", TypeAdapter(api.input_spec)))
        adapters.append((f"{name} out", "serialization", TypeAdapter(_answer_type(api))))
    schemas, definitions = TypeAdapter.json_schemas(adapters, ref_template=REF)
    paths = {
        api.route: {
            "post": _operation(
                name,
                api,
                oas30(schemas[(f"{name} in", "validation")]),
                oas30(schemas[(f"{name} out", "serialization")]),
            )
        }
        for name, api in service.apis.items()
    }
    components = {name: oas30(schema) for name, schema in definitions.get("$defs", {}).items()}
    _bounded(components, limits)
    _decision_rules(components["Decision"], rules or context(None))
    return {
        "openapi": OPENAPI,
        "info": {"title": "leadscore", "version": package_version(), "description": DESCRIPTION.format(**limits)},
        "tags": [
            {"name": "scoring", "description": "Scores for leads."},
            {"name": "feedback", "description": "Sales decisions, the labels of the next model."},
            {"name": "health", "description": "Probes; no key needed."},
        ],
        "paths": {**paths, **_health()},
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "The service's LEADSCORE_API_KEY."}
            },
        },
        "security": [{"bearer": []}],
    }


PAGE = f"""<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>leadscore API</title>
    <link rel="stylesheet" href="{ASSETS}swagger-ui.css">
    <link rel="icon" type="image/png" href="{ASSETS}favicon-light-32x32.png">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="{ASSETS}swagger-ui-bundle.js" charset="utf-8"></script>
    <script>
      window.ui = SwaggerUIBundle({{
        url: "/openapi.json",
        dom_id: "#swagger-ui",
        deepLinking: true,
        validatorUrl: null,
        presets: [SwaggerUIBundle.presets.apis],
        layout: "BaseLayout",
      }});
    </script>
  </body>
</html>
"""


class Docs:
    """GET or HEAD /docs (the page), /openapi.json and /docs.json (the document), / (a redirect to
    /docs), for the BentoML `service`; the document is built once per process and set of limits."""

    def __init__(self, service):
        self.service = service
        self._built: dict[tuple, bytes] = {}

    def body(self, limits: dict[str, int], rules: dict | None = None) -> bytes:
        key = (tuple(sorted(limits.items())), json.dumps(rules))
        if key not in self._built:
            self._built[key] = json.dumps(document(self.service, limits, rules)).encode()
        return self._built[key]

    @staticmethod
    def rules(instance) -> dict | None:
        """The reason codes of the model `instance` serves (None: the defaults, before it runs)."""
        from core.decisions import context

        return None if instance is None else context(instance.scorer.contract)

    def limits(self, instance) -> dict[str, int]:
        """The limits of the running service `instance` (the settings' defaults before it runs)."""
        from serving.scorer import ServingConfig
        from serving.settings import ServiceSettings

        timeout = self.service.config.get("traffic", {}).get("timeout")
        if instance is None:
            fields = ServiceSettings.model_fields
            gate = {k: fields[k].default for k in ("max_body_bytes", "max_events", "max_contacts")}
            max_leads = ServingConfig.model_fields["max_batch"].default
        else:
            gate = {"max_body_bytes": instance.gate.max_bytes, "max_events": instance.gate.max_events}
            gate["max_contacts"] = instance.gate.max_contacts
            max_leads = instance.scorer.config.max_batch
        return {
            "max_bytes": gate["max_body_bytes"],
            "max_events": gate["max_events"],
            "max_contacts": gate["max_contacts"],
            "max_leads": max_leads,
            "timeout": timeout,
        }

    async def answer(self, scope, send, instance) -> None:
        """Answer a request for one of `DOCS_PATHS`; `instance` is the running service or None."""
        path, method = scope["path"], scope.get("method")
        if method not in ("GET", "HEAD"):
            body = b'{"error": "only GET and HEAD"}'
            return await _answer(send, 405, body, "application/json", [(b"allow", b"GET, HEAD")])
        if path == "/":
            return await _answer(send, 307, b"", "text/plain", [(b"location", b"/docs")])
        if path == "/docs":
            return await _answer(send, 200, PAGE.encode(), "text/html; charset=utf-8")
        return await _answer(send, 200, self.body(self.limits(instance), self.rules(instance)), "application/json")


async def _answer(send, status: int, body: bytes, media: str, headers: list | None = None) -> None:
    head = [(b"content-type", media.encode()), (b"content-length", str(len(body)).encode()), *(headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})
