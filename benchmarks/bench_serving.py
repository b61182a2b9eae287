"""Benchmark: the scoring service under load on loopback, against a bare FastAPI app and in-process.

Run: .venv/bin/python benchmarks/bench_serving.py [--seconds 15] [--sustained 50000] [--short]
(--short: the whole path in about a minute, for `make test-slow`: a model on 3,000 leads, 1 s per
level, batches of 100 leads and one of 1,000, a few hundred requests before the memory reading.)
Trains a model on 20,000 demo leads into a throwaway MLflow store, then measures, with the full
answer (features, model, calibration, reasons, rules, score log):
- start of `leadscore serve` to the first 200;
- single-lead /score latency p50/p95/p99 and requests/s at concurrency 1, 8 and 32;
- /score_batch of 1,000 different leads in leads/s, from one client and from four at once (the
  service's workers share one listening socket: which worker takes a connection is the kernel's
  choice, so two clients often land on one worker; four rarely all do);
- worker memory before and after `--sustained` requests (the scheduled `leadscore monitor` runs left out);
- the server's CPU time per request and per lead (its processes, the monitor runs left out; on
  shared cores it moves less with the neighbours than latency does);
and the same single-lead work in a bare FastAPI app (uvicorn, one worker) and in-process (its CPU
per answer beside the service's: what the service adds), and LightGBM's SHAP alone on the batch's
feature rows (the ceiling of a batch with reasons).
The load generator (a bare asyncio HTTP client) shares the 2 cores with the server: figures are upper
bounds of latency, lower bounds of throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PROJECT = Path(__file__).resolve().parents[1]
EXAMPLE = json.loads((PROJECT / "serving" / "examples" / "score.json").read_text())
KEY = "bench-key"


def _serving(pid: int) -> list:
    """The server with process `pid` and its workers, not the scheduled `leadscore monitor` runs
    they start (work of the hour, not of a request: a run alive at a reading added its own
    hundreds of MB to the memory figure)."""
    import psutil

    process = psutil.Process(pid)
    kept = [process]
    for part in process.children(recursive=True):
        try:
            if "monitor" not in part.cmdline():
                kept.append(part)
        except psutil.Error:  # a process gone meanwhile
            continue
    return kept


def _rss_mb(pid: int) -> float:
    """Resident memory of the server's processes (`_serving`), MB."""
    import psutil

    total = 0
    for part in _serving(pid):
        try:
            total += part.memory_info().rss
        except psutil.Error:
            continue
    return total / 1e6


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the server's processes (`_serving`) have used: what answers cost
    the machine, which moves less with the neighbours on shared cores than latency."""
    import psutil

    total = 0.0
    for part in _serving(pid):
        try:
            times = part.cpu_times()
        except psutil.Error:  # a process gone meanwhile
            continue
        total += times.user + times.system
    return total


def cores() -> int:
    """The cores this process may run on (its affinity, not the host's count)."""
    return len(os.sched_getaffinity(0))


def free_port() -> int:
    """A loopback port no one listens on now (other benchmarks and tests may run beside this one)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def trained_service_env(tmp: Path, leads: int = 20_000) -> dict:
    """Train a model on `leads` demo leads into a throwaway store under `tmp`; the environment
    that serves it (score log in `tmp`, no reloading)."""
    from features.defaults import load_rules
    from features.settings import FeatureConfig
    from synthetic.generate import generate, write_dataset
    from training.settings import TrainingConfig
    from training.train import train

    write_dataset(generate(leads, seed=7), tmp / "data", "parquet")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    train(tmp / "data", TrainingConfig(), FeatureConfig(), load_rules(), tracking_uri=uri)
    return {
        **os.environ,
        "LEADSCORE_API_KEY": KEY,
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_REGISTRY_URI": uri,
        "LEADSCORE_DB_URL": f"sqlite:///{tmp / 'feedback.db'}",
        "LEADSCORE_RELOAD_SECONDS": "0",
        "PYTHONPATH": str(PROJECT),
    }


def _request(path: str, body: dict, port: int) -> bytes:
    """One HTTP/1.1 keep-alive POST, encoded once and sent as is by every worker."""
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


async def _response(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 response (Content-Length or chunked); return its status code."""
    status = int((await reader.readline()).split()[1])
    length, chunked = 0, False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if not chunked:
        await reader.readexactly(length)
        return status
    while size := int((await reader.readline()).split(b";")[0], 16):
        await reader.readexactly(size + 2)
    await reader.readline()
    return status


async def open_connections(port: int, n: int, request: bytes) -> list:
    """`n` keep-alive connections, opened one by one as clients arrive (so the service's workers
    share them), each warmed with one request."""
    connections = []
    for _ in range(n):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        await _response(reader)
        connections.append((reader, writer))
        await asyncio.sleep(0.02)
    return connections


async def _load(port: int, path: str, body: dict, concurrency: int, seconds: float, pid: int | None = None) -> dict:
    """`concurrency` keep-alive connections sending `body` back to back for `seconds`; with the
    server's `pid`, also the server's CPU milliseconds per request ("cpu_ms").

    A bare asyncio client (no HTTP library): it costs tens of microseconds a request, so the
    2 cores go to the server rather than to the load generator."""
    request = _request(path, body, port)
    latencies: list[float] = []
    errors = 0

    connections = await open_connections(port, concurrency, request)
    cpu_before = cpu_seconds(pid) if pid else 0.0
    stop = time.perf_counter() + seconds

    async def worker(reader, writer):
        nonlocal errors
        try:
            while time.perf_counter() < stop:
                began = time.perf_counter()
                writer.write(request)
                status = await _response(reader)
                latencies.append(time.perf_counter() - began)
                errors += status != 200
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker(r, w) for r, w in connections))
    took = time.perf_counter() - began
    ms = np.array(latencies) * 1e3
    cpu_ms = (cpu_seconds(pid) - cpu_before) * 1e3 / max(len(ms), 1) if pid else float("nan")
    return {
        "n": len(ms),
        "cpu_ms": cpu_ms,
        "rps": len(ms) / took,
        "p50": float(np.percentile(ms, 50)),
        "p95": float(np.percentile(ms, 95)),
        "p99": float(np.percentile(ms, 99)),
        "errors": errors,
    }


