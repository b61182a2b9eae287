"""A real `leadscore serve` process for tests: started on a free loopback port, stopped after."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(ready, server: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    """Poll `ready()` until it is true; fail with the end of the server's log if the server
    stops or `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if ready():
                return
        except (OSError, ValueError):
            pass
        assert server.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.5)


def _ready(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return json.loads(response.read()).get("status") == "ready"


@contextmanager
def live_service(folder: Path, key: str, tracking_uri: str):
    """Yield the base URL of a ready service whose model comes from `tracking_uri`; its log is
    `folder/serve.log` and its feedback store `folder/feedback.db`."""
    port = free_port()
    env = {
        **os.environ,
        "LEADSCORE_API_KEY": key,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MLFLOW_REGISTRY_URI": tracking_uri,
        "LEADSCORE_DB_URL": f"sqlite:///{folder / 'feedback.db'}",
    }
    log = (folder / "serve.log").open("w")
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("leadscore")), "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=folder,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ready(f"{base}/readyz"), server, folder / "serve.log")
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
