"""Each `leadscore serve` start keeps its metrics in a BentoML home of its own; the homes of servers
that stopped are removed at the next start, those of running ones kept."""

from __future__ import annotations

import os
import subprocess
import sys

from serving.metrics import HOME_PREFIX, start_home


def _stopped_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_each_start_has_its_own_home(tmp_path):
    first, second = start_home(tmp_path), start_home(tmp_path)
    assert first != second and first.is_dir() and second.is_dir()
    assert first.name.startswith(f"{HOME_PREFIX}{os.getpid()}-")
    assert oct(first.stat().st_mode & 0o777) == "0o700"  # the user's alone


def test_homes_of_stopped_servers_are_removed_at_the_next_start(tmp_path):
    stopped = tmp_path / f"{HOME_PREFIX}{_stopped_pid()}-abc"
    (stopped / "prometheus_multiproc_dir").mkdir(parents=True)
    running = tmp_path / f"{HOME_PREFIX}{os.getpid()}-def"
    running.mkdir()
    other = tmp_path / "leadscore-serve-notes"  # not one of ours: no process id
    other.mkdir()
    new = start_home(tmp_path)
    assert not stopped.exists() and running.exists() and other.exists() and new.exists()


def test_the_spools_of_stopped_servers_move_into_the_new_home(tmp_path):
    """Rows a stopped server's workers had not written are written by the next server's."""
    from serving.spool import SPOOL

    spooled = tmp_path / f"{HOME_PREFIX}{_stopped_pid()}-abc" / SPOOL / "db1"
    spooled.mkdir(parents=True)
    (spooled / "7-aa.lock").touch()
    (spooled / "7-aa-00000000.jsonl").write_text("[0, {}]\n")
    new = start_home(tmp_path)
    assert sorted(p.name for p in (new / SPOOL / "db1").iterdir()) == ["7-aa-00000000.jsonl", "7-aa.lock"]
    assert (new / SPOOL / "db1" / "7-aa-00000000.jsonl").read_text() == "[0, {}]\n"
    assert not spooled.exists()


WORKER = """
import os, sys
from prometheus_client import Counter, Gauge
Gauge("queue", "rows waiting", multiprocess_mode="livesum").set(int(sys.argv[1]))
Counter("answers", "answers given").inc(int(sys.argv[1]))
print(os.getpid(), flush=True)
os._exit(0) if sys.argv[2] == "dies" else sys.stdin.read()
"""


def test_the_live_gauges_of_dead_workers_are_forgotten_their_counters_kept(tmp_path):
    """A worker that died without telling prometheus_client (kill -9) no longer adds its queue to
    the scrape; what it counted stays counted."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    from serving.metrics import forget_dead_workers

    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    dead = subprocess.run([sys.executable, "-c", WORKER, "7", "dies"], env=env, capture_output=True, text=True)
    alive = subprocess.Popen(
        [sys.executable, "-c", WORKER, "5", "waits"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    alive_pid = int(alive.stdout.readline())

    def scraped() -> dict[str, float]:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, str(tmp_path))
        return {s.name: s.value for m in registry.collect() for s in m.samples if s.name in ("queue", "answers_total")}

    try:
        assert scraped() == {"queue": 12, "answers_total": 12}  # the dead worker's 7 still in the queue
        assert forget_dead_workers(tmp_path) == [int(dead.stdout)]
        assert scraped() == {"queue": 5, "answers_total": 12}
        assert forget_dead_workers(tmp_path) == [] and alive.poll() is None
    finally:
        alive.communicate("")
    assert forget_dead_workers(tmp_path) == [alive_pid] and scraped() == {"answers_total": 12}
