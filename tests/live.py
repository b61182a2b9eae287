"""A real `leadscore serve` process for tests: started on a free loopback port, stopped after."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from tests.test_mlflow_server import _free_port


@contextmanager
def live_service(folder: Path, key: str, tracking_uri: str):
    """Yield the base URL of a ready service whose model comes from `tracking_uri`; its log is
    `folder/serve.log` and its feedback store `folder/feedback.db`."""
    port = _free_port()
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
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:
                    if json.loads(response.read()).get("status") == "ready":
                        break
            except (OSError, ValueError):
                pass
            assert server.poll() is None and time.monotonic() < deadline, (folder / "serve.log").read_text()[-3000:]
            time.sleep(0.5)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