def distinct_leads(n: int) -> list[dict]:
    """`n` different leads as a CRM batch holds them: the example lead, each with its own id,
    account and account contacts (a batch of one account's clones would time the account
    features' every-contact-of-the-account search instead)."""
    lead = EXAMPLE["lead"]
    return [
        dict(
            lead,
            lead_id=f"B{i}",
            account_id=f"A{i}",
            contacts=[dict(c, lead_id=f"C{i}-{j}") for j, c in enumerate(lead["contacts"])],
        )
        for i in range(n)
    ]


def _batch_rate(
    port: int, reasons: bool, clients: int, batches: int = 6, size: int = 1_000, pid: int | None = None
) -> tuple[float, float]:
    """Leads/s of /score_batch with `size` leads a call, `batches` calls from each of `clients`
    concurrent clients (more clients let the second worker take batches too), and the server's CPU
    microseconds per lead (NaN without its `pid`)."""
    body = {"leads": distinct_leads(size), "reasons": reasons}
    request = _request("/score_batch", body, port)

    async def run() -> tuple[float, float]:
        connections = await open_connections(port, clients, request)
        cpu_before = cpu_seconds(pid) if pid else 0.0

        async def client(reader, writer):
            for _ in range(batches):
                writer.write(request)
                status = await _response(reader)
                if status != 200:
                    raise SystemExit(f"/score_batch of {size:,} leads answered {status}")
            writer.close()

        began = time.perf_counter()
        await asyncio.gather(*(client(r, w) for r, w in connections))
        leads = clients * batches * size
        cpu_us = (cpu_seconds(pid) - cpu_before) * 1e6 / leads if pid else float("nan")
        return leads / (time.perf_counter() - began), cpu_us

    return asyncio.run(run())


