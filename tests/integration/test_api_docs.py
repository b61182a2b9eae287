"""A real `leadscore serve` as a browser and a CRM developer meet it: /docs opens in headless
Chromium and lists every endpoint, a client generated from /openapi.json installs and scores, and
a client that sends its headers one byte a second is cut off."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import PROJECT
from tests.live import live_service

KEY = "docs-key-4b1e"
ENDPOINTS = ("/score", "/score_batch", "/feedback", "/readyz")


@pytest.fixture(scope="module")
def service(trained, tmp_path_factory):
    root = tmp_path_factory.mktemp("docs")
    shutil.copy(trained["root"] / "mlflow.db", root / "mlflow.db")
    with live_service(root, KEY, f"sqlite:///{root / 'mlflow.db'}") as base:
        yield base


def _chromium() -> str:
    from core.errors import LeadscoreError
    from reports.browser import find

    try:
        return find()
    except LeadscoreError:
        pytest.skip("no Chromium on this machine (apt-get install chromium)")


def test_docs_open_in_a_browser_without_the_key_and_list_every_endpoint(service, tmp_path):
    from reports.browser import arguments

    page = subprocess.run(
        [_chromium(), *arguments(tmp_path / "profile"), "--virtual-time-budget=20000", "--dump-dom", f"{service}/docs"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    dom = page.stdout
    assert "swagger-ui" in dom and "leadscore" in dom, dom[:500]
    for path in ENDPOINTS:
        assert f'data-path="{path}"' in dom, f"{path} is not listed in /docs"
    assert "Authorize" in dom  # the key is given there, for calls made from the page


class Browser:
    """Headless Chromium driven through the DevTools protocol (a page's JavaScript, as clicks)."""

    def __init__(self, profile: Path):
        from reports.browser import arguments

        command = [_chromium(), *arguments(profile), "--remote-debugging-port=0", "about:blank"]
        self.process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        while not (found := re.search(r"ws://127\.0\.0\.1:(\d+)/", self.process.stderr.readline())):
            assert self.process.poll() is None, "chromium stopped"
        threading.Thread(target=self.process.stderr.read, daemon=True).start()  # a full pipe would stall it
        with urllib.request.urlopen(f"http://127.0.0.1:{found.group(1)}/json/list", timeout=10) as response:
            page = next(t for t in json.load(response) if t["type"] == "page")
        from websockets.sync.client import connect

        self.socket = connect(page["webSocketDebuggerUrl"], max_size=None)
        self.calls = 0

    def call(self, method: str, **params) -> dict:
        self.calls += 1
        self.socket.send(json.dumps({"id": self.calls, "method": method, "params": params}))
        while (message := json.loads(self.socket.recv(timeout=60))).get("id") != self.calls:
            pass
        return message.get("result", {})

    def run(self, script: str):
        answer = self.call("Runtime.evaluate", expression=script, returnByValue=True)
        return answer.get("result", {}).get("value")  # nothing while the page is being replaced

    def wait(self, script: str, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while not (value := self.run(script)):
            assert time.monotonic() < deadline, f"not seen within {timeout} s: {script}"
            time.sleep(0.2)
        return value

    def close(self) -> None:
        self.socket.close()
        self.process.terminate()
        self.process.wait(timeout=10)


STATUS = "document.querySelector('.live-responses-table tbody .response-col_status')?.innerText.trim()"
TYPE_KEY = """(() => {
  const input = document.querySelector('.modal-ux input');
  Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set.call(input, KEY);
  input.dispatchEvent(new Event('input', {bubbles: true}));
})()"""


def test_a_call_from_the_docs_page_needs_the_key_given_to_authorize(service, tmp_path):
    """In /docs, "Try it out" on /score: 401 without the key; Authorize, type it: 200."""
    browser = Browser(tmp_path / "profile")
    try:
        browser.call("Page.navigate", url=f"{service}/docs#/scoring/score")
        browser.wait("!!document.querySelector('.try-out__btn')")
        browser.run("document.querySelector('.try-out__btn').click()")
        browser.wait("!!document.querySelector('.execute')")
        browser.run("document.querySelector('.execute').click()")
        assert browser.wait(STATUS) == "401"
        browser.run("document.querySelector('.btn.authorize').click()")
        browser.wait("!!document.querySelector('.modal-ux input')")
        browser.run(TYPE_KEY.replace("KEY", json.dumps(KEY)))
        browser.run("document.querySelector('.modal-ux .auth-btn-wrapper .authorize').click()")
        browser.run("document.querySelector('.modal-ux .close-modal').click()")
        browser.run("document.querySelector('.execute').click()")
        browser.wait(f"{STATUS} === '200'")  # the same call, now with the key
    finally:
        browser.close()


def test_headers_sent_one_byte_a_second_are_cut_off(service):
    from serving.asgi import HEADER_SECONDS

    port = int(service.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.settimeout(HEADER_SECONDS + 15)
        began = time.monotonic()
        request = b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 60 + b"\r\n\r\n"
        stop = threading.Event()

        def trickle():
            for byte in request:
                if stop.is_set():
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(1)

        sender = threading.Thread(target=trickle, daemon=True)
        sender.start()
        answer = b""
        while chunk := connection.recv(4096):
            answer += chunk
        took = time.monotonic() - began
        stop.set()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"request headers not complete within" in answer
    assert HEADER_SECONDS - 1 < took < HEADER_SECONDS + 10  # cut off then, the connection closed
    with urllib.request.urlopen(f"{service}/readyz", timeout=10) as response:  # others are served meanwhile
        assert response.status == 200


def _uv() -> str:
    """uv, as `make install` finds it (on the PATH, or in the user's bin)."""
    found = shutil.which("uv")
    if found:
        return found
    base = subprocess.run([sys.executable, "-m", "site", "--user-base"], capture_output=True, text=True).stdout
    user = Path(base.strip()) / "bin" / "uv"
    if not user.exists():
        pytest.fail("uv not found: run `make install`")
    return str(user)


CLIENT = """
import json, sys
from leadscore_client import AuthenticatedClient
from leadscore_client.api.scoring import score, score_batch
from leadscore_client.models import Score, ScoreBatchRequest, ScoreRequest

base, key, example, batch = sys.argv[1:]
client = AuthenticatedClient(base_url=base, token=key, raise_on_unexpected_status=True)
model = score.sync(client=client, body=ScoreRequest.from_dict(json.load(open(example))))
rules = score.sync(client=client, body=ScoreRequest.from_dict({"lead": {"lead_id": "L-no-events"}}))
items = score_batch.sync(client=client, body=ScoreBatchRequest.from_dict(json.load(open(batch))))
bad = ScoreRequest.from_dict({"lead": {"lead_id": "x", "company_size": -1}})
refused = score.sync_detailed(client=client, body=bad)
print(json.dumps({
    "model": [type(model).__name__, model.scored_by, model.probability, model.model_version],
    "rules": [type(rules).__name__, rules.scored_by, rules.probability, rules.model_version, rules.fallback_reason],
    "batch": [item.result.lead_id for item in items],
    "refused": [refused.status_code, type(refused.parsed).__name__, refused.parsed.error],
}))
"""


@pytest.mark.slow
def test_a_client_generated_from_the_document_installs_and_scores(service, tmp_path):
    """As a CRM developer does it: openapi-python-client on /openapi.json, installed (no network
    but the package registry, for the build backend), then a model answer and a rules answer."""
    with urllib.request.urlopen(f"{service}/openapi.json", timeout=10) as response:
        (tmp_path / "openapi.json").write_bytes(response.read())
    generated = subprocess.run(
        [
            str(Path(sys.executable).with_name("openapi-python-client")),
            "generate",
            "--path",
            str(tmp_path / "openapi.json"),
            "--meta",
            "setup",
            "--config",
            str(PROJECT / "serving" / "openapi-client.yaml"),  # the README's command
            "--output-path",
            str(tmp_path / "client"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert generated.returncode == 0 and "Warning" not in generated.stdout, generated.stdout + generated.stderr
    target = ["--python", sys.executable, "--target", str(tmp_path / "site"), str(tmp_path / "client")]
    installed = subprocess.run(
        [_uv(), "pip", "install", "--no-deps", *target],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    (tmp_path / "use.py").write_text(CLIENT)
    examples = PROJECT / "serving" / "examples"
    arguments = [service, KEY, str(examples / "score.json"), str(examples / "score_batch.json")]
    used = subprocess.run(
        [sys.executable, str(tmp_path / "use.py"), *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"},
    )
    assert used.returncode == 0, used.stderr[-3000:]
    answers = json.loads(used.stdout)
    kind, by, probability, version = answers["model"]
    assert kind == "Score" and by == "model" and 0 < probability < 1 and version == "leadscore/1"
    kind, by, probability, version, why = answers["rules"]
    assert kind == "Score" and by == "rules" and probability is None and version is None and why
    assert answers["batch"] == ["L-demo-3", "L-demo-4"]
    status, kind, error = answers["refused"]
    assert status == 400 and kind == "Error" and error.startswith("lead.company_size")
