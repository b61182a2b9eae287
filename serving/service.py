"""The scoring service the CRM talks to (BentoML 1.4).

POST /score (one lead), /score_batch (many, each answered in its own slot), /feedback (a sales
decision, validated by `core.decisions` and stored before the answer); GET /healthz, /readyz (model
or rules-only, which version, whether the feedback store is open). Every endpoint but health and
the API docs needs `Authorization: Bearer $LEADSCORE_API_KEY`. The feedback store is opened in the
background: the service starts and scores with its database down.

Configuration: `serving.settings.ServiceSettings`, read from the environment once when a worker
starts and passed to what needs it (the store, the scorer loader, the model watcher, the gate).
Serve with `leadscore serve` or `bentoml serve serving.service:LeadScoring`.
"""

from __future__ import annotations

import gc
import logging
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Annotated, Any

import bentoml
from pydantic import BaseModel, Field, GetCoreSchemaHandler, StrictBool, TypeAdapter, ValidationError, WrapValidator
from pydantic_core import CoreSchema, core_schema
from starlette.responses import Response

from core.decisions import Decision, context, one_line
from core.store import score_row
from serving import metrics
from serving.asgi import RETRY_AFTER, Gate, setup
from serving.explore import speaks_for
from serving.intake import INLINE_EVENTS, Intake, charge, offload
from serving.schemas import Lead, Score, unstorable_text
from serving.settings import REQUEST_SECONDS

log = logging.getLogger("leadscore.serving")
STORE_RETRY_SECONDS = 5.0  # between attempts to open a feedback store that is down


class Posted:
    """A /feedback body not validated yet: the served model's contract (its reason codes) is only
    known in the endpoint, so `Decision` validates it there, with that contract as context."""

    __slots__ = ("body",)

    def __init__(self, body: Any):
        self.body = body


# documented as `Decision` (the OpenAPI schema), validated by the endpoint
Feedback = Annotated[Decision, WrapValidator(lambda value, _handler: Posted(value))]


class FeedbackReceipt(BaseModel):
    feedback_id: str
    stored: bool
    duplicate: bool
    error: str | None = Field(default=None, description="Why nothing was stored (with a 503: post it again later).")


class BatchItem(BaseModel):
    index: int
    result: Score | None = None
    error: str | None = None


BATCH_JSON = TypeAdapter(list[BatchItem])


class Invalid:
    """A lead of a batch that did not validate: its first errors, answered in its own slot."""

    __slots__ = ("problems",)

    def __init__(self, problems: str):
        self.problems = problems


def _lead_or_invalid(value: Any, handler, info) -> Lead | Invalid:
    charge(info, "leads")  # within the batch limit, or the whole request stops here (413)
    try:
        lead = handler(value)
    except ValidationError as exc:
        return Invalid(
            "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" if e["loc"] else e["msg"] for e in exc.errors()[:5])
        )
    problem = unstorable_text(lead)
    return lead if problem is None else Invalid(problem)


def _unprocessable(message: str) -> bentoml.exceptions.BentoMLException:
    return bentoml.exceptions.BentoMLException(message, error_code=HTTPStatus.UNPROCESSABLE_ENTITY)


class BatchLead:
    """A lead of a batch, validated as the request body is read (one pass over the JSON, no dicts
    in between): a lead that does not validate becomes an `Invalid` instead of failing the batch;
    documented as `Lead`. A type of its own, not `Annotated[Lead, WrapValidator(...)]`: BentoML's
    request models copy the metadata of an annotated list item onto it again (`IOMixin.
    __get_pydantic_core_schema__`), which ran the validator twice and counted each lead twice."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.with_info_wrap_validator_function(_lead_or_invalid, handler(Lead))


# the request bodies, read by `Intake`: off the event loop when large, within the request limits
class ScoreRequest(Intake):
    lead: Lead


class ScoreBatchRequest(Intake):
    leads: list[BatchLead] = Field(description="At most max_batch leads (1,000 by default).")
    reasons: StrictBool = Field(default=True, description="Include top_reasons (most of a large batch's time).")


class FeedbackRequest(Intake):
    feedback: Feedback


def events_of(lead: Lead) -> int:
    """How many events come with `lead`, its contacts' included."""
    return len(lead.events or ()) + sum(len(contact.events) for contact in lead.contacts)


