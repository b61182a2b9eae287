"""The monitoring figures as Prometheus gauges, refreshed on a schedule off the request path.

Every `LEADSCORE_MONITOR_SECONDS` (0 = off) one worker at a time (an `flock` on a file in the
state folder; the others skip that round) runs `leadscore monitor` in a subprocess (`monitor_argv`:
the store's URL and the tracking URI in its environment, never its argv, since they may hold a
password; the heavy computation off the workers' GIL, at a lower CPU priority), with a timeout.
`leadscore monitor` exits 0, or 1 when alerts fire: both are a run that wrote its JSON. The
`gauges` object of that JSON (format in `Gauges`) is kept whole in the state folder; a run that
times out, exits otherwise or writes no valid JSON is counted (`leadscore_monitor_failures_total`)
and said in one line, and the previous figures stay.

At each scrape, the worker that answers renders the kept figures (`exposition`, appended to
BentoML's /metrics by the service's `__metrics__` hook): `leadscore_drift_psi{feature,segment}`,
`leadscore_calibration_error{segment,kind}`, `leadscore_fallback_share`, `leadscore_monitor_alerts`
and `leadscore_monitor_age_seconds` (since the last successful run). Why not prometheus_client's
multiprocess gauges: a value a worker once wrote stays in its file (a series never goes, even when
the feature is no longer reported, and `max` would keep an old high value); rendered from the last
run, each series shows once whatever worker answers, and exactly the series of the last run: at
most the reference profile's features x segments. The failures counter is an ordinary
multiprocess counter (summed over the workers).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily
from pydantic import BaseModel, ConfigDict, Field, ValidationError

log = logging.getLogger("leadscore.serving")
STATE = "monitor-gauges.json"  # the last successful run's gauges, in the state folder
ATTEMPT = "monitor-attempt"  # touched when a run starts: one run per interval over all workers
LOCK = "monitor.lock"
NICE = 10  # the subprocess's CPU priority below the workers'

FAILURES = Counter(
    "leadscore_monitor_failures",
    "Runs of `leadscore monitor` for the gauges that failed (timed out, exited with an error, no valid JSON)",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Drift(_Strict):
    feature: str
    segment: str
    value: float


class CalibrationError(_Strict):
    segment: str
    kind: Literal["estimated", "realised"]
    value: float


class Gauges(_Strict):
    """The `gauges` object `leadscore monitor --json` writes."""

    drift_psi: list[Drift] = Field(default_factory=list)
    calibration_error: list[CalibrationError] = Field(default_factory=list)
    fallback_share: float | None = None
    alerts_firing: int = 0


class Kept(_Strict):
    """What the state folder keeps: the gauges of the last successful run and when it ended."""

    model_version: str | None = None
    computed_at: datetime | None = None
    finished_at: datetime
    gauges: Gauges


class Summary(BaseModel):
    """The parts of `leadscore monitor`'s JSON the service reads (the rest is ignored)."""

    model_config = ConfigDict(extra="ignore")
    model_version: str | None = None
    computed_at: datetime | None = None
    gauges: Gauges


def parse(text: str) -> Summary:
    """`leadscore monitor`'s JSON; a ValueError naming what is wrong."""
    try:
        return Summary.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "document"
        raise ValueError(f"monitor JSON: {where}: {first['msg']}") from None


@cache
def state_folder() -> Path:
    """Where the workers of this server keep the gauges: its Prometheus multiprocess folder (one
    per `leadscore serve` start, shared by its workers), else a folder of this process's own."""
    shared = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if shared and os.path.isdir(shared):
        return Path(shared)
    return Path(tempfile.mkdtemp(prefix="leadscore-gauges-"))


def monitor_argv(model_version: str | None) -> list[str]:
    """The real command: `leadscore monitor` on the service's store (`--db default`: the URL comes
    from LEADSCORE_DB_URL in the environment) for the served version; `--json` and `--out` are
    added by the runner."""
    argv = [sys.executable, "-m", "leadscore_cli", "monitor", "--db", "default", "--quiet"]
    return argv + (["--model-uri", f"models:/{model_version}"] if model_version else [])


