"""What the service loads when it starts: the Scorer it answers with, built from the service's
settings (the model watcher, serving/reload.py, uses it too when the champion moves), and its
feedback store, opened in the background so that a database that is down never stops scoring."""

from __future__ import annotations

import logging
import threading

from core.config import load_config
from core.errors import LeadscoreError
from core.store import FeedbackStore, redacted
from features.contract import ContractConfig
from features.defaults import load_features_config, load_rules
from serving.scorer import Scorer, ServingConfig
from serving.settings import ServiceSettings
from training.registry import connect, load_model

log = logging.getLogger("leadscore.serving")


def load_scorer(settings: ServiceSettings) -> Scorer:
    """The Scorer for the configured model, or a rules-only Scorer saying why the model is absent."""
    rules = load_rules(settings.rules)
    config = load_config(settings.serving_config, ServingConfig)
    uri = settings.model_uri
    try:
        model = load_model(uri, connect(settings.tracking_uri))
    except Exception as exc:  # no registry, no champion, corrupt artifacts: the rules answer
        log.warning("model %s not loaded: %s", uri, str(exc).splitlines()[0][:300])
        reason = f"model not loaded: {why_not_loaded(exc)}"
        return Scorer(
            None, rules, load_features_config(), ContractConfig(), config, reason, exploration=settings.exploration
        )
    return Scorer(model, rules, model.feature_config, model.contract, config, exploration=settings.exploration)


def why_not_loaded(exc: BaseException) -> str:
    """A few words on why a model did not load, for /readyz (open to anyone) and the answers: no
    path, no exception text (those are in the log line), the same words until the cause changes."""
    from mlflow.exceptions import MlflowException

    cause = exc.__context__ if isinstance(exc, LeadscoreError) and exc.__context__ is not None else exc
    if isinstance(cause, MlflowException):
        if cause.error_code == "RESOURCE_DOES_NOT_EXIST":
            return "not found (no such registered model, version or alias)"
        if "API request to" in cause.message:
            return "the tracking server did not answer"
        return f"the tracking store refused ({cause.error_code})"
    if isinstance(cause, OSError):
        return "its files could not be read"
    return f"its files could not be loaded ({type(cause).__name__})"


class StoreOpener:
    """Keeps the feedback store open from a background thread: the first attempt when the service
    starts (`start` waits for it, at most `first_wait` seconds), then every `every` seconds while
    the store is not ready (never opened, or found down since). Scoring never waits for it;
    /feedback answers 503 until the store has opened once. One log line when the store becomes
    unavailable (no password), one when it is back; `stop()` ends the attempts."""

    def __init__(self, store: FeedbackStore, every: float = 5.0, first_wait: float = 15.0):
        self.store = store
        self.every = every
        self.first_wait = first_wait
        self._opened = False
        self._stop = threading.Event()
        self._tried = threading.Event()
        self._thread = threading.Thread(target=self._run, name="leadscore-store-open", daemon=True)

    @property
    def opened(self) -> bool:
        """Whether the store has been open at least once since the start (by us or by a use of it)."""
        self._opened = self._opened or self.store.ready
        return self._opened

    def start(self) -> StoreOpener:
        self._thread.start()
        self._tried.wait(self.first_wait)
        return self

    def _run(self) -> None:
        down = False
        while True:
            if self.store.ready or self.store.open():
                self._opened = True
                if down:
                    log.warning("feedback store %s: open again", redacted(self.store.url))
                down = False
            elif not down:
                log.warning(
                    "feedback store unavailable (%s): scoring goes on, /feedback answers 503; retrying every %g s",
                    self.store.problem or redacted(self.store.url),
                    self.every,
                )
                down = True
            self._tried.set()
            if self._stop.wait(self.every):
                return

    def stop(self, timeout: float = 10.0) -> None:
        """No further attempts; waits up to `timeout` seconds for one under way."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
