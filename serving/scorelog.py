"""The score log, written off the request path.

Answers queue their log rows here and one thread inserts them in batches (every `interval`
seconds, sooner when `batch` rows wait), so no answer waits on a database commit. When the
database is down the rows stay queued and are retried; beyond `capacity` queued rows the oldest
are dropped and counted (`on_drop`; scoring never stops for the log). A row the database refuses
(a value it cannot hold) is dropped alone and counted (`on_refused`): the others are written, so
one row never blocks the log. `on_queue` hears how many rows wait whenever a write starts and
ends. Each of these is one log line without row contents. Sales decisions do not go through
here: `/feedback` stores them before it answers.

Feature rows (the model's input features of a sampled share of model answers, `add(rows,
features)`) are queued beside the score rows and written in the same transaction; they are not
spooled: a worker killed with -9 loses the feature rows it had queued (at most `interval` seconds
of them; monitoring reads a sample anyway), never a score row. Beyond `capacity` queued feature
rows the oldest are dropped (`on_features_dropped`).

Retention (`retention_days`, 0 = forever): once a day the writer deletes the score-log and
feature rows scored more than that many days before the newest logged answer, or before now when
that is earlier (`retention_cut`: "as_of throughout" puts a simulated week's answers at that
week's times, which a cut from the wall clock would delete at once).

With a `spool` (serving/spool.py) every row is on disk before it is queued, until the database
has it: a worker killed with rows queued loses none; the next worker to look (every
`recover_every` seconds, and at its start) writes them (`on_recovered`; those the database
already had are left out). `close()` writes what is queued; what it could not write stays in the
spool for the next worker. Without a spool, or for rows that could not be spooled (the disk
full), what `close()` cannot write is counted lost (`on_lost`), as are rows added after it, and
unreadable lines of a spool.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from core.store import FeedbackStore, Logged, StoreUnavailable
from serving.retention import DAY_SECONDS, retention_cut
from serving.spool import Spool, unwritten

log = logging.getLogger("leadscore.serving")


def _none(_n: int) -> None:
    return None


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
        spool: Spool | None = None,
        on_recovered: Callable[[int], None] | None = None,
        recover_every: float = 10.0,
        retention_days: int = 0,
        on_pruned: Callable[[dict[str, int]], None] | None = None,
        on_features_dropped: Callable[[int], None] | None = None,
    ):
        self.store = store
        self.interval = interval
        self.batch = batch
        self.capacity = capacity
        self.on_drop = on_drop or _none
        self.on_refused = on_refused or _none
        self.on_lost = on_lost or _none
        self.on_queue = on_queue or _none  # rows waiting, after each write (a gauge)
        self.on_recovered = on_recovered or _none
        self.spool = spool
        self.recover_every = recover_every
        self.retention_days = retention_days
        self.on_pruned = on_pruned or _none
        self.on_features_dropped = on_features_dropped or _none
        self.pending: deque[tuple[int, dict, bool]] = deque()  # (number, row, spooled)
        self.features: deque[dict] = deque()  # feature rows, not spooled
        self.features_dropped = 0
        self.pruned: dict[str, int] = {}  # rows the retention deleted, by table
        self.dropped = 0  # queue full: oldest rows dropped
        self.refused = 0  # rows the database refused
        self.lost = 0  # rows not written at close (and not kept in the spool)
        self.recovered = 0  # rows of stopped workers written from their spool
        self._number = 0  # the next row's number
        self._taken: list[tuple[int, dict, bool]] = []  # rows a write has taken and not yet settled
        self._wake = threading.Condition()
        self._write = threading.Lock()  # one writer at a time: the thread or a flush
        self._closed = False
        self._failing = False
        self._spool_failing = False
        self._thread = threading.Thread(target=self._run, name="leadscore-score-log", daemon=True)
        self._thread.start()

    def add(self, rows: list[dict], features: list[dict] = ()) -> None:
        """Queue log rows (spooled first) and feature rows (not spooled); never blocks on the database."""
        with self._wake:
            closed = self._closed
            if not closed:
                first, spooled = self._number, self._spooled(self._number, rows)
                self._number += len(rows)
                self.pending.extend((first + i, row, spooled) for i, row in enumerate(rows))
                self.features.extend(features)
            over = self._trim()
            extra = self._trim_features()
            if len(self.pending) >= self.batch:
                self._wake.notify()
        if extra:
            self.on_features_dropped(extra)
        if closed:
            self._count_lost(len(rows), "the score log is closed")
        elif over:
            self.on_drop(over)
            log.warning("score log: %d row(s) dropped, the queue is full (database down?)", over)

    def _spooled(self, first: int, rows: list[dict]) -> bool:
        """Write `rows` to the spool (under `_wake`); False without one or when the disk refuses."""
        if self.spool is None:
            return False
        try:
            self.spool.append(first, rows)
        except (OSError, TypeError) as exc:
            if not self._spool_failing:
                log.warning("score log spool: %s; rows queued in memory only until it works", type(exc).__name__)
            self._spool_failing = True
            return False
        self._spool_failing = False
        return True

    def _trim(self) -> int:
        """Drop the oldest rows beyond `capacity` (under `_wake`); returns how many."""
        over = max(len(self.pending) - self.capacity, 0)
        if over:
            gone = [self.pending.popleft() for _ in range(over)]
            self.dropped += over
            if self.spool is not None:
                try:
                    self.spool.dropped(gone[0][0], gone[-1][0])
                except OSError as exc:  # a later replay may write them after all
                    log.warning("score log spool: %s; dropped rows not marked", type(exc).__name__)
        return over

    def _trim_features(self) -> int:
        """Drop the oldest feature rows beyond `capacity` (under `_wake`); returns how many."""
        over = max(len(self.features) - self.capacity, 0)
        for _ in range(over):
            self.features.popleft()
        self.features_dropped += over
        return over

    def flush(self) -> bool:
        """Write everything queued now; False if the database is unavailable (the rows stay queued).
        Rows the database refuses are dropped and counted."""
        with self._write:
            with self._wake:
                taken = list(self.pending)
                self.pending.clear()
                features = list(self.features)
                self.features.clear()
                self._taken = taken
                sealed = self.spool.seal() if self.spool is not None and taken else None
            if not taken and not features:
                self.on_queue(0)
                return True
            self.on_queue(len(taken))
            try:
                rows = [row for _, row, _ in taken]
                logged = self.store.log_scores(rows, features) if features else self.store.log_scores(rows)
            except StoreUnavailable as exc:
                with self._wake:
                    self.pending.extendleft(reversed(taken))
                    self.features.extendleft(reversed(features))
                    self._taken = []
                    over, extra = self._trim(), self._trim_features()
                if over:
                    self.on_drop(over)
                if extra:
                    self.on_features_dropped(extra)
                if not self._failing:
                    log.warning("score log: %s; %d row(s) kept to retry", exc, len(taken))
                self._failing = True
                self.on_queue(self.queued)
                return False
            except Exception as exc:  # a fault of ours, not of a row: never retried forever either
                logged = Logged(0, len(taken), (type(exc).__name__,))
            with self._wake:
                self._taken = []
                if sealed is not None:
                    self.spool.settle(sealed)
            self._count_refused(logged)
            if self._failing:
                log.warning("score log: writing again")
            self._failing = False
            self.on_queue(self.queued)
            return True

    def _count_refused(self, logged: Logged) -> None:
        if logged.refused:
            self.refused += logged.refused
            self.on_refused(logged.refused)
            log.warning(
                "score log: %d row(s) refused by the database and dropped (%s)",
                logged.refused,
                ", ".join(logged.errors),
            )

    def recover(self) -> bool:
        """Write the rows in the spools of workers that stopped (those the database does not hold
        yet) and delete those spools; False if the database is unavailable (tried again later)."""
        if self.spool is None:
            return True
        for orphan in self.spool.orphans():
            try:
                rows, unreadable = orphan.rows()
                rows = unwritten(self.store, rows)
                logged = self.store.log_scores(rows)
            except StoreUnavailable:
                orphan.keep()
                return False
            except Exception as exc:  # a spool we cannot replay: kept, and said once per look
                orphan.keep()
                log.warning("score log spool %s: not replayed (%s)", orphan.name, type(exc).__name__)
                continue
            orphan.release()
            self._count_refused(logged)
            if unreadable:
                self._count_lost(unreadable, f"unreadable lines in the spool of a stopped worker {orphan.name}")
            if logged.written:
                self.recovered += logged.written
                self.on_recovered(logged.written)
                log.warning("score log: %d row(s) a stopped worker had queued written from its spool", logged.written)
        return True

    @property
    def queued(self) -> int:
        """Rows waiting to be written (queued, and taken by a write not yet settled)."""
        with self._wake:
            return len(self.pending) + len(self._taken)

    def prune(self) -> bool:
        """Delete what the retention no longer keeps (`retention_cut`); False if the database is
        unavailable (tried again later). Nothing to do without a retention."""
        if self.retention_days <= 0:
            return True
        try:
            cut = retention_cut(self.store, self.retention_days)
            deleted = self.store.prune(cut) if cut is not None else {}
        except StoreUnavailable:
            return False
        except Exception as exc:  # a fault of ours: said, and tried again tomorrow
            log.warning("score log retention: not pruned (%s)", type(exc).__name__)
            return True
        if any(deleted.values()):
            for table, n in deleted.items():
                self.pruned[table] = self.pruned.get(table, 0) + n
            self.on_pruned(deleted)
            done = ", ".join(f"{n} from {table}" for table, n in deleted.items())
            log.info("score log retention: deleted rows scored before %s: %s", cut.isoformat(), done)
        return True

    def _run(self) -> None:
        look = 0.0  # when to look for the spools of stopped workers next: at once, then now and then
        prune = time.monotonic() + self.interval  # the retention: soon after the start, then once a day
        while True:
            if time.monotonic() >= look:
                look = time.monotonic() + (self.recover_every if self.recover() else self.interval)
            if time.monotonic() >= prune:
                prune = time.monotonic() + (DAY_SECONDS if self.prune() else self.recover_every)
            with self._wake:
                if not self._closed and len(self.pending) < self.batch:
                    self._wake.wait(self.interval)
                closed = self._closed
            self.flush()
            if closed:
                return

    def close(self, timeout: float = 10.0) -> int:
        """Stop the writer after it has written what is queued. Rows it could not write (the
        database down, or a write still running after `timeout` seconds) stay in the spool for the
        next worker; those not in a spool are counted lost and reported. Returns how many were lost."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join(timeout)
        with self._wake:
            running = self._thread.is_alive()
            left = list(self.pending) + (self._taken if running else [])
            self.pending.clear()
            self.features.clear()  # not spooled: lost with the worker, as documented
        if self.spool is not None and not running:  # a write still running may yet settle its rows
            self.spool.close()
        lost = sum(1 for _, _, spooled in left if not spooled)
        why = "a write still running" if running else "the database unavailable"
        if lost:
            self._count_lost(lost, why)
        if len(left) > lost:
            log.warning("score log: %d row(s) not written at shutdown (%s), kept in the spool", len(left) - lost, why)
        return lost

    def _count_lost(self, n: int, why: str) -> None:
        self.lost += n
        self.on_lost(n)
        log.warning("score log: %d row(s) not written (%s)", n, why)
