"""Picking up a new champion while serving: when `@champion` moves (or a model becomes loadable
after a rules-only start), a fresh Scorer is built beside the old one and swapped in with one
assignment, so requests in flight finish on the old one and none is dropped."""

from __future__ import annotations

import logging
import os
import threading

from training.registry import connect, version_of

log = logging.getLogger("leadscore.serving")


class ModelWatcher:
    """Knows which registered version the service runs, and builds a Scorer when it changes."""

    def __init__(self, model_uri: str, current_version: str | None):
        self.model_uri = model_uri
        self.current = current_version

    def _alias_target(self) -> str | None:
        ref = self.model_uri.removeprefix("models:/")
        if not self.model_uri.startswith("models:/") or "@" not in ref:
            return None  # a fixed version or run: nothing to follow
        name, alias = ref.split("@", 1)
        try:
            found = version_of(connect(), name, alias)
        except Exception:  # the registry is unreachable: keep serving what we have
            return None
        return f"{name}/{found.version}" if found is not None else None

    def check(self):
        """A new Scorer when the alias points at another version than the one served, else None."""
        target = self._alias_target()
        if target is None or target == self.current:
            return None
        from serving.service import load_scorer

        scorer = load_scorer()
        if scorer.model is None:
            return None
        self.current = scorer.model.version
        return scorer


def watch(service, watcher: ModelWatcher, every: float | None = None) -> threading.Thread | None:
    """Check every `every` seconds (LEADSCORE_RELOAD_SECONDS, default 60; 0 turns it off) and swap
    `service.scorer` when a new champion is loadable."""
    every = float(os.environ.get("LEADSCORE_RELOAD_SECONDS", "60")) if every is None else every
    if every <= 0:
        return None
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            try:
                scorer = watcher.check()
            except Exception as exc:  # never take the service down over a reload
                log.warning("model reload failed: %s", type(exc).__name__)
                continue
            if scorer is not None:
                service.use(scorer)
                log.info("now serving %s", scorer.model.version)

    thread = threading.Thread(target=loop, name="leadscore-model-watcher", daemon=True)
    thread.stop = stop
    thread.start()
    return thread
