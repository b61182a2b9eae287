"""The score log's spool: each worker's queued rows on disk, so that a worker killed (`kill -9`,
out of memory) loses none of them.

Every row is appended to the worker's current spool segment (one line of JSON each, one write per
answer) before it is queued; when the score log's writer takes the queue it closes the segment
(`seal`) and starts a new one, and once the database has the rows (or refused them) the sealed
segments are deleted (`settle`). What is on disk is therefore always what the worker had not
written yet, plus at most the write in progress. Rows dropped because the queue was full are
marked as dropped (`dropped`), so that nobody writes them later.

Each worker holds an exclusive lock (`flock`) on a lock file of its own while it runs; the
system releases it however the worker ends. A worker that finds a lock file it can lock has
found the spool of a worker that stopped (`orphans`): it reads the rows (`Orphan.rows`), leaves
out those already in the score log (the write in progress when the worker died may have
committed: `unwritten`), writes the rest and deletes the files (`Orphan.release`). While it
does, it holds that lock: two workers never replay the same spool.

The folder: `spool_folder(url)`, in the BentoML home (`$BENTOML_HOME`, by default `~/bentoml`),
one folder per score-log database (a digest of its URL), so rows only ever go to the database
they were meant for. `leadscore serve` moves the spools of stopped servers into the new start's
home (serving/metrics.py `start_home`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import secrets
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from pydantic_core import PydanticSerializationError, to_json
from sqlalchemy import select

from core.store import FeedbackStore, UTCDateTime, scores

log = logging.getLogger("leadscore.serving")
SPOOL = "leadscore-spool"  # the folder, in the BentoML home
TIMES = frozenset(column.name for column in scores.columns if isinstance(column.type, UTCDateTime))


def spool_folder(url: str, home: Path | None = None) -> Path:
    """The spool folder of the score log in database `url`, in BentoML's home (default: the one
    this process runs with)."""
    home = home or Path(os.environ.get("BENTOML_HOME") or Path.home() / "bentoml")
    return Path(home) / SPOOL / hashlib.sha256(url.encode()).hexdigest()[:16]


class Spool:
    """One worker's spool segments in `folder` (see the module's docstring). Not thread-safe:
    the score log calls it under its own lock, so the lines are in the order of its queue."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.name = f"{os.getpid()}-{secrets.token_hex(4)}"
        # locked before it gets the name other workers look for: never taken for a stopped one's
        new = self.folder / f"{self.name}.new"
        self._lock = os.open(new, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        new.rename(self.folder / f"{self.name}.lock")
        self._segment = 0
        self._settled = -1  # segments up to this one are deleted
        self._dirty = False  # the current segment holds lines
        self._file = self._open(0)

    def _path(self, segment: int) -> Path:
        return self.folder / f"{self.name}-{segment:08d}.jsonl"

    def _open(self, segment: int) -> int:
        return os.open(self._path(segment), os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)

    def append(self, first: int, rows: list[dict]) -> None:
        """Write `rows`, numbered from `first`, in one write. OSError when the disk refuses."""
        try:  # pydantic-core's encoder: times as ISO 8601, NaN as the JSON module reads it back
            lines = [to_json([first + i, row], inf_nan_mode="constants") for i, row in enumerate(rows)]
        except PydanticSerializationError as exc:
            raise TypeError(f"score log row: a value cannot be spooled ({type(exc).__name__})") from None
        _write(self._file, b"".join(line + b"\n" for line in lines))
        self._dirty = True

    def dropped(self, first: int, last: int) -> None:
        """Rows numbered `first` to `last` were dropped (and counted): never write them later."""
        _write(self._file, json.dumps({"dropped": [first, last]}).encode() + b"\n")
        self._dirty = True

    def seal(self) -> int:
        """Close the current segment (the writer has taken its rows) and start the next; returns
        the sealed segment's number, for `settle` (an empty segment is kept on)."""
        if not self._dirty:
            return self._segment - 1
        self._dirty = False
        os.close(self._file)
        self._segment += 1
        self._file = self._open(self._segment)
        return self._segment - 1

    def settle(self, segment: int) -> None:
        """The rows of the segments up to `segment` are written (or refused): delete them."""
        for old in range(self._settled + 1, segment + 1):
            self._path(old).unlink(missing_ok=True)
        self._settled = max(self._settled, segment)

    def close(self) -> bool:
        """Release the spool; its files are deleted if every row was settled, otherwise kept for
        the next worker (returns True then)."""
        os.close(self._file)
        kept = self._settled < self._segment - 1 or self._dirty
        if not kept:
            self._path(self._segment).unlink(missing_ok=True)
            (self.folder / f"{self.name}.lock").unlink(missing_ok=True)
        os.close(self._lock)  # the lock goes with it
        return kept

    def orphans(self) -> Iterator[Orphan]:
        """The spools in this folder whose worker has stopped, each locked for this worker."""
        for lock in sorted(self.folder.glob("*.lock")):
            name = lock.name.removesuffix(".lock")
            if name == self.name:
                continue
            try:
                handle = os.open(lock, os.O_RDWR)
            except FileNotFoundError:  # released meanwhile by another worker
                continue
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # its worker is running, or another worker replays it
                os.close(handle)
                continue
            yield Orphan(self.folder, name, handle)


class Orphan:
    """The spool of a worker that stopped, locked by this worker until `release`."""

    def __init__(self, folder: Path, name: str, handle: int):
        self.folder, self.name, self._handle = folder, name, handle
        self.segments = sorted(folder.glob(f"{name}-*.jsonl"))

    def rows(self) -> tuple[list[dict], int]:
        """The rows it never wrote nor dropped, oldest first, and how many lines could not be
        read (a last line cut short by the kill is not counted: that answer was never sent)."""
        numbered, dropped, unreadable = [], [], 0
        for path in self.segments:
            data = path.read_bytes()
            lines = data.split(b"\n")
            if lines[-1]:  # no newline at the end: the write the kill interrupted
                log.info("score log spool %s: a last line cut short, left out", path.name)
            for line in lines[:-1]:
                try:
                    entry = json.loads(line)
                    if isinstance(entry, dict):
                        dropped.append(tuple(entry["dropped"]))
                    else:
                        numbered.append((int(entry[0]), _times(entry[1])))
                except (ValueError, KeyError, TypeError, IndexError):
                    unreadable += 1
        rows = [row for n, row in numbered if not any(lo <= n <= hi for lo, hi in dropped)]
        return rows, unreadable

    def release(self) -> None:
        """Delete its files (its rows are written or counted) and the lock."""
        for path in self.segments:
            path.unlink(missing_ok=True)
        (self.folder / f"{self.name}.lock").unlink(missing_ok=True)
        os.close(self._handle)

    def keep(self) -> None:
        """Leave it for a later attempt (the database is down): only the lock is let go."""
        os.close(self._handle)


def unwritten(store: FeedbackStore, rows: list[dict]) -> list[dict]:
    """`rows` less those the score log already holds (same lead and same `scored_at`, counted:
    a batch may score one lead twice at the same instant). StoreUnavailable when it cannot tell."""
    times = [row["scored_at"] for row in rows if isinstance(row.get("scored_at"), datetime)]
    if not times:
        return rows
    query = select(scores.c.lead_id, scores.c.scored_at).where(scores.c.scored_at.between(min(times), max(times)))
    found = store.read(query)
    held = Counter(zip(found["lead_id"], (t.to_pydatetime() for t in found["scored_at"]), strict=True))
    kept = []
    for row in rows:
        key = (row.get("lead_id"), row.get("scored_at"))
        if held[key] > 0:
            held[key] -= 1
        else:
            kept.append(row)
    return kept


def _write(handle: int, data: bytes) -> None:
    while data:
        data = data[os.write(handle, data) :]


def _times(row: dict) -> dict:
    """A spooled row with its time columns read back as datetimes."""
    for name in TIMES & row.keys():
        if isinstance(row[name], str):
            row[name] = datetime.fromisoformat(row[name])
    return row
