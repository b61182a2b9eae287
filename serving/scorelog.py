"""The score log, written off the request path.

Answers queue their log rows here and one thread inserts them in batches (every `interval`
seconds, sooner when `batch` rows wait), so no answer waits on a database commit. When the
database is down the rows stay queued and are retried; beyond `capacity` queued rows the oldest
are dropped and counted (scoring never stops for the log). `close()` writes what is queued. Sales
decisions do not go through here: `/feedback` stores them before it answers.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

from core.store import FeedbackStore, StoreUnavailable

log = logging.getLogger("leadscore.serving")


class ScoreLog:
    def __init__(
        self,
        store: FeedbackStore,
        interval: float = 0.5,
        batch: int = 2_000,
        capacity: int = 200_000,
        on_drop: Callable[[int], None] | None = None,
    ):
        self.store = store
        self.interval = interval
        self.batch = batch
        self.capacity = capacity
        self.on_drop = on_drop or (lambda _n: None)
        self.pending: deque[dict] = deque()
        self.dropped = 0
        self._wake = threading.Condition()
        self._write = threading.Lock()  # one writer at a time: the thread or a flush
        self._closed = False
        self._failing = False
        self._thread = threading.Thread(target=self._run, name="leadscore-score-log", daemon=True)
        self._thread.start()

    def add(self, rows: list[dict]) -> None:
        """Queue log rows; never blocks on the database."""
        with self._wake:
            self.pending.extend(rows)
            over = len(self.pending) - self.capacity
            for _ in range(max(over, 0)):
                self.pending.popleft()
            self.dropped += max(over, 0)
            if len(self.pending) >= self.batch:
                self._wake.notify()
        if over > 0:
            self.on_drop(over)
            log.warning("score log: %d row(s) dropped, the queue is full (database down?)", over)

    def flush(self) -> bool:
        """Write everything queued now; False if the database refused (the rows stay queued)."""
        with self._write:
            with self._wake:
                rows = list(self.pending)
                self.pending.clear()
            if not rows:
                return True
            try:
                self.store.log_scores(rows)
            except StoreUnavailable as exc:
                with self._wake:
                    self.pending.extendleft(reversed(rows[-self.capacity :]))
                if not self._failing:
                    log.warning("score log: %s; %d row(s) kept to retry", exc, len(rows))
                self._failing = True
                return False
            if self._failing:
                log.warning("score log: writing again")
            self._failing = False
            return True

    def _run(self) -> None:
        while True:
            with self._wake:
                if not self._closed and len(self.pending) < self.batch:
                    self._wake.wait(self.interval)
                closed = self._closed
            self.flush()
            if closed:
                return

    def close(self, timeout: float = 10.0) -> None:
        """Stop the writer after it has written what is queued (or given up on it)."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join(timeout)
