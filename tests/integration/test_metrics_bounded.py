"""A real `leadscore serve`: made-up paths add no metrics series (BentoML's request metrics are
labelled by route), and a worker killed under load loses no score-log row uncounted and leaves no
gauge behind."""

from __future__ import annotations

import http.client
import json
import os
import threading
from pathlib import Path
from urllib.parse import urlparse

import psutil
import pytest
from sqlalchemy import create_engine, text

from serving.spool import SPOOL
from tests.conftest import PROJECT
from tests.live import live_service
from tests.waiting import wait_for

KEY = "metrics-test-key-7f1e"
MADE_UP = 3_000


def _get(connection: http.client.HTTPConnection, path: str, key: str | None = None) -> tuple[int, bytes]:
    connection.request("GET", path, headers={"Authorization": f"Bearer {key}"} if key else {})
    response = connection.getresponse()
    return response.status, response.read()


def _scrape(base: str) -> tuple[bytes, dict[tuple[str, frozenset], float]]:
    """/metrics as sent, and as {(sample name, its labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    url = urlparse(base)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    status, body = _get(connection, "/metrics", KEY)
    connection.close()
    assert status == 200
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }
    return body, samples


def _endpoints(samples: dict) -> set[str]:
    return {value for _, labels in samples for name, value in labels if name == "endpoint"}


@pytest.mark.slow  # a server's start and 3,000 requests: about 40 s
def test_made_up_paths_add_no_metrics_series(tmp_path):
    """3,000 unauthenticated requests to paths nobody serves, each answered 401: /metrics grows by
    less than 50 KB (it grew by 23 MB when BentoML labelled its metrics by the raw path)."""
    with live_service(tmp_path, KEY, f"sqlite:///{tmp_path / 'empty-mlflow.db'}") as base:
        before, _ = _scrape(base)
        url = urlparse(base)
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        statuses = {_get(connection, f"/made-up-{i}/{i * 7919 % 1000}")[0] for i in range(MADE_UP)}
        connection.close()
        after, samples = _scrape(base)
    assert statuses == {401}
    assert len(after) - len(before) < 50_000, f"/metrics grew from {len(before):,} to {len(after):,} bytes"
    assert _endpoints(samples) == {"/score", "/score_batch", "/feedback", "/readyz", "other"}


def _workers(server_port: int) -> list[psutil.Process]:
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "serve" in cmdline and str(server_port) in cmdline:
            return [c for c in process.children(recursive=True) if "worker.service" in _cmdline(c)]
    return []


def _cmdline(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:  # ended meanwhile (a killed worker not yet reaped)
        return ""


def _kill_with_rows_queued(worker: psutil.Process) -> int:
    """SIGKILL `worker` at a moment it has score-log rows queued (stopped first, so that it cannot
    write them meanwhile: its spool segments hold them). Returns its process id."""
    spool = Path(worker.environ()["BENTOML_HOME"]) / SPOOL

    def queued() -> bool:
        worker.suspend()
        if any(p.stat().st_size for p in spool.glob(f"*/{worker.pid}-*.jsonl")):
            return True
        worker.resume()
        return False

    assert wait_for(queued, timeout=30, every=0.01)
    worker.kill()
    return worker.pid


def _score_log(db_url: str) -> list[str]:
    engine = create_engine(db_url)
    with engine.connect() as connection:
        lead_ids = [row[0] for row in connection.execute(text("select lead_id from scores"))]
    engine.dispose()
    return lead_ids


@pytest.mark.slow
def test_a_worker_killed_under_load_loses_no_score_log_row_uncounted(tmp_path):
    """Four clients score unique leads; one worker is killed with SIGKILL once 300 answers came
    back. Every lead answered is in the score log exactly once (or counted lost), the log holds
    no lead that was not sent, and the killed worker's queue gauge is gone from the scrape."""
    lead = json.loads((PROJECT / "serving" / "examples" / "score.json").read_text())["lead"]
    db_url = f"sqlite:///{tmp_path / 'feedback.db'}"
    with live_service(tmp_path, KEY, f"sqlite:///{tmp_path / 'empty-mlflow.db'}", db_url=db_url) as base:
        url = urlparse(base)
        workers = _workers(url.port)
        assert len(workers) == (os.cpu_count() or 1)
        metrics_dir = Path(workers[0].environ()["PROMETHEUS_MULTIPROC_DIR"])
        answered, tried, killed = [], [], threading.Event()
        stop = threading.Event()

        def client(k: int) -> None:
            # a new connection per request: a kept-alive one stays with one worker, and the kernel
            # may give all four clients' connections to the same worker, leaving the victim idle
            i = 0
            while not stop.is_set():
                lead_id, i = f"L-kill-{k}-{i}", i + 1
                tried.append(lead_id)
                connection = http.client.HTTPConnection(url.hostname, url.port, timeout=15)
                try:
                    body = json.dumps({"lead": {**lead, "lead_id": lead_id}})
                    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
                    connection.request("POST", "/score", body, headers)
                    response = connection.getresponse()
                    response.read()
                    if response.status == 200:
                        answered.append(lead_id)
                except (OSError, http.client.HTTPException):
                    pass  # the request the kill cut off: tried, not answered
                finally:
                    connection.close()
                if killed.is_set() and len(answered) > 600:
                    stop.set()

        threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
        for thread in threads:
            thread.start()
        try:
            assert wait_for(lambda: len(answered) >= 300, timeout=60, every=0.05)
            victim = _kill_with_rows_queued(workers[0])
            killed.set()
            assert wait_for(stop.is_set, timeout=120, every=0.1)
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)
        assert wait_for(lambda: len(_workers(url.port)) == len(workers), timeout=120, every=0.5)

        def settled() -> bool:
            _, samples = _scrape(base)
            lost = samples.get(("leadscore_score_log_lost_total", frozenset()), 0)
            queued = samples.get(("leadscore_score_log_queue", frozenset()), 0)
            return queued == 0 and len(_score_log(db_url)) + lost >= len(answered)

        assert wait_for(settled, timeout=120, every=1)
        _, samples = _scrape(base)
    logged = _score_log(db_url)
    lost = samples[("leadscore_score_log_lost_total", frozenset())]
    recovered = samples[("leadscore_score_log_recovered_total", frozenset())]
    print(f"\n{len(answered):,} answers, {len(logged):,} rows ({recovered:.0f} from the spool), {lost:.0f} lost")
    assert len(logged) == len(set(logged))  # none written twice
    assert lost == 0 and set(answered) <= set(logged)  # every answer logged
    assert recovered > 0  # some of them from the killed worker's spool
    assert set(logged) <= set(tried)  # (a request the kill cut off may be logged without its answer)
    assert not list(metrics_dir.glob(f"gauge_live*_{victim}.db"))  # its live gauges are gone
