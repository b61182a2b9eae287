"""A worker gives a large request's memory back once it is answered (issue #23, item 10;
serving/memory.py): in a fresh process, after a 20 MiB block was freed (which makes glibc keep
later large blocks in its heap), a 16 MiB body joined from 64 KiB chunks and freed leaves the
process's RSS where it was. The service under rounds of hostile requests: benchmarks/bench_memory.py."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import PROJECT

PROGRAM = """
import sys
import psutil
from serving.memory import return_large_buffers

fixed = return_large_buffers()
rss = lambda: psutil.Process().memory_info().rss / 2**20
big = bytearray(20 * 2**20)
del big
before = rss()
body = b"".join([b"x" * 2**16] * 256)
del body
print(fixed, rss() - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_a_large_body_freed_goes_back_to_the_system():
    run = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, cwd=PROJECT, timeout=60)
    assert run.returncode == 0, run.stderr
    fixed, grown_mib = run.stdout.split()
    assert fixed == "True"
    assert float(grown_mib) < 4  # 16 MiB were allocated and freed; without the fix all 16 stay
