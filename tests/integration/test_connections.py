"""A worker's connections (issue #23, item 7), on a real `leadscore serve` with one worker: a body
sent a byte at a time is cut off at its deadline with a 408 (never a 504: the slowness is the
client's) and the connection closed; past the cap on open connections, a new one gets a 503 and
is closed, and the worker answers again once connections go."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import urllib.request

import pytest

from tests.live import live_service
from tests.waiting import wait_for

KEY = "connections-key-2b7e"
BODY_SECONDS = 2  # LEADSCORE_BODY_SECONDS, short for the test (default 8)
CAP = 3  # LEADSCORE_MAX_CONNECTIONS


@pytest.fixture(scope="module")
def service(trained, tmp_path_factory):
    root = tmp_path_factory.mktemp("connections")
    shutil.copy(trained["root"] / "mlflow.db", root / "mlflow.db")
    env = {
        "LEADSCORE_BODY_SECONDS": str(BODY_SECONDS),
        "LEADSCORE_MAX_CONNECTIONS": str(CAP),
        "BENTOML_CONFIG_OPTIONS": "services.leadscore.workers=1",  # one worker: the cap is the service's
    }
    with live_service(root, KEY, f"sqlite:///{root / 'mlflow.db'}", env=env) as base:
        yield int(base.rsplit(":", 1)[1])


def _read_all(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    answer = b""
    while chunk := connection.recv(4096):
        answer += chunk
    return answer


def test_a_body_sent_a_byte_at_a_time_gets_408_and_the_connection_closed(service):
    body = json.dumps({"lead": {"lead_id": "L-slow"}}).encode()
    head = (
        f"POST /score HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    sent = 0
    stop = threading.Event()
    with socket.create_connection(("127.0.0.1", service)) as connection:
        connection.settimeout(BODY_SECONDS + 20)  # the 408 comes long before
        connection.sendall(head)

        def trickle() -> None:
            nonlocal sent
            for byte in body:
                if stop.wait(0.5):
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return
                sent += 1

        sender = threading.Thread(target=trickle, daemon=True)
        sender.start()
        answer = _read_all(connection)  # returns when the server closes the connection
        stop.set()
        sender.join()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"connection: close" in answer.lower()
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1]) == {
        "error": f"request body not complete within {BODY_SECONDS} seconds of its headers"
    }
    assert sent < len(body)  # cut off while the body was still coming
    with urllib.request.urlopen(f"http://127.0.0.1:{service}/readyz", timeout=10) as response:
        assert response.status == 200  # the worker answers others


def test_past_the_cap_a_new_connection_gets_503_and_is_closed(service):
    held = [socket.create_connection(("127.0.0.1", service)) for _ in range(CAP)]
    try:
        for connection in held:  # each one accepted and kept alive (one answer on it)
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            connection.settimeout(10)
            assert connection.recv(4096).startswith(b"HTTP/1.1 200")
        with socket.create_connection(("127.0.0.1", service)) as extra:
            extra.settimeout(10)
            answer = _read_all(extra)  # nothing sent: the answer comes at once, then the close
        assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
        assert b"retry-after: 5" in answer.lower()
        error = json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]
        assert error == f"more than {CAP} open connections to this worker (LEADSCORE_MAX_CONNECTIONS); retry"
    finally:
        for connection in held:
            connection.close()
    assert wait_for(_ready(service), 10)  # the held connections gone, the worker takes new ones again


def _ready(port: int):
    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
                return response.status == 200
        except OSError:
            return False

    return ready
