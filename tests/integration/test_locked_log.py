"""A locked score log never holds up an answer (issue #23, item 2): while another connection holds
the `scores` table locked for 15 s (SQLite `BEGIN EXCLUSIVE`, PostgreSQL `LOCK TABLE ... ACCESS
EXCLUSIVE`), a real `leadscore serve` answers every /score, /healthz and /readyz, each /score
without a trend and saying why; once the lock is gone, the trend is back. Latencies:
benchmarks/bench_locked_log.py."""

from __future__ import annotations

import http.client
import json
import shutil
import threading
import time
from contextlib import contextmanager

import pytest

from tests.conftest import PROJECT
from tests.live import live_service, postgres_database, scores_locked
from tests.waiting import wait_for

KEY = "locked-log-key-83d1"
LEAD = json.loads((PROJECT / "serving" / "examples" / "score.json").read_text())["lead"]
SLOW = "the score log did not answer within 50 ms (busy or locked): no trend this time"
LOCK_SECONDS = 15


@contextmanager
def _database(backend: str, folder):
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'feedback.db'}"
    else:
        with postgres_database("leadscore_locked") as database:
            yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"


def _ask(port: int, path: str, lead_id: str = "L-locked") -> tuple[int, dict]:
    """One request, on a new connection; no answer within 2 s raises TimeoutError."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    try:
        if path == "/score":
            connection.request("POST", path, body=json.dumps({"lead": {**LEAD, "lead_id": lead_id}}), headers=headers)
        else:
            connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read()
        return response.status, json.loads(body) if path != "/healthz" else {}  # /healthz: BentoML's plain text
    finally:
        connection.close()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_locked_score_log_holds_up_no_answer_and_the_trend_says_why(trained, tmp_path, backend):
    shutil.copy(trained["root"] / "mlflow.db", tmp_path / "mlflow.db")
    with (
        _database(backend, tmp_path) as db_url,
        live_service(tmp_path, KEY, f"sqlite:///{tmp_path / 'mlflow.db'}", db_url=db_url) as base,
    ):
        port = int(base.rsplit(":", 1)[1])
        assert wait_for(lambda: _ask(port, "/readyz")[1]["store"] == "ready", 30)  # the tables exist
        answers: dict[str, list] = {"/score": [], "/healthz": [], "/readyz": []}
        with scores_locked(db_url):
            until = time.monotonic() + LOCK_SECONDS

            def client(path: str) -> None:
                while time.monotonic() < until:
                    try:
                        answers[path].append(_ask(port, path))
                    except OSError as exc:  # no answer within 2 s
                        answers[path].append((0, {"error": type(exc).__name__}))

            threads = [threading.Thread(target=client, args=(path,)) for path in answers]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        for path, got in answers.items():  # every one answered (within 2 s), and many of them
            assert len(got) >= 20 and {status for status, _ in got} == {200}, (path, len(got))
        assert {answer["trend"]["reason"] for _, answer in answers["/score"]} == {SLOW}
        assert {answer["store"] for _, answer in answers["/readyz"]} == {"ready"}  # locked, not down
        # the lock gone, the lookup answers again: the same lead's next answer has its trend
        assert wait_for(lambda: _ask(port, "/score")[1]["trend"]["direction"] is not None, 30)
