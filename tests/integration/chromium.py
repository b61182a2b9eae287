"""A page opened in headless Chromium through the DevTools protocol, as a person's browser opens
it: what the console said, whether every image loaded, which elements stick out of the page, and
a screenshot. Chromium listens on 127.0.0.1 only, on a port it picks, with a throwaway profile."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from websockets.sync.client import connect

from reports.browser import arguments, find

CHECKS = """(() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > width + 1)
    .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : ''));
  const images = [...document.images].map(i => ({alt: i.alt, loaded: i.complete && i.naturalWidth > 0}));
  return {width, scrollWidth: document.documentElement.scrollWidth, wide, images,
          height: document.documentElement.scrollHeight, text: document.body.innerText};
})()"""


class Page:
    """One Chromium page; use as a context manager."""

    def __init__(self, browser: str | None = None):
        # its helper processes may write to the profile as the browser exits: a file they leave
        # behind must not fail the test that looked at the page
        self._profile = tempfile.TemporaryDirectory(prefix="leadscore-cdp-", ignore_cleanup_errors=True)
        command = [find(browser), *arguments(Path(self._profile.name)), "--remote-debugging-port=0", "about:blank"]
        self.process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.problems: list[str] = []
        self._ids = itertools.count(1)

    def __enter__(self) -> Page:
        endpoint = self._endpoint()
        with urllib.request.urlopen(f"http://127.0.0.1:{endpoint}/json/list", timeout=10) as response:
            page = next(t for t in json.load(response) if t["type"] == "page")
        self._closing = contextlib.ExitStack()
        self.socket = self._closing.enter_context(connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10))
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        return self

    def __exit__(self, *exc) -> None:
        self._closing.close()
        with contextlib.suppress(ProcessLookupError):  # the browser and its helpers, all of them
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process.stderr.close()
        self._profile.cleanup()

    def _endpoint(self, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            found = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if found:
                return found.group(1)
            if not line and self.process.poll() is not None:
                break
        raise RuntimeError("chromium did not open its DevTools port")

    def call(self, method: str, **params) -> dict:
        """Send one command and return its result; console errors seen meanwhile are kept."""
        ident = next(self._ids)
        self.socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=60))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._note(message)

    def _note(self, event: dict) -> None:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            self.problems.append(params["exceptionDetails"].get("text", "exception"))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.problems.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.problems.append(params["entry"]["text"])

    def open(self, path: Path, width: int = 1280, height: int = 900, media: str = "screen") -> dict:
        """Load `path` at that window size and media; the page's measurements (see CHECKS)."""
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        self.call("Emulation.setEmulatedMedia", media=media)
        self.call("Page.navigate", url=path.resolve().as_uri())
        deadline = time.monotonic() + 60
        while self.evaluate("document.readyState") != "complete" or not self.evaluate(
            "[...document.images].every(i => i.complete)"
        ):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{path} did not finish loading")
            time.sleep(0.1)
        return self.evaluate(CHECKS)

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:60]}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def screenshot(self, out: Path, width: int = 1280, height: int = 900) -> Path:
        """The viewport at `width` x `height` as a PNG."""
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        self.evaluate("window.scrollTo(0, 0)")
        shot = self.call("Page.captureScreenshot", format="png")
        out.write_bytes(base64.b64decode(shot["data"]))
        return out
