"""The scoring service's settings, read from the environment once when the service starts.

Every `LEADSCORE_*` variable the service reads is a field here (the name is `LEADSCORE_` and the
field's name in capitals), plus `MLFLOW_TRACKING_URI`. An empty variable counts as not set. A bad
value stops the start with one line naming the variable (`load_settings`); the API key never
appears in a message, a log line or a repr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import LeadscoreError
from serving.explore import MAX_SHARE, Exploration

PREFIX = "LEADSCORE_"
REQUEST_SECONDS = 10  # the service's answer comes within this time (BentoML's traffic timeout), else 504
NO_KEY = (
    f"{PREFIX}API_KEY is not set: the service refuses to start without an API key "
    "(export the key the CRM will send as a bearer token)"
)


def _default_tracking_uri() -> str:
    from training.registry import tracking_uri

    return tracking_uri()  # MLFLOW_TRACKING_URI is already looked at: ./mlflow.db


class ServiceSettings(BaseSettings):
    """What the service is configured with (the CLI and the README name the same variables)."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX, extra="forbid", env_ignore_empty=True, validate_by_name=True, frozen=True
    )

    api_key: SecretStr = Field(description="the bearer key every client but the health checks sends")
    db_url: str | None = Field(
        default=None,
        repr=False,  # may hold a database password
        description="feedback store and score log (SQLAlchemy URL; default ./leadscore.db)",
    )
    model_uri: str = Field(default="models:/leadscore@champion", description="the MLflow model served")
    tracking_uri: str = Field(
        default_factory=_default_tracking_uri,
        validation_alias="MLFLOW_TRACKING_URI",
        description="the MLflow tracking store and registry",
    )
    rules: Path | None = Field(default=None, description="a rule-score YAML (default: the shipped rules)")
    serving_config: Path | None = Field(default=None, description="a YAML of serving.scorer.ServingConfig")
    reload_seconds: float = Field(
        default=60, ge=0, allow_inf_nan=False, description="seconds between checks for a new champion; 0 = off"
    )
    max_body_bytes: int = Field(default=16 * 2**20, gt=0, description="the largest request body, in bytes")
    max_events: int = Field(
        default=50_000, gt=0, description="events per request: a lead's own and its contacts', over a whole batch"
    )
    max_contacts: int = Field(default=5_000, gt=0, description="account contacts per request, over a whole batch")
    trend_wait_seconds: float = Field(
        default=0.05,
        gt=0,
        le=1,
        allow_inf_nan=False,
        description="how long an answer waits for the score log's last scores (its trend); past it, no trend",
    )
    body_seconds: float = Field(
        default=8,
        gt=0,
        lt=REQUEST_SECONDS,
        allow_inf_nan=False,
        description=f"seconds for a request's body to arrive whole after its headers (under {REQUEST_SECONDS})",
    )
    max_connections: int = Field(
        default=1_000, gt=0, description="open connections per worker; past it a new one gets 503 and is closed"
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="the workers' log lines: text, or json (one object per line)"
    )
    explore_share: float = Field(
        default=0,
        ge=0,
        le=MAX_SHARE,
        allow_inf_nan=False,
        description=f"share of leads below both thresholds sent to sales anyway (0 to {MAX_SHARE}; 0 = off)",
    )
    explore_seed: int = Field(default=0, description="the exploration hold-out's seed (a whole number)")
    feature_log_rate: float = Field(
        default=1.0,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="share of leads whose model answers log their input feature row (0 to 1)",
    )
    log_retention_days: int = Field(
        default=90, ge=0, description="days the score log and feature rows are kept (0 = forever)"
    )
    monitor_seconds: float = Field(
        default=3600,
        ge=0,
        allow_inf_nan=False,
        description="seconds between runs of `leadscore monitor` for the Prometheus gauges; 0 = off",
    )
    monitor_timeout_seconds: float = Field(
        default=600,
        gt=0,
        allow_inf_nan=False,
        description="seconds a run of `leadscore monitor` for the gauges may take before it is stopped",
    )

    @property
    def exploration(self) -> Exploration:
        """The exploration hold-out these settings configure."""
        return Exploration(share=self.explore_share, seed=self.explore_seed)


def variable(field: str) -> str:
    """The environment variable that sets `field`."""
    alias = ServiceSettings.model_fields[field].validation_alias
    return alias if isinstance(alias, str) else f"{PREFIX}{field.upper()}"


def load_settings(**given) -> ServiceSettings:
    """The settings from the environment (`given` values first), or a LeadscoreError whose one
    line names each bad variable, its value and what it should be."""
    try:
        return ServiceSettings(**given)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            if field == "api_key":
                problems.append(NO_KEY if error["type"] == "missing" else f"{variable(field)}: {error['msg']}")
            elif field in ServiceSettings.model_fields:
                value = "not set" if error["type"] == "missing" else repr(error["input"])
                hint = ServiceSettings.model_fields[field].description
                problems.append(f"{variable(field)}={value}: {error['msg']} ({hint})")
            else:
                problems.append(f"{field or 'settings'}: {error['msg']}")
        raise LeadscoreError(" | ".join(problems)) from None
