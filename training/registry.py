"""MLflow tracking and registry: where runs go, aliases, promote, rollback (the gate: `training/gate.py`).

Default tracking store: `mlflow.db` (SQLite) in the current folder, artifacts in `mlartifacts/`
beside it; `MLFLOW_TRACKING_URI` points elsewhere (a server, a database). Models move between
`@challenger` and `@champion` aliases, never through the deprecated stages.

Every function here takes an explicit `MlflowClient` (from `connect`) and leaves MLflow's global
tracking and registry URIs alone, so two stores can be used side by side in one process (a test's
throwaway store, the service's registry). The one exception is `logging_to`, for the training run's
fluent calls.

MLflow itself (some 2,000 modules, seconds to import) comes with the first `connect`: importing
this module costs nothing, so `tracking_uri` serves the service's settings and `leadscore serve`
without it.
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from core.errors import LeadscoreError

if TYPE_CHECKING:  # MLflow comes with the first `connect`, the model's code (LightGBM) when a model is loaded
    import mlflow
    from mlflow import MlflowClient

    from training.model import LeadModel

log = logging.getLogger("leadscore.training")
CHAMPION, CHALLENGER = "champion", "challenger"
PREVIOUS = "previous_champion"  # the one earlier champion registries of leadscore 0.1 remember
HISTORY = "champion_history"  # registered model tag: the versions @champion held, oldest first
HISTORY_KEPT = 500  # versions remembered (a tag value holds at most 5,000 characters)
URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


def tracking_uri(uri: str | None = None) -> str:
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def connect(uri: str | None = None) -> MlflowClient:
    """A client for one tracking store, which also holds its model registry; MLflow's global URIs
    are left as they are."""
    uri = tracking_uri(uri)
    with collector_paused():  # the first one imports MLflow and its database store
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=uri, registry_uri=uri)


@contextmanager
def collector_paused() -> Iterator[None]:
    """No garbage collection in the block (when there was any): while thousands of modules import,
    each collection walks every object loaded so far, and none of them is garbage. A tenth of
    MLflow's import time; the objects made meanwhile are collected as usual afterwards."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# a read command gives up on a tracking server that does not answer within seconds, not minutes
HTTP_PATIENCE = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
DB_CONNECT_TIMEOUT = 5  # seconds, for a tracking database