class MonitorRunner:
    """Runs a monitor command every `every` seconds (one worker at a time over `folder`), keeping
    its gauges; `argv` is the command (or a function giving it at each run) to which `--json FILE
    --out FILE` are added; `env` is added to this process's environment for it."""

    def __init__(
        self,
        argv: Sequence[str] | Callable[[], Sequence[str]],
        folder: Path,
        every: float,
        timeout: float,
        env: dict[str, str] | None = None,
    ):
        self.argv, self.folder, self.every, self.timeout = argv, Path(folder), every, timeout
        self.env = env or {}
        self.failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, first: float = 60.0) -> MonitorRunner:
        """Run in a daemon thread: the first time after `first` seconds (or `every` if shorter)."""
        self._thread = threading.Thread(target=self._loop, args=(min(first, self.every),), daemon=True)
        self._thread.name = "leadscore-monitor-gauges"
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _loop(self, first: float) -> None:
        wait = first
        while not self._stop.wait(wait):
            try:
                self.run_once()
            except Exception as exc:  # a fault of ours: said, tried again next round
                log.warning("monitor gauges: not refreshed (%s)", type(exc).__name__)
            wait = self.every

    def run_once(self, force: bool = False) -> bool | None:
        """One round: None when another worker runs it now or ran it less than `every` seconds
        ago (unless `force`), True when the gauges were refreshed, False when the run failed."""
        import fcntl

        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / LOCK, "a") as lock:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return None
            attempt = self.folder / ATTEMPT
            if not force and attempt.exists() and time.time() - attempt.stat().st_mtime < 0.9 * self.every:
                return None
            attempt.touch()
            return self._run()

    def _run(self) -> bool:
        with tempfile.TemporaryDirectory(prefix="leadscore-monitor-") as tmp:
            out, page = Path(tmp) / "monitor.json", Path(tmp) / "monitor.html"
            argv = list(self.argv() if callable(self.argv) else self.argv)
            argv += ["--json", str(out), "--out", str(page)]
            try:
                done = self._subprocess(argv)
            except subprocess.TimeoutExpired:
                return self._failed(f"no answer within {self.timeout:.0f} s")
            except OSError as exc:
                return self._failed(f"cannot start it ({type(exc).__name__})")
            if done.returncode not in (0, 1):  # 1: alerts fire, the figures are there
                said = (done.stderr.strip().splitlines() or ["no message"])[-1][:300]
                return self._failed(f"exit {done.returncode}: {said}")
            try:
                summary = parse(out.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                return self._failed(str(exc)[:300] if isinstance(exc, ValueError) else "it wrote no JSON")
        kept = Kept(
            model_version=summary.model_version,
            computed_at=summary.computed_at,
            finished_at=datetime.now(UTC),
            gauges=summary.gauges,
        )
        partial = self.folder / f".{STATE}.partial"
        partial.write_text(kept.model_dump_json(), encoding="utf-8")
        partial.replace(self.folder / STATE)  # a scrape never reads half a file
        return True

    def _subprocess(self, argv: list[str]) -> subprocess.CompletedProcess:
        """Run `argv` with the extra environment, at a lower priority, killed whole after the timeout."""
        process = subprocess.Popen(
            argv,
            env={**os.environ, **self.env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            process_group=0,
        )
        with suppress(OSError):  # already ended, or not allowed: it runs at the workers' priority
            os.setpriority(os.PRIO_PROCESS, process.pid, NICE)
        try:
            _, stderr = process.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, 9)
            process.communicate()
            raise
        return subprocess.CompletedProcess(argv, process.returncode, None, stderr)

    def _failed(self, why: str) -> bool:
        self.failures += 1
        FAILURES.inc()
        log.warning("monitor gauges: the run of leadscore monitor failed (%s); the previous figures stay", why)
        return False


def kept(folder: Path) -> Kept | None:
    """The gauges the last successful run kept in `folder`; None when there are none (or unreadable)."""
    try:
        return Kept.model_validate_json((Path(folder) / STATE).read_text(encoding="utf-8"))
    except (OSError, ValidationError):
        return None


class _Kept:
    """A collector of the kept gauges (prometheus_client writes the exposition text)."""

    def __init__(self, state: Kept, now: datetime):
        self.state, self.now = state, now

    def collect(self):
        gauges = self.state.gauges
        psi = GaugeMetricFamily(
            "leadscore_drift_psi",
            "Drift of a lead field (PSI, the largest of its features), by segment",
            labels=["feature", "segment"],
        )
        for g in gauges.drift_psi:
            psi.add_metric([g.feature, g.segment], g.value)
        ece = GaugeMetricFamily(
            "leadscore_calibration_error",
            "Expected calibration error by segment: estimated (before decisions) or realised",
            labels=["segment", "kind"],
        )
        for g in gauges.calibration_error:
            ece.add_metric([g.segment, g.kind], g.value)
        yield psi
        yield ece
        if gauges.fallback_share is not None:
            yield GaugeMetricFamily(
                "leadscore_fallback_share", "Share of answers the rules gave", value=gauges.fallback_share
            )
        yield GaugeMetricFamily(
            "leadscore_monitor_alerts", "Alerts firing in the last monitor run", value=gauges.alerts_firing
        )
        age = (self.now - self.state.finished_at).total_seconds()
        yield GaugeMetricFamily(
            "leadscore_monitor_age_seconds", "Seconds since the last successful monitor run", value=age
        )


def exposition(folder: Path, now: datetime | None = None) -> str:
    """The kept gauges as Prometheus text ("" before the first successful run)."""
    state = kept(folder)
    if state is None:
        return ""
    registry = CollectorRegistry()
    registry.register(_Kept(state, now or datetime.now(UTC)))
    return generate_latest(registry).decode()
