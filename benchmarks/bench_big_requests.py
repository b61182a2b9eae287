"""Benchmark: the largest requests the service accepts do not stall another client.

Run: .venv/bin/python benchmarks/bench_big_requests.py [--rounds 5] [--short]
(--short: one round, a model on 3,000 leads: the whole path in about a minute, for `make test-slow`.)
Trains a model on 20,000 demo leads (as bench_serving.py does), starts `leadscore serve` (one
worker per core), and keeps one client sending the README's /score example back to back. In each
round, four large requests are sent at once on four new connections:

- accepted: the largest /score accepted, 50,000 events (LEADSCORE_MAX_EVENTS: 5,000 of the lead's
  own and 45 contacts of 1,000 each; about 4 MB);
- refused: the issue's 16 MB /score (5,000 events and 500 contacts of 600 each), answered 413.

Prints the other client's latency (p50, p99, max) alone and during the rounds, and each large
request's status and time. The load generator shares the 2 cores with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serving import EXAMPLE, _request, _response, _start, _stop, _wait, free_port, trained_service_env


def _events(n: int, detail: bool) -> list[dict]:
    return [
        {"ts": f"2025-12-{1 + i % 28:02d}T{i // 60 % 24:02d}:{i % 60:02d}:00Z", "type": "page_view"}
        | ({"detail": "/docs/scoring"} if detail else {})
        for i in range(n)
    ]


def big_lead(own: int, contacts: int, each: int, detail: bool = True) -> dict:
    lead = dict(EXAMPLE["lead"], lead_id="L-big", events=_events(own, detail))
    lead["contacts"] = [
        {"lead_id": f"C{i}", "created_at": "2025-01-01T00:00:00Z", "events": _events(each, detail)}
        for i in range(contacts)
    ]
    return {"lead": lead}


async def _one(port: int, request: bytes) -> tuple[int, float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    began = time.perf_counter()
    writer.write(request)
    await writer.drain()
    status = await _response(reader)
    writer.close()
    return status, time.perf_counter() - began


async def _round(port: int, other: bytes, big: bytes, quiet: float, rounds: int) -> dict:
    """The other client's latencies alone for `quiet` seconds, then `rounds` rounds of four big
    requests at once (each round waits for its four answers)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    alone, during, big_runs = [], [], []
    busy = False
    done = asyncio.Event()

    async def client():
        while not done.is_set():
            began = time.perf_counter()
            writer.write(other)
            assert await _response(reader) == 200
            (during if busy else alone).append(time.perf_counter() - began)

    async def load():
        nonlocal busy
        await asyncio.sleep(quiet)
        for _ in range(rounds):
            busy = True
            big_runs.extend(await asyncio.gather(*(_one(port, big) for _ in range(4))))
            busy = False
            await asyncio.sleep(1)
        done.set()

    await asyncio.gather(client(), load())
    writer.close()
    return {"alone": np.array(alone) * 1e3, "during": np.array(during) * 1e3, "big": big_runs}


def _show(title: str, figures: dict) -> None:
    print(f"\n{title}")
    for name in ("alone", "during"):
        ms = figures[name]
        print(
            f"  other client /score {name:6}: n={len(ms):5}  p50 {np.percentile(ms, 50):7.1f} ms"
            f"  p99 {np.percentile(ms, 99):7.1f} ms  max {ms.max():7.1f} ms"
        )
    statuses = sorted({s for s, _ in figures["big"]})
    seconds = np.array([t for _, t in figures["big"]])
    print(
        f"  large requests: {len(seconds)} answered, status {statuses}, "
        f"time p50 {np.median(seconds):.2f} s, max {seconds.max():.2f} s (timeout 10 s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of four large requests")
    parser.add_argument("--short", action="store_true", help="one round, a small model (make test-slow)")
    args = parser.parse_args()
    rounds, quiet = (1, 1) if args.short else (args.rounds, 5)
    tmp = Path(tempfile.mkdtemp())
    env = trained_service_env(tmp, 3_000 if args.short else 20_000)
    port = free_port()
    server = _start([str(Path(sys.executable).parent / "leadscore"), "serve", "--port", str(port)], env, tmp)
    other = _request("/score", EXAMPLE, port)
    accepted = _request("/score", big_lead(5_000, 45, 1_000), port)
    refused = _request("/score", big_lead(5_000, 500, 600, detail=False), port)  # just under 16 MiB
    print(f"largest accepted /score: {len(accepted) / 2**20:.1f} MiB; the issue's: {len(refused) / 2**20:.1f} MiB")
    try:
        _wait(f"http://127.0.0.1:{port}/score", server)
        _show("four largest accepted /score at once", asyncio.run(_round(port, other, accepted, quiet, rounds)))
        _show("four 16 MB /score at once (refused: 413)", asyncio.run(_round(port, other, refused, 2, rounds)))
    finally:
        _stop(server)
    print(json.dumps({"note": "2-core machine shared with the load generator"}))


if __name__ == "__main__":
    main()
