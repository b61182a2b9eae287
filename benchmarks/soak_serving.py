"""Soak: the scoring service at a fixed request rate for minutes, on loopback.

Run: .venv/bin/python benchmarks/soak_serving.py [--minutes 10] [--share 0.7]
Trains a model on 20,000 demo leads into a throwaway store, starts `leadscore serve`, measures
its capacity (requests/s at concurrency 8 for 15 s, after 10 s of warm-up), then sends single-lead /score requests at
`share` of that rate, open loop (each request has a scheduled time; latency counts from it, so a
stall shows up as latency, not as fewer requests). Prints, per minute: requests, errors, p50 and
p99 latency, the service's memory (all processes), the CPU it used and the CPU the machine's host
took from this virtual machine (steal: time the cores were not ours), then the drift from the
first minute.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serving import (
    EXAMPLE,
    _load,
    _request,
    _response,
    _rss_mb,
    _start,
    _stop,
    _wait,
    open_connections,
    trained_service_env,
)

PORT = 3927


async def _open_loop(rate: float, seconds: float, connections: int = 32) -> tuple[np.ndarray, int]:
    """Requests scheduled every 1/rate s for `seconds`; (latencies from schedule in ms, errors)."""
    request = _request("/score", EXAMPLE, PORT)
    due: asyncio.Queue[float] = asyncio.Queue()
    latencies: list[float] = []
    errors = 0

    async def worker(reader, writer):
        nonlocal errors
        try:
            while (scheduled := await due.get()) is not None:
                writer.write(request)
                status = await _response(reader)
                latencies.append(time.perf_counter() - scheduled)
                errors += status != 200
        finally:
            writer.close()

    opened = await open_connections(PORT, connections, request)
    workers = [asyncio.create_task(worker(r, w)) for r, w in opened]
    start = time.perf_counter()
    n = int(rate * seconds)
    for i in range(n):
        scheduled = start + i / rate
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        due.put_nowait(scheduled)
    for _ in workers:
        due.put_nowait(None)
    await asyncio.gather(*workers)
    return np.array(latencies) * 1e3, errors


def _cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by the service (all its processes)."""
    import psutil

    process = psutil.Process(pid)
    return sum(sum(p.cpu_times()[:2]) for p in [process, *process.children(recursive=True)])


def _steal() -> tuple[int, int]:
    """(steal, total) clock ticks of all cores since boot, from /proc/stat (0, 1 elsewhere)."""
    try:
        ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0, 1
    return ticks[7], sum(ticks[:8])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--share", type=float, default=0.7, help="share of the measured capacity to send")
    parser.add_argument(
        "--rate", type=float, default=None, help="requests/s to send instead (default: share x capacity)"
    )
    args = parser.parse_args()
    from rich.console import Console
    from rich.table import Table

    console = Console()
    tmp = Path(tempfile.mkdtemp())
    with console.status("training a model on 20,000 demo leads"):
        env = trained_service_env(tmp)
    server = _start([str(Path(sys.executable).with_name("leadscore")), "serve", "--port", str(PORT)], env, tmp)
    rows = []
    try:
        _wait(f"http://127.0.0.1:{PORT}/score", server)
        asyncio.run(_load(PORT, "/score", EXAMPLE, 8, 10))  # warm-up: first requests of each worker
        capacity = asyncio.run(_load(PORT, "/score", EXAMPLE, 8, 15))["rps"]
        rate = args.rate or capacity * args.share
        console.print(f"capacity {capacity:.0f} requests/s at concurrency 8; soaking at {rate:.0f}/s")
        for minute in range(1, args.minutes + 1):
            cpu, (steal, ticks) = _cpu_seconds(server.pid), _steal()
            ms, errors = asyncio.run(_open_loop(rate, 60))
            steal_now, ticks_now = _steal()
            rows.append(
                (
                    minute,
                    len(ms),
                    errors,
                    np.percentile(ms, 50),
                    np.percentile(ms, 99),
                    _rss_mb(server.pid),
                    (_cpu_seconds(server.pid) - cpu) / 60,
                    (steal_now - steal) / max(ticks_now - ticks, 1),
                )
            )
            console.print(f"minute {minute}: p99 {rows[-1][4]:.1f} ms, {rows[-1][5]:.0f} MB, steal {rows[-1][7]:.1%}")
    finally:
        _stop(server)
    table = Table(title=f"soak at {rate:.0f} requests/s ({rate / capacity:.0%} of the measured {capacity:.0f})")
    for name in ("minute", "requests", "errors", "p50 ms", "p99 ms", "memory MB", "service CPU (cores)", "steal"):
        table.add_column(name, justify="right")
    for minute, n, errors, p50, p99, mb, cores, steal in rows:
        table.add_row(
            str(minute), f"{n:,}", str(errors), f"{p50:.1f}", f"{p99:.1f}", f"{mb:.0f}", f"{cores:.2f}", f"{steal:.1%}"
        )
    console.print(table)
    first, last = rows[0], rows[-1]
    console.print(
        f"errors {sum(r[2] for r in rows)}; last minute vs first: p99 {last[4] / first[4]:.2f}x, "
        f"memory {last[5] - first[5]:+.0f} MB"
    )


if __name__ == "__main__":
    main()
