"""Soak: the scoring service at a fixed request rate for minutes, on loopback.

Run: .venv/bin/python benchmarks/soak_serving.py [--minutes 10] [--share 0.7] [--slo-ms 50] [--short]
(--short: a model on 3,000 leads, 2 s capacity steps and two 10 s "minutes": the whole path in about
a minute, for `make test-slow`; its figures are not a soak.)
Trains a model on 20,000 demo leads into a throwaway store and starts `leadscore serve`. Then it
measures the service's capacity for the soak's own traffic: single-lead /score requests sent open
loop (each request has a scheduled time; latency counts from it, so a stall shows up as latency,
not as fewer requests) over one pool of 32 keep-alive connections, opened once as a CRM's HTTP
client would, 20 s at each of rising rates; the capacity is the highest rate whose p99
stayed within `--slo-ms` with no error. (The closed-loop figure at concurrency 8 overstates it:
back-to-back requests share the workers' wake-ups and reads, requests arriving one by one do
not.) The soak then sends `share` of that capacity for `--minutes` and prints, per minute:
requests, errors, p50 and p99 latency, the service's memory (all processes), the CPU the service
and the load generator used, and the CPU the machine's host took from this virtual machine
(steal); then the drift from the first minute and how the pool's connections fell on the workers
(the kernel gives each new connection to one worker; a worker holding most of them takes most of
the load).
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
    free_port,
    open_connections,
    trained_service_env,
)

PORT = free_port()  # the service's port (other benchmarks and tests may run beside this one)


async def _open_loop(pool: list, rate: float, seconds: float) -> tuple[np.ndarray, int]:
    """Requests scheduled every 1/rate s for `seconds`, each sent on a free connection of `pool`;
    (latencies from schedule in ms, errors). The connections stay open for the next call."""
    request = _request("/score", EXAMPLE, PORT)
    due: asyncio.Queue[float | None] = asyncio.Queue()
    latencies: list[float] = []
    errors = 0

    async def worker(reader, writer):
        nonlocal errors
        while (scheduled := await due.get()) is not None:
            writer.write(request)
            status = await _response(reader)
            latencies.append(time.perf_counter() - scheduled)
            errors += status != 200

    workers = [asyncio.create_task(worker(r, w)) for r, w in pool]
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


def _spread(pid: int) -> list[int]:
    """The pool's connections held by each of the service's worker processes (BentoML starts
    them with `--worker-id`), most first; a worker holding none counts as 0."""
    import psutil

    workers = [p for p in psutil.Process(pid).children(recursive=True) if "--worker-id" in p.cmdline()]
    held = [
        sum(c.status == psutil.CONN_ESTABLISHED and c.laddr.port == PORT for c in p.net_connections("tcp"))
        for p in workers
    ]
    return sorted(held, reverse=True)


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


async def _capacity(pool: list, closed: float, slo_ms: float, console, seconds: float = 20) -> float:
    """The highest open-loop rate, from 40% of the closed-loop figure up in steps of 10%, whose
    p99 stayed within `slo_ms` with no error (the first step, if none did)."""
    held = None
    for share in np.arange(0.4, 1.31, 0.1):
        rate = closed * share
        ms, errors = await _open_loop(pool, rate, seconds)
        p99 = np.percentile(ms, 99)
        console.print(f"capacity: {rate:.0f}/s for {seconds:.0f} s: p99 {p99:.1f} ms, {errors} errors")
        if p99 > slo_ms or errors:
            break
        held = rate
    return held or closed * 0.4


async def _soak(args, server, console) -> tuple[float, float, list, list[int]]:
    """(capacity, rate, a row per minute, connections per worker): one pool of connections,
    opened once like a CRM's HTTP client, for the capacity steps and every minute of the soak
    (a "minute" of `args.minute` seconds)."""
    short = args.minute < 60
    await _load(PORT, "/score", EXAMPLE, 8, 2 if short else 10)  # warm-up: first requests of each worker
    closed = (await _load(PORT, "/score", EXAMPLE, 8, 3 if short else 15))["rps"]
    pool = await open_connections(PORT, 32, _request("/score", EXAMPLE, PORT))
    spread = _spread(server.pid)
    capacity = args.rate or await _capacity(pool, closed, args.slo_ms, console, 2 if short else 20)
    rate = args.rate or capacity * args.share
    console.print(
        f"closed loop at concurrency 8: {closed:.0f} requests/s; open-loop capacity within p99 "
        f"{args.slo_ms:.0f} ms: {capacity:.0f}/s; soaking at {rate:.0f}/s; the pool's 32 connections "
        f"per worker: {spread}"
    )
    rows = []
    for minute in range(1, args.minutes + 1):
        cpu, own, (steal, ticks) = _cpu_seconds(server.pid), time.process_time(), _steal()
        ms, errors = await _open_loop(pool, rate, args.minute)
        steal_now, ticks_now = _steal()
        rows.append(
            (
                minute,
                len(ms),
                errors,
                np.percentile(ms, 50),
                np.percentile(ms, 99),
                _rss_mb(server.pid),
                (_cpu_seconds(server.pid) - cpu) / args.minute,
                (time.process_time() - own) / args.minute,
                (steal_now - steal) / max(ticks_now - ticks, 1),
            )
        )
        console.print(f"minute {minute}: p99 {rows[-1][4]:.1f} ms, {rows[-1][5]:.0f} MB, steal {rows[-1][8]:.1%}")
    for _, writer in pool:
        writer.close()
    return capacity, rate, rows, spread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--share", type=float, default=0.7, help="share of the measured capacity to send")
    parser.add_argument(
        "--rate", type=float, default=None, help="requests/s to send instead (default: share x capacity)"
    )
    parser.add_argument("--slo-ms", type=float, default=50.0, help="p99 a rate must keep to count as capacity")
    parser.add_argument("--short", action="store_true", help="the whole path in about a minute (make test-slow)")
    args = parser.parse_args()
    args.minute = 10 if args.short else 60  # seconds of each row
    if args.short:
        args.minutes = 2
    from rich.console import Console
    from rich.table import Table

    console = Console(width=120)
    tmp = Path(tempfile.mkdtemp())
    leads = 3_000 if args.short else 20_000
    with console.status(f"training a model on {leads:,} demo leads"):
        env = trained_service_env(tmp, leads)
    server = _start([str(Path(sys.executable).with_name("leadscore")), "serve", "--port", str(PORT)], env, tmp)
    try:
        _wait(f"http://127.0.0.1:{PORT}/score", server)
        capacity, rate, rows, spread = asyncio.run(_soak(args, server, console))
    finally:
        _stop(server)
    table = Table(title=f"soak at {rate:.0f} requests/s ({rate / capacity:.0%} of the measured {capacity:.0f})")
    columns = ("minute", "requests", "errors", "p50 ms", "p99 ms", "memory MB", "service CPU", "load CPU", "steal")
    for name in columns:
        table.add_column(name, justify="right")
    for minute, n, errors, p50, p99, mb, cores, load, steal in rows:
        table.add_row(
            str(minute),
            f"{n:,}",
            str(errors),
            f"{p50:.1f}",
            f"{p99:.1f}",
            f"{mb:.0f}",
            f"{cores:.2f}",
            f"{load:.2f}",
            f"{steal:.1%}",
        )
    console.print(table)
    console.print(
        "CPU in cores (of 2): the service's processes and this load generator, averaged over the minute; "
        f"the pool's connections per worker: {spread}"
    )
    first, last = rows[0], rows[-1]
    p99s = [r[4] for r in rows]
    console.print(
        f"errors {sum(r[2] for r in rows)}; p99 {min(p99s):.1f}-{max(p99s):.1f} ms; last minute vs first: "
        f"p99 {last[4] / first[4]:.2f}x, memory {last[5] - first[5]:+.0f} MB"
    )


if __name__ == "__main__":
    main()
