"""A real `leadscore serve` process for tests: started on a free loopback port, stopped after."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import urllib.request
from contextlib import contextmanager, suppress
from pathlib import Path

from tests.waiting import wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(ready, server: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    """Await `ready()`; fail with the end of the server's log if the server stops or `timeout`
    seconds pass first."""

    def settled() -> bool:
        try:
            if ready():
                return True
        except (OSError, ValueError):
            pass
        return server.poll() is not None  # stopped: no point waiting

    assert wait_for(settled, timeout, every=0.5) and server.poll() is None, log.read_text()[-3000:]


def stop(server: subprocess.Popen, grace: float = 30) -> None:
    """Stop a server started in its own session (`start_new_session=True`) and its workers:
    SIGTERM to the group, SIGKILL when it has not ended after `grace` seconds."""
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)


def _ready(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return json.loads(response.read()).get("status") == "ready"


@contextmanager
def live_service(folder: Path, key: str, tracking_uri: str, db_url: str | None = None, env: dict | None = None):
    """Yield the base URL of a ready service whose model comes from `tracking_uri`; its log is
    `folder/serve.log`, its feedback store `db_url` (default `folder/feedback.db`); `env`: more
    environment variables."""
    port = free_port()
    env = {
        **os.environ,
        "LEADSCORE_API_KEY": key,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MLFLOW_REGISTRY_URI": tracking_uri,
        "LEADSCORE_DB_URL": db_url or f"sqlite:///{folder / 'feedback.db'}",
        **(env or {}),
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
        stop(server)
        log.close()


@contextmanager
def postgres_database(prefix: str = "leadscore_test"):
    """A fresh database on the machine's PostgreSQL (127.0.0.1:5432, trust auth), dropped after."""
    import secrets

    from tests.integration.test_mlflow_server import _postgres

    connection = _postgres()
    database = f"{prefix}_{secrets.token_hex(4)}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{database}"')
    try:
        yield database
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        connection.close()


class TcpProxy:
    """A loopback TCP forwarder to `target_port` that a test can cut (every connection closed,
    new ones refused) and restore: a database that goes away and comes back."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: list = []
        self._listener = None

    def start(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source, sink) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with suppress(OSError):
                    s.close()

    def cut(self) -> None:
        if self._listener is not None:
            with suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone does not)
            self._listener.close()
            self._listener = None
        with self._lock:
            for s in self._sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass
            self._sockets.clear()


@contextmanager
def scores_locked(db_url: str):
    """The score log's `scores` table locked by another connection until the block ends."""
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        connection = sqlite3.connect(url.database, timeout=30, isolation_level=None)
        connection.execute("BEGIN EXCLUSIVE")  # no other connection reads or writes the file
    else:
        import psycopg

        connection = psycopg.connect(host=url.host, port=url.port or 5432, user=url.username, dbname=url.database)
        connection.execute("LOCK TABLE scores IN ACCESS EXCLUSIVE MODE")  # in the transaction psycopg opened
    try:
        yield
    finally:
        connection.rollback()
        connection.close()
