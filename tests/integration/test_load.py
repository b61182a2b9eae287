"""Load and process faults against a real `leadscore serve` (slow: `make test-slow`, CI runs it):
20,000 sales decisions from 16 concurrent clients with retried duplicates, stored exactly once on
SQLite and on PostgreSQL; a worker killed under load."""

from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import signal
import threading
import time
from urllib.parse import urlparse

import psutil
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import PROJECT, decision
from tests.live import live_service, postgres_database
from tests.waiting import wait_for

pytestmark = pytest.mark.slow
KEY = "load-test-key-93ab"
DECISIONS, CLIENTS = 20_000, 16


def _post(connection: http.client.HTTPConnection, path: str, body: dict) -> tuple[int, dict]:
    connection.request(
        "POST",
        path,
        body=json.dumps(body),
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
    )
    response = connection.getresponse()
    return response.status, json.loads(response.read() or b"{}")


def _post_decisions(base: str) -> tuple[int, int, list]:
    """16 clients post their share of 20,000 decisions; about one in ten is posted twice (a
    client retrying after a lost answer). Returns (answers stored, answers duplicate, errors)."""
    url = urlparse(base)
    stored, duplicate, errors = [0] * CLIENTS, [0] * CLIENTS, []

    def client(k: int) -> None:
        rng = random.Random(k)
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        for i in range(k, DECISIONS, CLIENTS):
            accepted = i % 3 != 0
            body = {
                "feedback": decision(
                    f"load-{i}",
                    f"L-{i % 5_000}",
                    **({"decision": "accepted", "reason": None} if accepted else {}),
                )
            }
            for _attempt in range(2 if rng.random() < 0.1 else 1):
                status, receipt = _post(connection, "/feedback", body)
                if status != 200:
                    errors.append((i, status, receipt))
                    continue
                duplicate[k] += receipt["duplicate"]
                stored[k] += receipt["stored"]
        connection.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(stored), sum(duplicate), errors


def _count(url: str) -> tuple[int, int]:
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(text("select count(*), count(distinct feedback_id) from decisions")).one()
    engine.dispose()
    return tuple(rows)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_concurrent_decisions_are_stored_exactly_once(tmp_path, backend):
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'feedback.db'}"
        _run_load(tmp_path, url)
        return
    with postgres_database("leadscore_load") as database:
        _run_load(tmp_path, f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}")


def _run_load(tmp_path, url: str) -> None:
    began = time.perf_counter()
    with live_service(tmp_path, KEY, f"sqlite:///{tmp_path / 'empty-mlflow.db'}", db_url=url) as base:
        stored, duplicate, errors = _post_decisions(base)
    took = time.perf_counter() - began
    rows, distinct = _count(url)
    print(
        f"\n{url.split(':')[0]}: {stored:,} stored + {duplicate:,} duplicates answered in {took:.0f} s; rows {rows:,}"
    )
    assert errors == []
    assert stored == DECISIONS and rows == distinct == DECISIONS  # none lost, none doubled
    assert duplicate > 1_000  # the retries really happened


def _workers(base: str) -> list[psutil.Process]:
    port = str(urlparse(base).port)
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "serve" in cmdline and port in cmdline:
            return [c for c in process.children(recursive=True) if "worker.service" in " ".join(c.cmdline())]
    return []


def test_a_worker_killed_under_load_is_replaced_and_nothing_hangs(trained, tmp_path):
    """Four clients score for 20 s; one worker is killed once 200 answers came back. Requests in
    flight may fail, none waits past the 10 s timeout, and the service is whole again."""
    shutil.copy(trained["root"] / "mlflow.db", tmp_path / "mlflow.db")
    body = json.loads((PROJECT / "serving" / "examples" / "score.json").read_text())
    with live_service(tmp_path, KEY, f"sqlite:///{tmp_path / 'mlflow.db'}") as base:
        before = _workers(base)
        assert len(before) == (os.cpu_count() or 1)
        url, stop = urlparse(base), time.monotonic() + 20
        results: list[tuple[object, float]] = []

        def client() -> None:
            connection = None
            while time.monotonic() < stop:
                began = time.monotonic()
                try:
                    connection = connection or http.client.HTTPConnection(url.hostname, url.port, timeout=15)
                    outcome = _post(connection, "/score", body)[0]
                except (OSError, http.client.HTTPException) as exc:
                    outcome, connection = type(exc).__name__, None
                results.append((outcome, time.monotonic() - began))

        threads = [threading.Thread(target=client) for _ in range(4)]
        for thread in threads:
            thread.start()
        assert wait_for(lambda: len(results) >= 200, timeout=15, every=0.1)  # load is flowing
        os.kill(before[0].pid, signal.SIGKILL)
        for thread in threads:
            thread.join()
        failed = [r for r in results if r[0] != 200]
        print(f"\n{len(results):,} requests, {len(failed)} failed around the kill: {failed[:8]}")
        assert max(seconds for _, seconds in results) < 12  # nothing hangs past the timeout
        assert len(failed) <= 8  # only what was in flight on the killed worker
        assert results[-1][0] == 200
        wait_for(lambda: len(_workers(base)) >= len(before), timeout=60, every=0.5)
        assert len(_workers(base)) == len(before)  # the killed worker was replaced
