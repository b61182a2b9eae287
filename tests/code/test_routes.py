"""BentoML's request metrics labelled by route template (`other` for any path no route answers),
so no client can add series by making up paths; the request itself keeps its own path."""

from __future__ import annotations

import hashlib
import importlib
import inspect

import bentoml
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from serving.routes import OTHER, RouteLabels, RouteMetrics


async def _echo(request):
    return PlainTextResponse(request.url.path)


ROUTES = [
    Route("/score", _echo, methods=["POST"]),
    Route("/items/{item}", _echo),
    Mount("/assets", routes=[Route("/{name}", _echo)]),
]


def test_a_path_is_labelled_by_the_route_it_answers_to_else_other():
    label = RouteLabels(ROUTES)
    assert [label(p) for p in ("/score", "/items/7", "/assets/app.js", "/assets/x/y")] == [
        "/score",
        "/items/{item}",
        "/assets/{path}",
        "/assets/{path}",
    ]
    assert {label(p) for p in ("/", "/scorex", "/score/", "/made-up-1", "/items", "/%00")} == {OTHER}


def test_bentomls_request_metrics_see_the_route_and_the_app_the_real_path():
    app = Starlette(routes=ROUTES, middleware=[Middleware(RouteMetrics, namespace="routes_test")])
    client = TestClient(app)
    for i in range(50):
        assert client.get(f"/made-up-{i}").status_code == 404
    answer = client.get("/items/42")
    assert answer.status_code == 200 and answer.text == "/items/42"  # routed by its own path
    assert client.post("/score").text == "/score"
    endpoints = {
        sample.labels["endpoint"]
        for family in REGISTRY.collect()
        if family.name.startswith("routes_test_request")
        for sample in family.samples
        if "endpoint" in sample.labels
    }
    assert endpoints == {"other", "/items/{item}", "/score"}


# serving.routes puts RouteMetrics in place of BentoML's private RunnerTrafficMetricsMiddleware:
# these tests fail loudly when BentoML changes what that relies on (kept by the bentoml pin)
BENTOML_METRICS = "bentoml._internal.server.http.instruments.RunnerTrafficMetricsMiddleware"
# sha256 of the class's source in bentoml 1.4.39, the version RouteMetrics was written against
METRICS_SOURCE = "9f02a90731b1fea0797304ff3b49db64990cfd8472467d712fa8d109505200af"


def test_bentoml_still_builds_its_metrics_middleware_from_the_class_routes_replaces():
    from _bentoml_impl.server.app import ServiceAppFactory

    module, _, name = BENTOML_METRICS.rpartition(".")
    assert getattr(importlib.import_module(module), name, None) in (RouteMetrics, RouteMetrics.__mro__[1])
    built = inspect.getsource(ServiceAppFactory.middlewares.fget)
    assert f"from {module} import (\n                {name}," in built, (
        f"bentoml {bentoml.__version__} no longer looks up {name} in {module} when it builds an app: "
        "serving.routes.bound_request_labels replaces nothing, the request metrics are labelled by raw path again"
    )
    source = hashlib.sha256(inspect.getsource(RouteMetrics.__mro__[1]).encode()).hexdigest()
    assert source == METRICS_SOURCE, (
        f"{BENTOML_METRICS} changed in bentoml {bentoml.__version__}: check that it still labels by "
        "scope['path'] and calls self.app with the scope it was given, then update METRICS_SOURCE"
    )
