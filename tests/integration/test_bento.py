"""`make bento` builds the service's Bento with no uv on the PATH (as right after `make install` on a
fresh machine, where uv may sit in the user's bin only), and the built Bento starts and scores."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import PROJECT
from tests.live import free_port, stop, wait_until

KEY = "bento-key-0f3d"


@pytest.mark.slow
def test_make_bento_builds_a_bento_that_starts_and_scores(trained, tmp_path):
    home = tmp_path / "bentoml"  # the Bento store of this test only
    plain = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_"))}
    built = subprocess.run(
        ["make", "bento"],
        cwd=PROJECT,
        env={**plain, "BENTOML_HOME": str(home), "PATH": "/usr/local/bin:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    tag = re.search(r'Successfully built Bento\(tag="(leadscore:\w+)"\)', built.stdout)
    assert tag, built.stdout[-2000:]
    [bento] = (home / "bentos" / "leadscore").glob("*/bento.yaml")
    assert (bento.parent / "src" / "serving" / "service.py").exists()
    assert (bento.parent / "src" / "serving" / "examples" / "score.json").exists()

    shutil.copy(trained["root"] / "mlflow.db", tmp_path / "mlflow.db")
    (tmp_path / "run").mkdir()
    port = free_port()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {
        **os.environ,
        "BENTOML_HOME": str(home),
        "LEADSCORE_API_KEY": KEY,
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_REGISTRY_URI": uri,
        "LEADSCORE_DB_URL": f"sqlite:///{tmp_path / 'feedback.db'}",
    }
    log = tmp_path / "bento.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("bentoml")), "serve", tag.group(1), "--port", str(port)],
            cwd=tmp_path / "run",
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: _get(f"{base}/readyz").get("status") == "ready", server, log)
            assert _get(f"{base}/readyz")["model_version"] == "leadscore/1"
            body = (PROJECT / "serving" / "examples" / "score.json").read_bytes()
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"}
            request = urllib.request.Request(f"{base}/score", data=body, headers=headers)
            with urllib.request.urlopen(request, timeout=30) as response:
                assert json.loads(response.read())["scored_by"] == "model"
            assert _get(f"{base}/openapi.json")["info"]["title"] == "leadscore"
        finally:
            stop(server)


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())
