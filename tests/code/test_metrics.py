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
