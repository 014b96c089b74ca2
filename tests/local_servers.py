"""Fixtures for tests that fetch the data set: local HTTP servers and a refused port, never the internet.

Registered for the whole suite in tests/conftest.py; a module that fetches marks itself with
`pytestmark = pytest.mark.usefixtures("local_only")`.
"""
import collections
import functools
import http.server
import socket
import threading
import time
from pathlib import Path

import pytest

from model import dataset


@pytest.fixture
def refused_url():
    """A base URL on 127.0.0.1 where nothing listens (the port stays bound, so nobody else takes it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"


@pytest.fixture
def local_only(monkeypatch, tmp_path, refused_url):
    # Local servers are reached directly, a developer's settings do not leak in, and should a test forget
    # to pass its own sources, the built-in mirrors and the shared folder lead nowhere: never the internet.
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.delenv(dataset.DIR_ENV, raising=False)
    monkeypatch.delenv(dataset.URLS_ENV, raising=False)
    monkeypatch.setattr(dataset, "MIRRORS", (refused_url,))
    monkeypatch.setattr(dataset, "SHARED_DATA_DIR", tmp_path / "no-shared")


class _CountingHandler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        with self.server.lock:
            self.server.requests[self.path.lstrip("/")] += 1
        time.sleep(self.server.delay)  # lets a test keep a download in flight
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def serve():
    """serve(folder, delay=0) -> a threaded HTTP server on 127.0.0.1 serving `folder`, with .url and
    .requests (a Counter of the file names asked for); shut down after the test."""
    servers = []

    def start(folder: Path, delay: float = 0.0) -> http.server.ThreadingHTTPServer:
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(_CountingHandler, directory=str(folder)))
        server.requests, server.lock, server.delay = collections.Counter(), threading.Lock(), delay
        server.url = f"http://127.0.0.1:{server.server_address[1]}/"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
