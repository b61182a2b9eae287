"""Schema migrations of the feedback store and score log (Alembic), run by `FeedbackStore.open()`.

`upgrade(engine)` brings a database to the newest revision in `versions/` under a lock, so that
several workers starting at once migrate it once: a PostgreSQL advisory lock held by the
migration's transaction, an exclusive `flock` on `<db file>.lock` for a SQLite file (an in-memory
database needs none). The baseline revision creates the tables when missing and adopts a database
made by leadscore 0.1.0 (tables, no `alembic_version`) as it is; nothing is ever dropped. After
the revisions, `grow` adds the nullable answer columns that `core.schema.ANSWER` gained since (see
`core.store.migrate`). No alembic.ini: the configuration is built here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL, Connection, Engine

from core.errors import LeadscoreError

HERE = Path(__file__).resolve().parent
LOCK_KEY = 0x1EAD5C0E  # the advisory lock's key: any fixed number, the same in every worker
LOCK_WAIT = 120.0  # seconds a worker waits for another one's migration


def alembic_config(connection: Connection):
    """Alembic's configuration, without an ini file: the scripts here, run on `connection`."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(HERE).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = connection
    return config


def sqlite_file(url: URL) -> Path | None:
    """The file of a SQLite URL, or None for an in-memory database (or another backend)."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if url.query.get("uri") == "true" and database.startswith("file:"):
        if "mode=memory" in database:
            return None
        database = database.removeprefix("file:").split("?", 1)[0]
    if database in ("", ":memory:"):
        return None
    path = Path(database)
    return None if path.exists() and not path.is_file() else path  # a device (/dev/full) is no database file


@contextmanager
def file_lock(path: Path | None, wait: float = LOCK_WAIT) -> Iterator[None]:
    """An exclusive `flock` on `path` (released when the block ends, or when the process dies)."""
    try:
        import fcntl
    except ImportError:  # not a POSIX system: SQLite's own lock is all there is
        path = None
    if path is None:
        yield
        return
    with open(path, "a") as handle:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"another process has held {path} for over {wait:.0f} s") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def upgrade(engine: Engine, grow: Callable[[Connection], list[str]] | None = None) -> None:
    """Migrate the database to the newest revision, then `grow` it, in one locked transaction
    (SQLite: the file lock and BEGIN IMMEDIATE; PostgreSQL: transactional DDL and an advisory lock)."""
    from alembic import command
    from alembic.util import CommandError

    database = sqlite_file(engine.url)
    lock = file_lock(database.with_name(database.name + ".lock")) if database else nullcontext()
    with lock, engine.connect().execution_options(sqlite_immediate=True) as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        try:
            command.upgrade(alembic_config(connection), "head")
        except CommandError as exc:  # e.g. a database migrated by a newer leadscore
            raise LeadscoreError(f"schema migration: {str(exc).splitlines()[0]}") from None
        if grow is not None:
            grow(connection)
