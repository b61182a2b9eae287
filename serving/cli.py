"""`leadscore serve`: the BentoML scoring service on this machine (127.0.0.1:3000 by default)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer


def serve(
    host: Annotated[
        str, typer.Option(help="Interface to bind; 0.0.0.0 only behind a firewall or proxy.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 3000,
    model_uri: Annotated[
        str | None,
        typer.Option(
            help="MLflow model to serve (default: $LEADSCORE_MODEL_URI, else models:/leadscore@champion).",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1, max=64, help="Worker processes, each with its own copy of the model (default: one per core)."
        ),
    ] = None,
) -> None:
    """Serve /score, /score_batch, /feedback, /healthz and /readyz (needs LEADSCORE_API_KEY)."""
    from core.errors import LeadscoreError
    from core.store import database_url
    from serving.metrics import start_home
    from serving.settings import load_settings

    # the option, else LEADSCORE_MODEL_URI, else the default; a missing key or a bad value: one line, before bentoml
    settings = load_settings(**({"model_uri": model_uri} if model_uri else {}))
    bentoml = shutil.which("bentoml", path=str(Path(sys.executable).parent)) or shutil.which("bentoml")
    if bentoml is None:
        raise LeadscoreError("bentoml is not installed in this environment (run `make install`)")
    env = {**os.environ, "LEADSCORE_MODEL_URI": settings.model_uri, "BENTOML_DO_NOT_TRACK": "true"}
    env["MLFLOW_TRACKING_URI"] = settings.tracking_uri  # resolved here: the workers run in --working-dir
    env["LEADSCORE_DB_URL"] = database_url(settings.db_url)  # likewise: ./leadscore.db is the caller's folder
    env["BENTOML_HOME"] = str(start_home())  # this start's own metrics folder (serving/metrics.py)
    env.setdefault("MLFLOW_REGISTRY_URI", env["MLFLOW_TRACKING_URI"])
    if workers is not None:
        options = env.get("BENTOML_CONFIG_OPTIONS", "")
        env["BENTOML_CONFIG_OPTIONS"] = f"{options} services.leadscore.workers={workers}".strip()
    root = str(Path(__file__).resolve().parents[1])
    os.execve(
        bentoml,
        [bentoml, "serve", "serving.service:LeadScoring", "--host", host, "--port", str(port), "--working-dir", root],
        env,
    )


def register(app: typer.Typer) -> None:
    app.command()(serve)
