"""The feedback store's logs: a PostgreSQL connection terminated under the store is one line."""

from __future__ import annotations

import gc
import logging

from sqlalchemy import text

from core.store import FeedbackStore
from core.tables import decisions
from tests.live import postgres_database


def test_a_terminated_postgresql_connection_is_one_line_not_a_traceback(caplog):
    with postgres_database("leadscore_terminated") as database:
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
        store, admin = FeedbackStore(url), FeedbackStore(url)
        assert store.open()
        connection = store.engine.connect()
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar()
        with admin.engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with caplog.at_level(logging.ERROR, logger="sqlalchemy.pool"):
            del connection  # left to the pool, which resets it: the database has closed it
            gc.collect()
        assert store.count(decisions) == 0  # the store reconnects
        store.engine.dispose()
        admin.engine.dispose()
    [record] = [r for r in caplog.records if r.name.startswith("sqlalchemy.pool")]
    assert record.exc_info is None and "\n" not in record.getMessage()
    assert record.getMessage().startswith("Exception during reset or similar: AdminShutdown: terminating connection")
