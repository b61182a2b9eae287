"""The Scorer the service answers with, built from the service's settings: the service uses it at
start and the model watcher (serving/reload.py) when the champion moves."""

from __future__ import annotations

import logging

from core.config import load_config
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
        reason = f"model {uri} not loaded: {str(exc).splitlines()[0][:200]}"
        log.warning(reason)
        return Scorer(None, rules, load_features_config(), ContractConfig(), config, unavailable=reason)
    return Scorer(model, rules, model.feature_config, model.contract, config)
