"""BentoML's request metrics labelled by route, never by the path a client sent.

BentoML's `RunnerTrafficMetricsMiddleware` (the outermost middleware of a BentoML 1.4 service)
labels `bentoml_service_request_total`, `_request_duration_seconds` and `_request_in_progress`
with the request's raw path: every made-up path, answered 401 or 404, added series to every
worker's metrics files. 3,000 such requests took /metrics from 334 KB to 23.7 MB and a scrape
from 0.2 s to 18.4 s. `RouteMetrics` gives BentoML's middleware the route template the path
answers to instead (`/score`, `/assets/{path}`; taken from the app's own routes, so the set is
fixed when the app is built) and `other` for every other path; the request itself goes on with
its real path.

BentoML offers no public way to label its metrics otherwise, so `bound_request_labels` puts
`RouteMetrics` in place of BentoML's class in its private module (BentoML looks it up there each
time it builds an app's middleware); tests/code/test_routes.py fails loudly when BentoML changes
what this relies on.
"""

from __future__ import annotations

from bentoml._internal.server.http import instruments
from starlette.routing import Mount

OTHER = "other"  # the label of every path no route answers
REAL_PATH = "leadscore.path"  # the scope key that carries the request's own path past the middleware


class RouteLabels:
    """The route template each path answers to, from a Starlette app's routes; `other` for a
    path no route answers."""

    def __init__(self, routes):
        self.patterns = []
        for route in routes:
            regex, path = getattr(route, "path_regex", None), getattr(route, "path", None)
            if regex is None or path is None:
                continue
            self.patterns.append((regex, f"{path}/{{path}}" if isinstance(route, Mount) else path))
        self.exact = {label for _, label in self.patterns if "{" not in label}

    def __call__(self, path: str) -> str:
        if path in self.exact:
            return path
        for regex, label in self.patterns:
            if regex.match(path):
                return label
        return OTHER


class RouteMetrics(instruments.RunnerTrafficMetricsMiddleware):
    """BentoML's request metrics middleware, shown the route template instead of the path.

    Relies on BentoML's `RunnerTrafficMetricsMiddleware(app, **options)` calling `self.app` with
    the scope it was given, and reading the label from `scope["path"]`."""

    def __init__(self, app, **options):
        super().__init__(_RealPath(app), **options)
        self._labels: tuple[object, RouteLabels] | None = None

    async def __call__(self, scope, receive, send) -> None:
        app = scope.get("app")
        if scope["type"] in ("http", "websocket") and app is not None:
            if self._labels is None or self._labels[0] is not app:
                self._labels = (app, RouteLabels(getattr(app, "routes", ())))
            label = self._labels[1](scope["path"])
            if label != scope["path"]:
                scope = {**scope, "path": label, REAL_PATH: scope["path"]}
        await super().__call__(scope, receive, send)


class _RealPath:
    """The app behind `RouteMetrics`: the request goes on with its own path."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if REAL_PATH in scope:
            scope = {**scope, "path": scope[REAL_PATH]}
            del scope[REAL_PATH]
        await self.app(scope, receive, send)


def bound_request_labels() -> None:
    """Have BentoML build its request metrics middleware as `RouteMetrics` (before it builds the
    app; see the module's docstring)."""
    instruments.RunnerTrafficMetricsMiddleware = RouteMetrics
