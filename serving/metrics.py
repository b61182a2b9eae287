"""The service's own Prometheus metrics, and the folder each start keeps them in.

BentoML runs one process per worker and serves /metrics from prometheus_client's multiprocess
mode: every process writes its values to files in `PROMETHEUS_MULTIPROC_DIR`, and a scrape adds
them up. BentoML puts that folder in its home (`$BENTOML_HOME/prometheus_multiproc_dir`, by
default under the user's home) and empties it whenever any BentoML server starts, so a second
BentoML process of the same user wiped the service's counters. `leadscore serve` therefore gives
each start a BentoML home of its own (`start_home`: BentoML's supported `BENTOML_HOME`), in the
temporary folder, named after the server's process id; the folders of servers that have stopped
are removed at the next start (their score-log spools, serving/spool.py, moved into the new
start's home first: the new workers write what the old ones had not).

A worker killed (`kill -9`) leaves its live gauges (`leadscore_score_log_queue`,
`leadscore_model_info`, BentoML's requests in progress) in the folder: prometheus_client only
drops a process's live gauges when told it died (`mark_process_dead`), which BentoML does only
for a worker that ends normally. Before every scrape of /metrics, `forget_dead_workers` does it
for every process that left live gauges and is no longer running, so a scrape adds up the
running workers only. Request metrics are labelled by route (serving/routes.py), so no client
can add series.

The metrics (names as scraped; counters end in `_total`):

- `leadscore_answers_total{scored_by,grade}`: answers given, by the model or the rules, by grade;
- `leadscore_rule_fallbacks_total{cause}`: answers the rules gave because the model could not
  (`no_model`, `model_error`, `missing_data`);
- `leadscore_model_info{model_version,scored_by}`: 1 for what the workers answer with;
- `leadscore_sales_decisions_total{decision,reason}`: decisions stored by /feedback;
- `leadscore_feedback_total{outcome}`: /feedback posts by what happened (`stored`, `duplicate`,
  `conflict`, `refused`, `unavailable`);
- `leadscore_score_log_queue`: score log rows waiting to be written (all workers);
- `leadscore_score_log_dropped_total`, `_refused_total`, `_lost_total`: score log rows dropped
  because the queue was full, refused by the database, lost (not written and not in a spool);
- `leadscore_score_log_recovered_total`: rows a stopped worker had queued, written from its spool;
- `leadscore_request_duration_seconds{endpoint,code}`: time from request to answer of /score,
  /score_batch and /feedback, a histogram;
- from the last scheduled `leadscore monitor` run (serving/gauges.py, rendered at each scrape, not
  multiprocess files): `leadscore_drift_psi{feature,segment}`, `leadscore_calibration_error{segment,
  kind}`, `leadscore_fallback_share`, `leadscore_monitor_alerts`, `leadscore_monitor_age_seconds`;
  and `leadscore_monitor_failures_total`, the runs that failed.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections import Counter as Tally
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path

from prometheus_client import Counter, Gauge, Histogram, multiprocess

from serving.spool import SPOOL

HOME_PREFIX = "leadscore-serve-"
TIMED = frozenset({"/score", "/score_batch", "/feedback"})
LIVE_GAUGES = re.compile(r"gauge_live[a-z]+_(\d+)\.db")  # prometheus_client's files of live gauges, by process
# seconds: a single lead takes a few milliseconds, a 1,000-lead batch up to a second or two
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

ANSWERS = Counter(
    "leadscore_answers", "Answers given, by who answered (model or rules) and grade", ["scored_by", "grade"]
)
FALLBACKS = Counter("leadscore_rule_fallbacks", "Leads the rules answered, by why the model did not", ["cause"])
MODEL_INFO = Gauge(
    "leadscore_model_info",
    "1 for the model version (or the rules) the service's workers answer with",
    ["model_version", "scored_by"],
    multiprocess_mode="livemax",  # 1 while at least one running worker answers with it
)
DECISIONS_STORED = Counter(
    "leadscore_sales_decisions", "Sales decisions stored, by decision and reason", ["decision", "reason"]
)
FEEDBACK = Counter(
    "leadscore_feedback",
    "Posts to /feedback by what happened: stored, duplicate, conflict (409), refused (422), unavailable (503)",
    ["outcome"],
)
SCORE_LOG_QUEUE = Gauge(
    "leadscore_score_log_queue", "Score log rows waiting to be written", multiprocess_mode="livesum"
)
SCORE_LOG_DROPPED = Counter(
    "leadscore_score_log_dropped", "Score log rows dropped because the queue was full (database down for long)"
)
SCORE_LOG_REFUSED = Counter(
    "leadscore_score_log_refused", "Score log rows the database refused (a value it cannot hold), dropped alone"
)
SCORE_LOG_LOST = Counter(
    "leadscore_score_log_lost", "Score log rows that could not be written and are not kept in a spool"
)
SCORE_LOG_RECOVERED = Counter(
    "leadscore_score_log_recovered", "Score log rows a stopped worker had queued, written from its spool"
)
LATENCY = Histogram(
    "leadscore_request_duration_seconds",
    "Time from request to answer, by endpoint and HTTP status code",
    ["endpoint", "code"],
    buckets=BUCKETS,
)


def fallback_cause(reason: str) -> str:
    """A few stable label values for the fallback counter (the reason text itself varies)."""
    if reason.startswith("model failed"):
        return "model_error"
    if "not loaded" in reason or reason == "no model loaded":
        return "no_model"
    return "missing_data"


def count_answers(answers: Iterable) -> None:
    """Count answers by who gave them and grade, and the rules' fallbacks by cause."""
    by_label, causes = Tally(), Tally()
    for answer in answers:
        by_label[answer.scored_by, answer.grade] += 1
        if answer.scored_by == "rules":
            causes[fallback_cause(answer.fallback_reason or "")] += 1
    for (scored_by, grade), n in by_label.items():
        ANSWERS.labels(scored_by=scored_by, grade=grade).inc(n)
    for cause, n in causes.items():
        FALLBACKS.labels(cause=cause).inc(n)


