"""Benchmark: a worker's memory stays flat under rounds of hostile traffic (issue #23, item 10).

Run: .venv/bin/python benchmarks/bench_memory.py [--short] [--rounds 4] [--requests 10000]
Trains a model on 20,000 demo leads (as bench_serving.py does; `--mlflow-db PATH` serves the
model of an MLflow SQLite store trained before instead), starts `leadscore serve` (one worker per core), and sends
`--rounds` rounds of `--requests` requests from 8 clients, each round the same mix: bad JSON,
bodies over the limit (declared, and sent chunked without a length), a wrong or missing key,
made-up paths, leads that do not validate, valid leads (each a new lead_id), and batches of 50 with invalid leads among
them. Prints each worker's RSS before the first round and after each round, the answers' status
counts, and each worker's RSS after the last round over its RSS after the first (flat: within
+-10%). `--short`: 4 rounds of 1,000 (for `make test-slow`). The clients share the 2 cores with the
server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))
from bench_serving import EXAMPLE, KEY, _start, _stop, _wait, trained_service_env

from tests.live import free_port

CLIENTS = 8
LIMIT = 16 * 2**20  # LEADSCORE_MAX_BODY_BYTES' default
AUTH = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}


def _lead(lead_id: str) -> dict:
    return {**EXAMPLE["lead"], "lead_id": lead_id}


def _invalid(lead_id: str) -> dict:
    return {**EXAMPLE["lead"], "lead_id": lead_id, "company_size": -3, "created_at": "yesterday"}


def hostile(n: int, seed: int) -> list[tuple[str, str, dict, bytes]]:
    """`n` requests (method, path, headers, body) of the mix, in a shuffled order."""
    rng = random.Random(seed)
    big = b'{"lead": {"lead_id": "' + b"x" * (LIMIT + 1024) + b'"}}'
    kinds = [
        lambda i: ("POST", "/score", AUTH, b'{"lead": {"lead_id": "L1", '),  # bad JSON
        lambda i: ("POST", "/score", AUTH, b"[" * 5000 + b"]" * 5000),  # JSON, deeply nested
        lambda i: ("POST", "/score_batch", AUTH, big),  # over the limit (declared)
        lambda i: ("POST", "/score_batch", AUTH, [big]),  # over the limit, not declared (chunked)
        lambda i: ("POST", "/score", {"Authorization": "Bearer wrong"}, json.dumps({"lead": _lead("L")}).encode()),
        lambda i: ("GET", "/metrics", {}, b""),  # no key
        lambda i: ("GET", f"/made/up/{rng.getrandbits(48):x}", AUTH, b""),
        lambda i: ("POST", f"/score/{rng.getrandbits(32):x}", AUTH, b"{}"),
        lambda i: ("POST", "/score", AUTH, json.dumps({"lead": _invalid(f"bad-{seed}-{i}")}).encode()),
        lambda i: ("POST", "/score", AUTH, json.dumps({"lead": _lead(f"M-{seed}-{i}")}).encode()),
        lambda i: ("POST", "/score", AUTH, json.dumps({"lead": _lead(f"M-{seed}-{i}")}).encode()),
        lambda i: ("POST", "/feedback", AUTH, json.dumps({"feedback": {"feedback_id": f"F{i}"}}).encode()),
        lambda i: (
            "POST",
            "/score_batch",
            AUTH,
            json.dumps(
                {"leads": [_lead(f"B-{seed}-{i}-{k}") if k % 5 else _invalid(f"B{k}") for k in range(50)]}
            ).encode(),
        ),
    ]
    return [kinds[rng.randrange(len(kinds))](i) for i in range(n)]


async def _chunks(body: bytes, size: int = 2**16):
    """`body` sent in chunks (Transfer-Encoding: chunked, no Content-Length)."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def send(port: int, requests: list) -> Counter:
    """Send `requests` from CLIENTS keep-alive clients; the count of each answer's status."""
    statuses: Counter = Counter()
    queue = iter(requests)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)

    async def client() -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60) as http:
            for method, path, headers, body in queue:
                content = _chunks(body[0]) if isinstance(body, list) else body or None
                try:
                    response = await http.request(method, path, headers=headers, content=content)
                    statuses[response.status_code] += 1
                except httpx.HTTPError as exc:
                    statuses[type(exc).__name__] += 1

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return statuses


def service_env(folder: Path, mlflow_db: Path | None) -> dict:
    """The environment of a service (score log in `folder`, no reloading) serving the model of the
    MLflow SQLite store `mlflow_db` (copied into `folder`), or of one trained now when None."""
    if mlflow_db is None:
        print("training a model on 20,000 demo leads ...", flush=True)
        return trained_service_env(folder)
    shutil.copy(mlflow_db, folder / "mlflow.db")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    return {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        "LEADSCORE_API_KEY": KEY,
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_REGISTRY_URI": uri,
        "LEADSCORE_DB_URL": f"sqlite:///{folder / 'feedback.db'}",
        "LEADSCORE_RELOAD_SECONDS": "0",
    }


def workers(server) -> list[psutil.Process]:
    """The service's worker processes (each with its copy of the model)."""
    found = [p for p in psutil.Process(server.pid).children(recursive=True) if _is_worker(p)]
    return sorted(found, key=lambda p: p.pid)


def _is_worker(process: psutil.Process) -> bool:
    """Whether `process` is a service worker; a child that has just exited (a zombie until reaped)
    or gone is not."""
    try:
        return "_bentoml_impl.worker.service" in " ".join(process.cmdline())
    except psutil.Error:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--requests", type=int, default=10_000, help="requests per round")
    parser.add_argument("--short", action="store_true", help="4 rounds of 1,000")
    parser.add_argument("--mlflow-db", type=Path, help="serve this trained MLflow SQLite store (copied)")
    args = parser.parse_args()
    rounds, n = (4, 1_000) if args.short else (args.rounds, args.requests)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = service_env(folder, args.mlflow_db)
        port = free_port()
        server = _start([str(Path(sys.executable).with_name("leadscore")), "serve", "--port", str(port)], env, folder)
        try:
            _wait(f"http://127.0.0.1:{port}/score", server)
            procs = workers(server)
            rss = [[p.memory_info().rss / 1e6 for p in procs]]
            print(f"{len(procs)} workers; RSS before: " + ", ".join(f"{mb:.0f} MB" for mb in rss[0]), flush=True)
            for r in range(rounds):
                began = time.perf_counter()
                statuses = asyncio.run(send(port, hostile(n, seed=r)))
                rss.append([p.memory_info().rss / 1e6 for p in procs])
                counts = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=str))
                print(
                    f"round {r + 1}: {n:,} requests in {time.perf_counter() - began:.0f} s; RSS "
                    + ", ".join(f"{mb:.0f} MB" for mb in rss[-1])
                    + f"; answers {counts}",
                    flush=True,
                )
            ratios = [last / first for first, last in zip(rss[1], rss[-1], strict=True)]
            print(
                f"RSS after round {rounds} / after round 1, per worker: "
                + ", ".join(f"{ratio:.3f}" for ratio in ratios)
                + ("  (flat: within +-10%)" if all(0.9 <= x <= 1.1 for x in ratios) else "  (NOT flat)")
            )
        finally:
            _stop(server)


if __name__ == "__main__":
    main()