def existing(uri: str | None = None) -> MlflowClient:
    """A client for a tracking store that must already exist and answer (the commands that read
    the registry: promote, rollback, models, score, recalibrate). A path, a folder, or a SQLite
    file that is not there is refused (MLflow would create an empty registry there); a database
    or a server that does not answer within seconds is one line (MLflow retries for minutes:
    `HTTP_PATIENCE` unless the environment says otherwise)."""
    uri = tracking_uri(uri)
    shown = _shown(uri)
    scheme = urlparse(uri).scheme
    if scheme in ("", "file") or len(scheme) == 1:  # a path (C:\ on Windows)
        raise LeadscoreError(
            f"tracking URI {shown}: a path, not a tracking store (sqlite:///PATH/mlflow.db, a database URL or http://HOST:PORT)"
        )
    if scheme.startswith(("http", "databricks")):
        for key, value in HTTP_PATIENCE.items():
            os.environ.setdefault(key, value)
    else:
        _database_answers(uri, shown)
    client = connect(uri)
    from mlflow.exceptions import MlflowException

    try:
        client.search_registered_models(max_results=1)
    except (MlflowException, OSError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise LeadscoreError(f"tracking store {shown} does not answer: {first}") from None
    return client


def _shown(uri: str) -> str:
    """The URI without its password, for messages."""
    parsed = urlparse(uri)
    if parsed.password:
        return uri.replace(f":{parsed.password}@", ":***@", 1)
    return uri


def _database_answers(uri: str, shown: str) -> None:
    """A tracking database's URI: a SQLite file that exists, any other database one that answers
    within `DB_CONNECT_TIMEOUT` seconds; else one line."""
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    try:
        parsed = make_url(uri)
        backend = parsed.get_backend_name()
    except (ArgumentError, ValueError):
        raise LeadscoreError(f"tracking URI {shown}: not a database URL nor a server's address") from None
    if backend == "sqlite":
        path = parsed.database or ""
        if path and path != ":memory:" and not Path(path).is_file():
            raise LeadscoreError(f"tracking URI {shown}: no MLflow store at {path} (leadscore train creates one)")
        return
    args = {"connect_timeout": DB_CONNECT_TIMEOUT} if backend in ("postgresql", "mysql") else {}
    try:
        engine = create_engine(parsed, connect_args=args)
        try:
            inspect(engine)
        finally:
            engine.dispose()
    except (SQLAlchemyError, ImportError, OSError) as exc:
        raise LeadscoreError(f"tracking store {shown} does not answer ({type(exc).__name__})") from None


@contextmanager
def logging_to(client: MlflowClient) -> Iterator[None]:
    """MLflow's fluent API pointed at the client's store for the block, then back as it was.

    `mlflow.pyfunc.log_model` (a logged model, its artifacts, the registered version) reads the
    global tracking and registry URIs and has no client argument, so the training run sets them
    for the length of the run (the rest of the run could use the client, but one way of logging
    reads more plainly than two). `mlflow.set_tracking_uri` and `set_registry_uri` also export
    `MLFLOW_TRACKING_URI` and `MLFLOW_REGISTRY_URI`; afterwards both globals are cleared (set to
    None) and both variables restored, so MLflow resolves its URIs as it did before the block.
    """
    import mlflow

    saved = {name: os.environ.get(name) for name in URI_VARIABLES}
    mlflow.set_tracking_uri(client.tracking_uri)
    mlflow.set_registry_uri(client.tracking_uri)  # connect() keeps the registry in the tracking store
    try:
        yield
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def experiment_id(client: MlflowClient, name: str) -> str:
    """The experiment's id, created on first use; a local SQLite store keeps artifacts beside it."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    uri = client.tracking_uri
    if uri.startswith("sqlite:///"):
        location = (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").resolve().as_uri()
    return client.create_experiment(name, artifact_location=location)


def version_of(client: MlflowClient, name: str, alias: str):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def _registered(client: MlflowClient, uri: str):
    """The model version a models:/NAME@ALIAS or models:/NAME/VERSION URI names, or None for any
    other URI (a logged model's models:/m-..., runs:/..., a path)."""
    ref = uri.removeprefix("models:/") if uri.startswith("models:/") else ""
    if "@" in ref:
        name, alias = ref.split("@", 1)
        return client.get_model_version_by_alias(name, alias)
    if "/" in ref:
        name, version = ref.split("/", 1)
        if not version.isdigit():
            raise LeadscoreError(f"cannot load model {uri}: name a version number or an @alias (no stages)")
        return client.get_model_version(name, version)
    return None


def _model_files(uri: str, client: MlflowClient) -> tuple[str, str | None]:
    """A local folder holding the model's files (the store's own folder when it is local, else a
    download) and its registered NAME/VERSION when the URI names one."""
    found = _registered(client, uri)
    if found is not None:
        source = client.get_model_version_download_uri(found.name, str(found.version))
    elif uri.startswith("models:/"):  # a logged model, models:/m-...
        source = client.get_logged_model(uri.removeprefix("models:/")).artifact_location
    elif uri.startswith("runs:/"):
        source = _run_model(client, uri)
    else:
        source = uri
    from mlflow.artifacts import download_artifacts

    local = download_artifacts(artifact_uri=source, tracking_uri=client.tracking_uri)
    return local, (f"{found.name}/{found.version}" if found is not None else None)


def _run_model(client: MlflowClient, uri: str) -> str:
    """Where runs:/RUN/NAME's files are: the run's logged model of that name (MLflow 3 keeps a
    model's files with the model, not the run), else the run's own artifacts (MLflow 2)."""
    run_id, _, name = uri.removeprefix("runs:/").partition("/")
    run = client.get_run(run_id)
    for output in run.outputs.model_outputs if run.outputs is not None else []:
        logged = client.get_logged_model(output.model_id)
        if logged.name == name.strip("/"):
            return logged.artifact_location
    return f"{run.info.artifact_uri.rstrip('/')}/{name}"


def load_pyfunc(uri: str, client: MlflowClient | None = None) -> mlflow.pyfunc.PyFuncModel:
    """The MLflow pyfunc model at `uri`: models:/NAME@ALIAS, models:/NAME/VERSION, models:/m-...,
    runs:/RUN/PATH, an artifact URI or a local folder; `client` resolves and downloads it (default
    `connect()`; not needed for a local folder)."""
    return _load(uri, client)[0]


def load_model(uri: str, client: MlflowClient | None = None) -> LeadModel:
    """The `LeadModel` inside a logged model (see `load_pyfunc` for the URIs); its `version` is
    the registered NAME/VERSION when `uri` names a registered model."""
    loaded, version = _load(uri, client)
    model = loaded.unwrap_python_model().model
    if version is not None:
        model.version = version
    return model


def _load(uri: str, client: MlflowClient | None) -> tuple[mlflow.pyfunc.PyFuncModel, str | None]:
    with collector_paused():  # MLflow's pyfunc modules, the model's code and its unpickling
        import mlflow.pyfunc
        from mlflow.exceptions import MlflowException

        try:
            if urlparse(uri).scheme in ("", "file"):  # a folder: no store to ask (nor to create)
                local, version = uri, None
            else:
                local, version = _model_files(uri, client or connect())
            # MLflow's own check of the model's requirements maps every file of every installed
            # package to its modules first (0.4-0.7 s a process); `warn_mismatches` reads the pins
            loaded = mlflow.pyfunc.load_model(local, suppress_warnings=True)
        except (MlflowException, OSError) as exc:
            raise LeadscoreError(f"cannot load model {uri}: {str(exc).splitlines()[0]}") from None
    warn_mismatches(uri, local, loaded.metadata.flavors.get("python_function", {}).get("python_version"))
    return loaded, version


def mismatches(folder: str | Path, python: str | None) -> list[str]:
    """What the model in `folder` was saved with and this environment lacks: each NAME==VERSION pin
    of its requirements.txt (`training.pyfunc.requirements`) not installed at that version, and
    Python when its major.minor differs; empty when everything matches."""
    from importlib.metadata import PackageNotFoundError, version
    from platform import python_version

    found = []
    path = Path(folder) / "requirements.txt"
    for line in path.read_text().splitlines() if path.is_file() else []:
        name, _, pinned = (part.split(";")[0].strip() for part in line.partition("=="))
        if not pinned:  # not a pin: nothing to compare with
            continue
        try:
            installed = version(name.split("[")[0])
        except PackageNotFoundError:
            installed = "not installed"
        if installed != pinned:
            found.append(f"{name}=={pinned} (here {installed})")
    if python and python.split(".")[:2] != python_version().split(".")[:2]:
        found.append(f"python {python} (here {python_version()})")
    return found


def warn_mismatches(uri: str, folder: str | Path, python: str | None) -> None:
    """One warning naming what `mismatches` finds, if anything."""
    found = mismatches(folder, python)
    if found:
        log.warning("model %s was saved in another environment: %s; its answers may differ", uri, ", ".join(found))


def run_id_of(uri: str, client: MlflowClient) -> str | None:
    """The id of the run that logged the model at `uri`, when the store knows it."""
    from mlflow.exceptions import MlflowException

    try:
        found = _registered(client, uri)
        if found is not None:
            return found.run_id
        if uri.startswith("models:/"):
            return client.get_logged_model(uri.removeprefix("models:/")).source_run_id
    except (MlflowException, LeadscoreError):
        return None
    return uri.removeprefix("runs:/").split("/", 1)[0] if uri.startswith("runs:/") else None


def champion_history(client: MlflowClient, name: str) -> list[str]:
    """The versions `@champion` has held, oldest first, ending with the current champion (if
    any): what `promote` recorded, with a champion set by other means (the MLflow UI) added."""
    from mlflow.exceptions import MlflowException

    try:
        tags = client.get_registered_model(name).tags
    except MlflowException:
        raise LeadscoreError(f"no registered model named {name}") from None
    legacy = [tags[PREVIOUS]] if tags.get(PREVIOUS) else []  # a registry from before the history
    history = tags[HISTORY].split(",") if tags.get(HISTORY) else legacy
    current = version_of(client, name, CHAMPION)
    if current is not None and (not history or history[-1] != str(current.version)):
        history.append(str(current.version))  # an int from some stores
    return history


def _record(client: MlflowClient, name: str, history: list[str]) -> None:
    client.set_registered_model_tag(name, HISTORY, ",".join(history[-HISTORY_KEPT:]))


def promote(client: MlflowClient, name: str, version: str) -> str | None:
    """Make `version` the champion, on top of the champion history `rollback` steps back through;
    returns the version it replaced (None when there was none, or it is the champion already)."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_model_version(name, str(version))
    except MlflowException:
        raise LeadscoreError(f"model {name} has no version {version}") from None
    history = champion_history(client, name)
    current = version_of(client, name, CHAMPION)
    current_version = str(current.version) if current is not None else None
    if current_version == str(version):
        return None
    client.set_registered_model_alias(name, CHAMPION, str(version))
    _record(client, name, [*history, str(version)])
    return current_version


def _earlier(client: MlflowClient, name: str) -> tuple[list[str], str | None]:
    """The champion history below the current champion, versions deleted since left out, and
    the current champion."""
    history = champion_history(client, name)
    current = version_of(client, name, CHAMPION)
    if current is not None:
        history.pop()  # the current champion
    while history and not _exists(client, name, history[-1]):
        history.pop()
    return history, str(current.version) if current is not None else None


def earlier_champion(client: MlflowClient, name: str) -> str | None:
    """The version `rollback` would move `@champion` to, if any."""
    history, _ = _earlier(client, name)
    return history[-1] if history else None


def rollback(client: MlflowClient, name: str) -> tuple[str, str | None]:
    """Move `@champion` one step back through its history (twice: two versions back), past any
    version deleted since; returns (from, to), to None when there is no earlier champion (nothing
    moves)."""
    history, current = _earlier(client, name)
    if current is None:
        raise LeadscoreError(f"model {name} has no @champion to roll back (promote a version first)")
    if not history:
        return current, None
    client.set_registered_model_alias(name, CHAMPION, history[-1])
    _record(client, name, history)
    return current, history[-1]


def _exists(client: MlflowClient, name: str, version: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_model_version(name, version)
    except MlflowException:
        return False
    return True
