"""The score log, written off the request path.

Answers queue their log rows here and one thread inserts them in batches (every `interval`
seconds, sooner when `batch` rows wait), so no answer waits on a database commit. When the
database is down the rows stay queued and are retried; beyond `capacity` queued rows the oldest
are dropped and counted (`on_drop`; scoring never stops for the log). A row the database refuses
(a value it cannot hold) is dropped alone and counted (`on_refused`): the others are written, so
one row never blocks the log. `on_queue` hears how many rows wait whenever a write starts and
ends. `close()` writes what is queued and counts what it could not write
(`on_lost`). Each of these is one log line without row contents. Sales decisions do not go
through here: `/feedback` stores them before it answers.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

from core.store import FeedbackStore, Logged, StoreUnavailable

log = logging.getLogger("leadscore.serving")


class ScoreLog:
    def __init__(
        self,
        store: FeedbackStore,
        interval: float = 0.5,
        batch: int = 2_000,
        capacity: int = 200_000,
        on_drop: Callable[[int], None] | None = None,
        on_refused: Callable[[int], None] | None = None,
        on_lost: Callable[[int], None] | None = None,
        on_queue: Callable[[int], None] | None = None,
    ):
        self.store = store
        self.interval = interval
        self.batch = batch
        self.capacity = capacity
        self.on_drop = on_drop or (lambda _n: None)
        self.on_refused = on_refused or (lambda _n: None)
        self.on_lost = on_lost or (lambda _n: None)
        self.on_queue = on_queue or (lambda _n: None)  # rows waiting, after each write (a gauge)
        self.pending: deque[dict] = deque()
        self.dropped = 0  # queue full: oldest rows dropped
        self.refused = 0  # rows the database refused
        self.lost = 0  # rows not written at close
        self._writing = 0  # rows a write has taken from the queue and not yet settled
        self._wake = threading.Condition()
        self._write = threading.Lock()  # one writer at a time: the thread or a flush
        self._closed = False
        self._failing = False
        self._thread = threading.Thread(target=self._run, name="leadscore-score-log", daemon=True)
        self._thread.start()

    def add(self, rows: list[dict]) -> None:
        """Queue log rows; never blocks on the database."""
        with self._wake:
            closed = self._closed
            if not closed:
                self.pending.extend(rows)
            over = len(self.pending) - self.capacity
            for _ in range(max(over, 0)):
                self.pending.popleft()
            self.dropped += max(over, 0)
            if len(self.pending) >= self.batch:
                self._wake.notify()
        if closed:
            self._count_lost(len(rows), "the score log is closed")
        elif over > 0:
            self.on_drop(over)
            log.warning("score log: %d row(s) dropped, the queue is full (database down?)", over)

    def flush(self) -> bool:
        """Write everything queued now; False if the database is unavailable (the rows stay queued).
        Rows the database refuses are dropped and counted."""
        with self._write:
            with self._wake:
                rows = list(self.pending)
                self.pending.clear()
                self._writing = len(rows)
            if not rows:
                self.on_queue(0)
                return True
            self.on_queue(len(rows))
            try:
                logged = self.store.log_scores(rows)
            except StoreUnavailable as exc:
                with self._wake:
                    self.pending.extendleft(reversed(rows[-self.capacity :]))
                    self._writing = 0
                if not self._failing:
                    log.warning("score log: %s; %d row(s) kept to retry", exc, len(rows))
                self._failing = True
                self.on_queue(self.queued)
                return False
            except Exception as exc:  # a fault of ours, not of a row: never retried forever either
                logged = Logged(0, len(rows), (type(exc).__name__,))
            self._writing = 0
            if logged.refused:
                self.refused += logged.refused
                self.on_refused(logged.refused)
                log.warning(
                    "score log: %d row(s) refused by the database and dropped (%s)",
                    logged.refused,
                    ", ".join(logged.errors),
                )
            if self._failing:
                log.warning("score log: writing again")
            self._failing = False
            self.on_queue(self.queued)
            return True

    @property
    def queued(self) -> int:
        """Rows waiting to be written (queued, and taken by a write not yet settled)."""
        with self._wake:
            return len(self.pending) + self._writing

    def _run(self) -> None:
        while True:
            with self._wake:
                if not self._closed and len(self.pending) < self.batch:
                    self._wake.wait(self.interval)
                closed = self._closed
            self.flush()
            if closed:
                return

    def close(self, timeout: float = 10.0) -> int:
        """Stop the writer after it has written what is queued; the rows it could not write (the
        database down, or a write still running after `timeout` seconds) are counted and reported.
        Returns how many."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join(timeout)
        with self._wake:
            lost = len(self.pending) + (self._writing if self._thread.is_alive() else 0)
            self.pending.clear()
        if lost:
            why = "a write still running" if self._thread.is_alive() else "the database unavailable"
            self._count_lost(lost, why)
        return lost

    def _count_lost(self, n: int, why: str) -> None:
        self.lost += n
        self.on_lost(n)
        log.warning("score log: %d row(s) not written at shutdown (%s)", n, why)