def _wait(url: str, server, deadline: float = 120) -> float:
    import httpx

    began = time.perf_counter()
    while time.perf_counter() - began < deadline:
        try:
            response = httpx.post(url, json=EXAMPLE, headers={"Authorization": f"Bearer {KEY}"}, timeout=5)
            if response.status_code == 200:
                return time.perf_counter() - began
        except httpx.HTTPError:
            pass
        if server.poll() is not None:
            raise SystemExit("the server stopped while starting")
        time.sleep(0.1)
    raise SystemExit("the server did not answer in time")


def _start(command: list[str], env: dict, cwd: Path):
    return subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def _stop(server) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)


FASTAPI_APP = """
import gc
import os
from fastapi import FastAPI, Header, HTTPException
from serving.schemas import Lead, Score
from serving.loading import load_scorer
from serving.blas import one_blas_thread
from serving.settings import load_settings
scorer = load_scorer(load_settings())
one_blas_thread()  # as a service worker does after its start
gc.freeze()
app = FastAPI()
@app.post("/score")
def score(body: dict, authorization: str = Header(default="")) -> Score:
    if authorization != "Bearer " + os.environ["LEADSCORE_API_KEY"]:
        raise HTTPException(401)
    return scorer.score([Lead.model_validate(body["lead"])])[0]
"""


def shap_ceilings(scorer, leads: list) -> tuple[float, float]:
    """Leads/s of exact SHAP alone on the batch's feature rows, on every core, best of three: the
    model's own (`training.trees.Trees`, what the service runs) and LightGBM's `pred_contrib`. No
    answer with reasons can be faster than the first on this machine."""
    matrix = scorer.model.matrix(scorer.features(leads))
    rates = []
    for explain in (scorer.model.contributions, lambda m: scorer.model.booster.predict(m, pred_contrib=True)):
        took = []
        for _ in range(3):
            began = time.perf_counter()
            explain(matrix)
            took.append(time.perf_counter() - began)
        rates.append(len(leads) / min(took))
    return rates[0], rates[1]


def service_figures(env: dict, tmp: Path, seconds: float, sustained: int, size: int, short: bool) -> dict:
    """`leadscore serve` under load: its start, /score at each concurrency, /score_batch rates and
    the memory before and after `sustained` more requests."""
    port = free_port()
    server = _start([str(Path(sys.executable).parent / "leadscore"), "serve", "--port", str(port)], env, tmp)
    try:
        start_s = _wait(f"http://127.0.0.1:{port}/score", server)
        rows = [("bentoml", c, asyncio.run(_load(port, "/score", EXAMPLE, c, seconds, server.pid))) for c in (1, 8, 32)]
        batches = 1 if short else 6
        rates = {
            (reasons, clients): _batch_rate(port, reasons, clients, batches, size, server.pid)
            for reasons in (True, False)
            for clients in (1, 4)
        }
        if short:  # the README's batch limit, once
            rates["1,000 once"] = _batch_rate(port, True, 1, 1, 1_000, server.pid)
        before = _rss_mb(server.pid)
        sent = 0
        while sent < sustained:
            sent += asyncio.run(_load(port, "/score", EXAMPLE, 8, min(10, seconds)))["n"]
        after = _rss_mb(server.pid)
    finally:
        _stop(server)
    return {"start_s": start_s, "rows": rows, "rates": rates, "before": before, "after": after}


def bare_figures(env: dict, tmp: Path, seconds: float) -> list:
    """The same single-lead work in a bare FastAPI app, at each concurrency."""
    (tmp / "bare_app.py").write_text(FASTAPI_APP)
    # one uvicorn worker: with --workers 2 every answer stalled ~45 ms here (p50 48 ms at
    # concurrency 1), a socket-level delay of uvicorn's multi-process mode, not the app's cost
    port = free_port()
    uvicorn = str(Path(sys.executable).parent / "uvicorn")
    bare = _start([uvicorn, "bare_app:app", "--port", str(port), "--log-level", "warning"], env, tmp)
    try:
        _wait(f"http://127.0.0.1:{port}/score", bare)
        return [("fastapi", c, asyncio.run(_load(port, "/score", EXAMPLE, c, seconds, bare.pid))) for c in (1, 8, 32)]
    finally:
        _stop(bare)


