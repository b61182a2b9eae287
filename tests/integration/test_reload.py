"""The service follows @champion: a moved alias, or a model that becomes loadable, is picked up."""

from __future__ import annotations

import shutil

import pytest

from serving.reload import ModelWatcher, watch
from serving.settings import ServiceSettings, load_settings


@pytest.fixture
def store(trained, tmp_path, monkeypatch):
    shutil.copy(trained["root"] / "mlflow.db", tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # MLflow's create_model_version looks the source up there
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", uri)
    from training.registry import connect

    return connect(uri)


@pytest.fixture
def settings(store) -> ServiceSettings:
    """The service's settings, pointing at this test's registry."""
    return ServiceSettings(api_key="k", tracking_uri=store.tracking_uri)


def test_a_moved_champion_is_picked_up(store, settings):
    watcher = ModelWatcher(settings, "leadscore/1")
    assert watcher.check() is None  # nothing moved
    first = store.get_model_version("leadscore", "1")
    store.create_model_version("leadscore", first.source, first.run_id)
    store.set_registered_model_alias("leadscore", "champion", "2")
    scorer = watcher.check()
    assert scorer is not None and scorer.model.version == "leadscore/2"
    assert watcher.check() is None  # and only once


def test_a_model_that_becomes_loadable_after_a_rules_only_start(store, settings):
    store.delete_registered_model_alias("leadscore", "champion")
    watcher = ModelWatcher(settings, None)
    assert watcher.check() is None  # still nothing to serve
    store.set_registered_model_alias("leadscore", "champion", "1")
    scorer = watcher.check()
    assert scorer is not None and scorer.model.version == "leadscore/1"


def test_the_watch_thread_swaps_the_scorer(store, settings):
    from tests.waiting import wait_for

    class Service:
        scorer = None

        def use(self, scorer):
            self.scorer = scorer

    service = Service()
    store.delete_registered_model_alias("leadscore", "champion")
    thread = watch(service, ModelWatcher(settings, None), every=0.2)
    store.set_registered_model_alias("leadscore", "champion", "1")
    wait_for(lambda: service.scorer is not None, timeout=60, every=0.2)
    thread.stop.set()
    assert service.scorer is not None and service.scorer.model.version == "leadscore/1"


def test_reloading_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("LEADSCORE_API_KEY", "k")
    monkeypatch.setenv("LEADSCORE_RELOAD_SECONDS", "0")
    settings = load_settings()
    assert watch(object(), ModelWatcher(settings, None), settings.reload_seconds) is None


def test_a_swap_is_logged_as_the_champion_moving(store, settings, caplog):
    """One INFO line when the served model changes: `champion moved v1 → v2 (models:/...)`."""
    import logging

    from tests.waiting import wait_for

    class Service:
        scorer = None

        def use(self, scorer):
            self.scorer = scorer

    caplog.set_level(logging.INFO, logger="leadscore")
    service = Service()
    first = store.get_model_version("leadscore", "1")
    store.create_model_version("leadscore", first.source, first.run_id)
    thread = watch(service, ModelWatcher(settings, "leadscore/1"), every=0.2)
    store.set_registered_model_alias("leadscore", "champion", "2")
    assert wait_for(lambda: service.scorer is not None, timeout=60, every=0.2)
    thread.stop.set()
    moved = [r for r in caplog.records if "moved" in r.getMessage()]
    assert [(r.levelname, r.getMessage()) for r in moved] == [
        ("INFO", "champion moved v1 → v2 (models:/leadscore@champion)")
    ]