@bentoml.service(
    name="leadscore",
    traffic={"timeout": REQUEST_SECONDS},
    http={"host": "127.0.0.1", "port": 3000},
    workers="cpu_count",  # one process per core, each scoring on one thread (ServingConfig.threads)
    # every answer is already in the score log and the Prometheus metrics; a log line per request
    # costs a third of the service's own time. On: BENTOML_CONFIG_OPTIONS=
    # "services.leadscore.logging.access.enabled=true"
    logging={"access": {"enabled": False}},
    # no OpenTelemetry span per request: with no exporter nobody reads them, and they cost a sixth
    # of the single-lead throughput (c=8: 435 -> 525 req/s). With an exporter, on:
    # BENTOML_CONFIG_OPTIONS='services.leadscore.tracing.excluded_urls=""'
    tracing={"excluded_urls": ".*"},
)
class LeadScoring:
    def __init__(self) -> None:
        from serving.memory import return_large_buffers

        # the start imports MLflow, LightGBM and the model's code (thousands of modules): no garbage
        # collection walks them meanwhile, and once started none does again (frozen: they stay)
        gc.disable()
        try:
            self._start()
            gc.freeze()
        finally:
            gc.enable()
        return_large_buffers()  # a large request's memory goes back to the system (serving/memory.py)

    def _start(self) -> None:
        """Settings, logs, the feedback store, the score log, the model and its watchers."""
        from core.store import FeedbackStore
        from serving.blas import one_blas_thread
        from serving.loading import StoreOpener, load_scorer
        from serving.logs import configure as configure_logs
        from serving.reload import ModelWatcher, watch
        from serving.scorelog import ScoreLog
        from serving.settings import load_settings
        from serving.spool import Spool, spool_folder
        from serving.trend import History

        self.settings = load_settings()  # once, here: a bad value stops the start naming the variable
        import mlflow  # noqa: F401 - its loggers' own handlers exist before configure_logs formats every handler

        configure_logs(self.settings.log_format)
        self.gate = Gate.from_settings(self.settings)
        self.store = FeedbackStore(self.settings.db_url)  # not connected: opened in the background
        self.store_opener = StoreOpener(self.store, STORE_RETRY_SECONDS).start()
        self.score_log = ScoreLog(
            self.store,
            on_drop=metrics.SCORE_LOG_DROPPED.inc,
            on_refused=metrics.SCORE_LOG_REFUSED.inc,
            on_lost=metrics.SCORE_LOG_LOST.inc,
            on_queue=metrics.SCORE_LOG_QUEUE.set,
            spool=Spool(spool_folder(self.store.url)),  # rows on disk until written: a killed worker loses none
            on_recovered=metrics.SCORE_LOG_RECOVERED.inc,
            retention_days=self.settings.log_retention_days,
        )
        # each lead's last scores, for the answer's trend (read off the event loop, never waited for long)
        self.history = History(self.store, wait=self.settings.trend_wait_seconds)
        self.use(load_scorer(self.settings))
        one_blas_thread()
        served = self.scorer.model.version if self.scorer.model else None
        self.watcher = watch(self, ModelWatcher(self.settings, served), self.settings.reload_seconds)
        self.monitor = self._monitor()

    def _monitor(self):
        """The schedule of `leadscore monitor` runs behind the Prometheus gauges (serving/gauges.py),
        started; None when off. The store's URL and the tracking URI go to it by environment."""
        from serving.gauges import MonitorRunner, monitor_argv, state_folder

        every = self.settings.monitor_seconds
        if every <= 0:
            return None
        env = {"LEADSCORE_DB_URL": self.store.url, "MLFLOW_TRACKING_URI": self.settings.tracking_uri}
        argv = lambda: monitor_argv(_version(self.scorer))  # noqa: E731 - the version served at each run
        return MonitorRunner(argv, state_folder(), every, self.settings.monitor_timeout_seconds, env).start()

    def __metrics__(self, content: str) -> str:
        """/metrics: BentoML's and ours (prometheus_client's multiprocess files), then the gauges of
        the last `leadscore monitor` run (`serving.gauges.exposition`)."""
        from serving.gauges import exposition, state_folder

        return content + exposition(state_folder())

    def use(self, scorer) -> None:
        """Serve with `scorer` from the next request on (one assignment: nothing in flight breaks)."""
        before = getattr(self, "scorer", None)
        self.scorer = scorer
        metrics.serving(_version(before), _version(scorer))
        if before is None:
            ready = self.readiness()
            log.info("leadscore ready: %s", " ".join(filter(None, (ready["mode"], ready["model_version"]))))

    def readiness(self) -> dict:
        """The /readyz answer: whether the model (which version) or the rules answer, and why; and
        whether the feedback store is open (scoring does not need it: the status stays ready)."""
        scorer = self.scorer  # one read: a reload swapping it meanwhile cannot mix two answers
        return {
            "status": "ready",
            "mode": "model" if scorer.model else "rules",
            "model_version": scorer.model.version if scorer.model else None,
            "reason": scorer.unavailable,
            "store": "ready" if self.store.ready else "unavailable",
        }

    def _log(self, answers: list[Score], leads: list[Lead], now: datetime, features: list[dict] = ()) -> None:
        """Count the answers and queue their score-log rows and feature rows. "as_of throughout":
        a row's scored_at is the time its answer speaks for, the lead's as_of when it came with
        one, else `now` (`serving.explore.speaks_for`); a feature row carries its answer's
        scored_at (they join on lead_id, scored_at and model_version)."""
        metrics.count_answers(answers)
        times = [speaks_for(lead, now) for lead in leads]
        self.history.remember(answers, times)
        rows = [score_row(a, lead.source, at) for a, lead, at in zip(answers, leads, times, strict=True)]
        self.score_log.add(rows, features)

    @bentoml.on_shutdown
    def close(self) -> None:
        """Stop opening the store, and write the queued score log before the worker exits."""
        self.store_opener.stop()
        if self.monitor is not None:
            self.monitor.stop()
        self.history.close()
        self.score_log.close()

    @bentoml.api(input_spec=ScoreRequest)
    async def score(self, lead: Lead) -> Score:
        """Score one lead: calibrated probability, grade, MQL flags of model and rules, reasons."""
        # the lead's last scores, read off the event loop within a short wait (serving/trend.py)
        last = await self.history.last_soon([lead.lead_id])
        # up to INLINE_EVENTS events (its contacts' included), on the event loop: a few
        # milliseconds of CPU, cheaper there than a thread hop; a larger lead in a worker thread,
        # so that the worker goes on answering meanwhile
        if events_of(lead) <= INLINE_EVENTS:
            return self._score_one(lead, last)
        return await offload(self._score_one, lead, last)

    def _score_one(self, lead: Lead, last: dict | str) -> Score:
        problem = unstorable_text(lead, "lead")
        if problem is not None:
            raise _unprocessable(problem)
        scorer, now = self.scorer, datetime.now(UTC)  # one read: a reload meanwhile cannot mix two answers
        [answer], features = scorer.score_and_features([lead], now, last=last, rate=self.settings.feature_log_rate)
        self._log([answer], [lead], now, features)
        return answer

    @bentoml.api(input_spec=ScoreBatchRequest)
    def score_batch(self, leads: list[BatchLead], reasons: bool = True) -> list[BatchItem]:
        """Score many leads; a lead that does not validate is reported in its own slot."""
        if len(leads) > self.scorer.config.max_batch:
            raise bentoml.exceptions.BentoMLException(
                f"leads: at most {self.scorer.config.max_batch} leads per batch, got {len(leads)}",
                error_code=HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            )
        valid, items = [], []
        for i, lead in enumerate(leads):
            if isinstance(lead, Invalid):
                items.append(BatchItem(index=i, error=f"leads[{i}]: {lead.problems}"))
            else:
                valid.append((i, lead))
        scored = [lead for _, lead in valid]
        last = self.history.last([lead.lead_id for lead in scored]) if valid else None
        scorer, rate, now = self.scorer, self.settings.feature_log_rate, datetime.now(UTC)
        answers, features = scorer.score_and_features(scored, now, reasons, last, rate) if valid else ([], [])
        self._log(answers, scored, now, features)
        items += [BatchItem(index=i, result=a) for (i, _), a in zip(valid, answers, strict=True)]
        # the documented `list[BatchItem]`, encoded by pydantic's own JSON encoder: BentoML's
        # encoding of a list answer (Python dicts, `json.dumps`, the JSON schema rebuilt each
        # time) took a third of a 1,000-lead answer
        return Response(BATCH_JSON.dump_json(sorted(items, key=lambda item: item.index)), media_type="application/json")

    @bentoml.api(input_spec=FeedbackRequest)
    def feedback(self, feedback: Feedback, ctx: bentoml.Context) -> FeedbackReceipt:
        """Store a sales decision before answering. 422 naming the field for a decision retraining
        would refuse; the same feedback_id again: 200 `duplicate` for the same body, 409 naming what
        differs for another; a new feedback_id for the same hand-over is a correction (it supersedes
        the earlier decision). 503 with Retry-After while the store is unavailable (nothing stored:
        post the same decision again)."""
        from core.errors import LeadscoreError
        from core.store import DecisionConflict, StoreUnavailable

        try:
            decision = Decision.model_validate(feedback.body, context=context(self.scorer.contract))
        except ValidationError as exc:
            metrics.FEEDBACK.labels(outcome="refused").inc()
            raise _unprocessable(one_line(exc)) from None
        try:
            if not self.store_opener.opened:  # never reachable since the start: the opener retries
                raise StoreUnavailable("feedback store unavailable (not connected yet)")
            stored = self.store.add_decision(**decision.model_dump())
        except StoreUnavailable as exc:
            ctx.response.status_code = HTTPStatus.SERVICE_UNAVAILABLE
            ctx.response.metadata["retry-after"] = RETRY_AFTER
            metrics.FEEDBACK.labels(outcome="unavailable").inc()
            log.warning("decision not stored: %s", exc)
            return FeedbackReceipt(
                feedback_id=decision.feedback_id, stored=False, duplicate=False, error=f"{exc}; post it again later"
            )
        except DecisionConflict as exc:
            metrics.FEEDBACK.labels(outcome="conflict").inc()
            raise bentoml.exceptions.BentoMLException(str(exc), error_code=HTTPStatus.CONFLICT) from None
        except LeadscoreError as exc:  # a value the database cannot hold: nothing stored
            metrics.FEEDBACK.labels(outcome="refused").inc()
            raise _unprocessable(str(exc)) from None
        metrics.FEEDBACK.labels(outcome="duplicate" if stored.duplicate else "stored").inc()
        if not stored.duplicate:
            metrics.DECISIONS_STORED.labels(decision=decision.decision, reason=decision.reason or "none").inc()
        return FeedbackReceipt(feedback_id=stored.feedback_id, stored=not stored.duplicate, duplicate=stored.duplicate)


def _version(scorer) -> str | None:
    """The registered version `scorer` answers with; None when the rules answer."""
    return scorer.model.version if scorer is not None and scorer.model is not None else None


# The gate and the prompt timeout are declared with the service, as BentoML's decorator and
# `add_asgi_middleware` are: a BentoML worker imports this module and builds the app right after,
# with no hook of ours in between, so this is the last moment to put them in place.
setup(LeadScoring)