def _batch_cpu_us(scorer, leads: list, reasons: bool, times: int = 3) -> float:
    """CPU microseconds per lead (every thread of this process) of scoring `leads` at once."""
    cpu_began = time.process_time()
    for _ in range(times):
        scorer.score(leads, reasons=reasons)
    return (time.process_time() - cpu_began) * 1e6 / (times * len(leads))


def in_process_figures(env: dict, size: int, short: bool) -> dict:
    """One lead's answers in-process (p50, p99 ms; CPU ms an answer), a batch's CPU per lead with
    and without reasons, and the exact-SHAP ceilings on the batch's rows."""
    os.environ.update({k: env[k] for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "LEADSCORE_API_KEY")})
    from threadpoolctl import threadpool_limits

    from serving.blas import one_blas_thread
    from serving.loading import load_scorer
    from serving.schemas import Lead
    from serving.settings import load_settings

    scorer = load_scorer(load_settings())
    gc.freeze()  # as a service worker does after its start: no full collection walks what it imported
    lead = Lead.model_validate(EXAMPLE["lead"])
    times = []
    cpu_began = time.process_time()
    for _ in range(300 if short else 2_000):
        began = time.perf_counter()
        scorer.score([lead])
        times.append(time.perf_counter() - began)
    cpu_ms = (time.process_time() - cpu_began) * 1e3 / len(times)
    ms = np.array(times[len(times) // 10 :]) * 1e3
    batch_leads = [Lead.model_validate(raw) for raw in distinct_leads(size)]
    scorer.score(batch_leads)  # untimed: a first large batch's one-time costs (buffers, caches)
    spinning, single = [], []
    for _ in range(2):  # alternated, the least of each kept: the neighbours move single runs by a third
        threadpool_limits(limits=cores(), user_api="blas")  # as numpy starts: a BLAS thread per core
        spinning.append(_batch_cpu_us(scorer, batch_leads, True))
        one_blas_thread()  # as a service worker does: the batch figures are a worker's
        single.append(_batch_cpu_us(scorer, batch_leads, True))
    blas_threads_us = min(spinning)
    batch_us = {True: min(single), False: _batch_cpu_us(scorer, batch_leads, False)}
    ceiling, lightgbm = shap_ceilings(scorer, batch_leads)
    return {
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
        "cpu_ms": cpu_ms,
        "batch_us": batch_us,
        "blas_threads_us": blas_threads_us,
        "ceiling": ceiling,
        "lightgbm": lightgbm,
    }


def report(served: dict, rows: list, inproc: dict, size: int, sustained: int) -> None:
    """Every figure, beside its limit (issue 27)."""
    rates = served["rates"]
    print(f"start of `leadscore serve` to first 200: {served['start_s']:.1f} s")
    print(
        f"{'server':8} {'conc':>4} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6}"
        f" {'server CPU ms/req':>17}"
    )
    for name, c, r in rows:
        print(
            f"{name:8} {c:>4} {r['n']:>9,} {r['rps']:>8.0f} {r['p50']:>8.2f} {r['p95']:>8.2f} {r['p99']:>8.2f}"
            f" {r['errors']:>6} {r['cpu_ms']:>17.2f}"
        )
    print(
        f"in-process Scorer.score, one lead: p50 {inproc['p50']:.2f} ms, "
        f"p99 {inproc['p99']:.2f} ms, CPU {inproc['cpu_ms']:.2f} ms per answer"
    )
    b1 = next(r for n, c, r in rows if n == "bentoml" and c == 1)
    f1 = next(r for n, c, r in rows if n == "fastapi" and c == 1)
    print(
        f"ratios at concurrency 1: bentoml/fastapi p50 {b1['p50'] / f1['p50']:.2f}x, "
        f"bentoml/in-process p50 {b1['p50'] / inproc['p50']:.2f}x"
    )
    print(
        f"CPU per answer at concurrency 1: the service {b1['cpu_ms']:.2f} ms, in-process {inproc['cpu_ms']:.2f} ms: "
        f"the service adds {b1['cpu_ms'] - inproc['cpu_ms']:.2f} ms (HTTP, intake, score log, trend lookup, metrics)"
    )
    for clients in (1, 4):
        (with_, with_cpu), (without, without_cpu) = rates[True, clients], rates[False, clients]
        print(
            f"/score_batch of {size:,} different leads, {clients} client(s): {with_:,.0f} leads/s with reasons "
            f"(SHAP), {without:,.0f} leads/s without; server CPU {with_cpu:,.0f} / {without_cpu:,.0f} us per lead"
        )
    batch_us = inproc["batch_us"]
    print(
        f"in-process Scorer.score of those {size:,} leads at once: CPU {batch_us[True]:,.0f} us per lead "
        f"with reasons, {batch_us[False]:,.0f} without; with reasons and a BLAS thread per core (numpy's "
        f"start, which service workers limit to one): {inproc['blas_threads_us']:,.0f} (with reasons, the least "
        f"of two runs each way, alternated)"
    )
    if "1,000 once" in rates:
        print(f"/score_batch of 1,000 different leads, once, with reasons: {rates['1,000 once'][0]:,.0f} leads/s")
    ceiling, lightgbm = inproc["ceiling"], inproc["lightgbm"]
    print(
        f"exact SHAP alone on those {size:,} leads' feature rows, both cores: {ceiling:,.0f} leads/s "
        f"(training.trees; LightGBM's pred_contrib: {lightgbm:,.0f}, {ceiling / lightgbm:.1f}x less); the "
        f"ceiling of answers with reasons: 4 clients reach {rates[True, 4][0] / ceiling:.0%} of it (limit >= 90%)"
    )
    print(f"without reasons, 4 clients: {rates[False, 4][0]:,.0f} leads/s (limit >= 30,000)")
    b8 = next(r for n, c, r in rows if n == "bentoml" and c == 8)
    print(
        f"limits: /score p99 from one client {b1['p99']:.2f} ms (<= 3), requests/s from 8 clients "
        f"{b8['rps']:,.0f} (>= 1,500), in-process p50 {inproc['p50']:.2f} ms (<= 1 with reasons)"
    )
    n = cores()  # what CPU alone allows: requests (leads) a second = cores / CPU per request (lead)
    print(
        f"CPU-bound ceilings on these {n} cores: /score {n / b8['cpu_ms'] * 1e3:,.0f} requests/s at the "
        f"service's CPU per request from 8 clients, {n / inproc['cpu_ms'] * 1e3:,.0f} if the service added "
        f"nothing to the in-process answer; answers with reasons {n / batch_us[True] * 1e6:,.0f} leads/s, "
        f"without {n / batch_us[False] * 1e6:,.0f}, at the in-process CPU per lead of a batch"
    )
    print(
        f"server memory (its processes, the scheduled monitor runs left out): {served['before']:.0f} MB before, "
        f"{served['after']:.0f} MB after {sustained:,} more requests"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15, help="load per concurrency level")
    parser.add_argument("--sustained", type=int, default=50_000, help="requests before the memory reading")
    parser.add_argument("--short", action="store_true", help="the whole path in about a minute (make test-slow)")
    args = parser.parse_args()
    if args.short:
        args.seconds, args.sustained = 1.0, 300
    size = 100 if args.short else 1_000  # leads a /score_batch call in the rates below
    tmp = Path(tempfile.mkdtemp())
    env = trained_service_env(tmp, 3_000 if args.short else 20_000)
    served = service_figures(env, tmp, args.seconds, args.sustained, size, args.short)
    rows = served["rows"] + bare_figures(env, tmp, args.seconds)
    inproc = in_process_figures(env, size, args.short)
    report(served, rows, inproc, size, args.sustained)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
