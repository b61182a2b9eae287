"""Picking up a new champion while serving: when `@champion` moves (or a model becomes loadable
after a rules-only start), a fresh Scorer is built beside the old one and swapped in with one
assignment, so requests in flight finish on the old one and none is dropped."""

from __future__ import annotations

import logging
import threading

from serving.loading import load_scorer
from serving.settings import ServiceSettings
from training.registry import connect, version_of

log = logging.getLogger("leadscore.serving")


class ModelWatcher:
    """Knows which registered version the service runs, and builds a Scorer when it changes."""

    def __init__(self, settings: ServiceSettings, current_version: str | None):
        self.settings = settings
        self.current = current_version

    @property
    def alias(self) -> tuple[str, str] | None:
        """The registered model name and the alias the service follows, if it follows one."""
        uri = self.settings.model_uri
        ref = uri.removeprefix("models:/")
        if not uri.startswith("models:/") or "@" not in ref:
            return None  # a fixed version or run: nothing to follow
        name, alias = ref.split("@", 1)
        return name, alias

    def _alias_target(self) -> str | None:
        if self.alias is None:
            return None
        name, alias = self.alias
        try:
            found = version_of(connect(self.settings.tracking_uri), name, alias)
        except Exception:  # the registry is unreachable: keep serving what we have
            return None
        return f"{name}/{found.version}" if found is not None else None

    def check(self):
        """A new Scorer when the alias points at another version than the one served, else None."""
        target = self._alias_target()
        if target is None or target == self.current:
            return None
        scorer = load_scorer(self.settings)
        if scorer.model is None:
            return None
        self.current = scorer.model.version
        return scorer


def short(version: str | None) -> str:
    """A registered NAME/VERSION as vVERSION; the rules when no model answered."""
    return f"v{version.rsplit('/', 1)[-1]}" if version else "rules"


def moved(watcher: ModelWatcher, before: str | None, after: str) -> str:
    """The log line of a swap: `champion moved v3 → v4 (models:/leadscore@champion)`."""
    alias = watcher.alias[1] if watcher.alias else "model"
    return f"{alias} moved {short(before)} → {short(after)} ({watcher.settings.model_uri})"


def watch(service, watcher: ModelWatcher, every: float) -> threading.Thread | None:
    """Check every `every` seconds (the settings' reload_seconds; 0 turns it off) and swap
    `service.scorer` when a new champion is loadable."""
    if every <= 0:
        return None
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            before = watcher.current
            try:
                scorer = watcher.check()
            except Exception as exc:  # never take the service down over a reload
                log.warning("model reload failed: %s", type(exc).__name__)
                continue
            if scorer is not None:
                service.use(scorer)
                log.info(moved(watcher, before, scorer.model.version))

    thread = threading.Thread(target=loop, name="leadscore-model-watcher", daemon=True)
    thread.stop = stop
    thread.start()
    return thread