def serving(before: str | None, after: str | None) -> None:
    """The worker now answers with model version `after` (None: the rules) instead of `before`."""
    if before != after:
        MODEL_INFO.labels(model_version=before or "", scored_by="model" if before else "rules").set(0)
    MODEL_INFO.labels(model_version=after or "", scored_by="model" if after else "rules").set(1)


def forget_dead_workers(folder: str | Path | None = None) -> list[int]:
    """Drop the live gauges of the processes that left some in the multiprocess metrics `folder`
    (default: this process's `PROMETHEUS_MULTIPROC_DIR`) and are no longer running; returns their
    process ids."""
    folder = folder or os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder or not os.path.isdir(folder):
        return []
    pids = {int(m.group(1)) for name in os.listdir(folder) if (m := LIVE_GAUGES.fullmatch(name))}
    dead = sorted(pid for pid in pids if not _running(pid))
    for pid in dead:
        with suppress(FileNotFoundError):  # another worker did it at the same time
            multiprocess.mark_process_dead(pid, str(folder))
    return dead


class Timed:
    """ASGI middleware: the time from request to the end of the answer of /score, /score_batch and
    /feedback, by endpoint and status code (401, 413 and 504 included); and, before a scrape of
    /metrics, the live gauges of workers that died dropped (`forget_dead_workers`)."""

    FORGET_EVERY = 1.0  # seconds: a flood of /metrics requests (authenticated or not) lists the folder once a second

    def __init__(self, app, **_):
        self.app = app
        self._forgot = float("-inf")

    async def __call__(self, scope, receive, send):
        endpoint = scope.get("path") if scope["type"] == "http" else None
        if endpoint == "/metrics" and time.monotonic() - self._forgot >= self.FORGET_EVERY:
            self._forgot = time.monotonic()
            forget_dead_workers()
        if endpoint not in TIMED:
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), 500

        async def answering(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, answering)
        finally:
            LATENCY.labels(endpoint=endpoint, code=str(status)).observe(time.perf_counter() - start)


def start_home(parent: Path | None = None, pid: int | None = None) -> Path:
    """A new BentoML home for one server start (the process `pid`, default this one, which
    `leadscore serve` replaces with BentoML's): its metrics folder is its own. The homes of
    servers no longer running are removed first; their score-log spools are moved into the new one."""
    parent = Path(parent or tempfile.gettempdir())
    stopped = []
    for old in parent.glob(f"{HOME_PREFIX}*"):
        owner = old.name.removeprefix(HOME_PREFIX).split("-", 1)[0]
        if owner.isdigit() and not _running(int(owner)):
            stopped.append(old)
    home = Path(tempfile.mkdtemp(prefix=f"{HOME_PREFIX}{pid or os.getpid()}-", dir=parent))
    for old in stopped:
        for spooled in sorted((old / SPOOL).glob("*/*")):  # one folder per database, its files
            target = home / SPOOL / spooled.parent.name
            target.mkdir(parents=True, exist_ok=True, mode=0o700)
            spooled.rename(target / spooled.name)
        shutil.rmtree(old, ignore_errors=True)
    return home


def _running(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, ended and not yet reaped by its parent, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no /proc here, or it ended meanwhile
        return os.path.exists(f"/proc/{pid}") or not os.path.isdir("/proc")
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"
