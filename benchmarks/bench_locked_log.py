"""Benchmark: a locked score log never slows the service (issue #23, item 2).

Run: .venv/bin/python benchmarks/bench_locked_log.py [--short] [--seconds 15]
Trains a model on 20,000 demo leads (as bench_serving.py does; `--mlflow-db PATH`: the model of
an MLflow SQLite store trained before) and starts `leadscore serve` (one worker per core) with
its feedback store and score log on SQLite, then on PostgreSQL (a throwaway database on
127.0.0.1:5432, skipped when it is not reachable). For each, one client per endpoint
sends /score (the README's example lead), /healthz and /readyz back to back: first for `--seconds`
with the `scores` table free, then for `--seconds` while another connection holds it locked
(SQLite: `BEGIN EXCLUSIVE`; PostgreSQL: `LOCK TABLE scores IN ACCESS EXCLUSIVE MODE` in an open
transaction). Prints each endpoint's answers, p50, p99 and max in both windows, and the reasons
the /score answers gave for having no trend. `--short`: 5 s windows (for `make test-slow`).
The clients share the 2 cores with the server: latencies are upper bounds.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))
import pytest
from bench_memory import service_env
from bench_serving import EXAMPLE, KEY, _start, _stop, _wait

from tests.live import free_port, postgres_database, scores_locked

ENDPOINTS = ("/score", "/healthz", "/readyz")
TIMEOUT = 2.0  # seconds a client waits for one answer before counting it as not answered


def _call(connection: http.client.HTTPConnection, path: str, body: bytes) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    if path == "/score":
        connection.request("POST", path, body=body, headers=headers)
    else:
        connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    body = response.read()
    return response.status, json.loads(body) if path != "/healthz" else {}  # /healthz: BentoML's plain text


def probe(port: int, seconds: float) -> dict[str, list[tuple[int, float, str | None]]]:
    """For `seconds`, one client per endpoint asking back to back (keep-alive): per endpoint, each
    answer's status (0: none within TIMEOUT), seconds and, for /score, its trend's reason."""
    body = json.dumps({"lead": {**EXAMPLE["lead"], "lead_id": "L-locked-log"}}).encode()
    found: dict[str, list] = {path: [] for path in ENDPOINTS}
    until = time.monotonic() + seconds

    def client(path: str) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        while time.monotonic() < until:
            began = time.perf_counter()
            try:
                status, answer = _call(connection, path, body)
            except OSError:  # no answer within TIMEOUT (or the connection dropped)
                status, answer = 0, {}
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
            trend = answer.get("trend") or {}
            found[path].append((status, time.perf_counter() - began, trend.get("reason")))
        connection.close()

    threads = [threading.Thread(target=client, args=(path,)) for path in ENDPOINTS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return found


def _report(title: str, found: dict) -> None:
    print(f"  {title}")
    for path, answers in found.items():
        ms = np.array([seconds for _, seconds, _ in answers]) * 1000
        ok = sum(status == 200 for status, _, _ in answers)
        print(
            f"    {path:9} {len(answers):6,} answers, {ok:6,} 200; p50 {np.percentile(ms, 50):6.1f} ms, "
            f"p99 {np.percentile(ms, 99):6.1f} ms, max {ms.max():7.1f} ms"
        )
    reasons = Counter(reason or "(a trend)" for status, _, reason in found["/score"] if status == 200)
    for reason, n in reasons.most_common():
        print(f"    /score trend: {n:6,} x {reason}")


def _store_ready(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        return _call(connection, "/readyz", b"")[1].get("store") == "ready"
    finally:
        connection.close()


def measure(env: dict, folder: Path, db_url: str, seconds: float, port: int) -> None:
    server = _start(
        [str(Path(sys.executable).with_name("leadscore")), "serve", "--port", str(port)],
        {**env, "LEADSCORE_DB_URL": db_url},
        folder,
    )
    try:
        _wait(f"http://127.0.0.1:{port}/score", server)
        while not _store_ready(port):  # the tables exist once the store has opened
            time.sleep(0.5)
        _report(f"{seconds:g} s, the scores table free", probe(port, seconds))
        with scores_locked(db_url):
            _report(f"{seconds:g} s, the scores table locked", probe(port, seconds))
    finally:
        _stop(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each window")
    parser.add_argument("--short", action="store_true", help="5 s windows")
    parser.add_argument("--mlflow-db", type=Path, help="serve this trained MLflow SQLite store (copied)")
    args = parser.parse_args()
    seconds = 5.0 if args.short else args.seconds

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = service_env(folder, args.mlflow_db)
        print("SQLite score log (BEGIN EXCLUSIVE from another connection):", flush=True)
        measure(env, folder, f"sqlite:///{folder / 'feedback.db'}", seconds, free_port())
        print("PostgreSQL score log (LOCK TABLE scores IN ACCESS EXCLUSIVE MODE):", flush=True)
        try:
            with postgres_database("leadscore_bench") as database:
                url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
                measure(env, folder, url, seconds, free_port())
        except pytest.skip.Exception as exc:  # tests.live's answer when PostgreSQL is not there
            print(f"  skipped: {exc}")


if __name__ == "__main__":
    main()
