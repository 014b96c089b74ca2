"""Serving a class: `deploy/serve.sh` (what `make serve` runs) with 2 replicas behind nginx, in Chromium.

A visitor's session lives in one Streamlit process: its websocket, its uploads (PUT to that process) and
the images it is sent (served from that process's memory). So the page only works through the proxy if
every request of a browser reaches the same replica; a broken affinity shows up as images that fail to
load and uploads that get no verdict. Two visitors, each with its own affinity cookie: one trains, one
uploads a photo. Then stopping serve.sh must stop every process it started.

Without nginx these tests skip on a developer's machine but fail when env CI is set (CI installs it).
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e import conftest as e2e
from tests.e2e import servers
from tests.model import image_factory as make

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips the tests (or fails them under CI)
    expect = None

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
TRAIN_TIMEOUT_MS = 30_000  # generous for a busy 2-core machine running two replicas
STOP_TIMEOUT = 20.0  # s for serve.sh to stop its replicas and nginx after SIGTERM
MEDIA_LOADED_JS = """() => {
    const media = [...document.images].filter(img => img.src.includes('/media/'));
    return media.length > 0 && media.every(img => img.complete && img.naturalWidth > 0);
}"""


@contextmanager
def serving(data_dir, run_dir: Path):
    """Start deploy/serve.sh with 2 replicas on free ports; yield (process, proxy URL); kill what is left."""
    ports = [servers.free_port() for _ in range(3)]
    env = dict(os.environ, REPLICAS="2", PORT=str(ports[0]), LISTEN=f"127.0.0.1:{ports[0]}",
               REPLICA_PORTS=f"{ports[1]} {ports[2]}", SERVE_DIR=str(run_dir), PYTHON=sys.executable,
               NGINX=NGINX, CATVNONCAT_DATA_DIR=str(data_dir), MICROGRAD_WEIGHTS=str(e2e.WEIGHTS),
               STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    output = run_dir / "serve.out"
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(output, "w") as out:
        process = subprocess.Popen(["bash", "deploy/serve.sh"], cwd=e2e.REPO_ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{ports[0]}"
    try:
        deadline = time.monotonic() + 2 * servers.STARTUP_TIMEOUT  # two replicas start side by side on 2 cores
        while time.monotonic() < deadline and process.poll() is None and not servers.healthy(url):
            time.sleep(0.3)
        if not servers.healthy(url):
            pytest.fail(f"serve.sh did not answer at {url} (exit code {process.poll()}):\n{servers.log_tail(output)}\n"
                        + "\n".join(f"{p.name}:\n{servers.log_tail(p)}" for p in sorted((run_dir / "logs").glob("*"))),
                        pytrace=False)
        yield process, url
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # whatever the test's own stop left running
        except ProcessLookupError:
            pass
        process.wait()


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def replica_tracebacks(run_dir: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in (run_dir / "logs").glob("replica-*.log")
                     if "Traceback" in p.read_text(errors="replace"))


@pytest.fixture
def run_dir(request):
    folder = e2e.ARTIFACTS / "serve"  # kept after the test: the replicas' and nginx's logs
    shutil.rmtree(folder, ignore_errors=True)
    return folder


def test_two_visitors_train_and_upload_through_nginx(browser, data_dir, run_dir, tmp_path):
    e2e.require(os.access(NGINX, os.X_OK), f"{NGINX} is missing (apt-get install nginx)")
    e2e.require(e2e.WEIGHTS.is_file(), f"{e2e.WEIGHTS} is missing; run `make weights`")
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(make.jpeg_photo(megapixels=1))
    with serving(data_dir, run_dir) as (process, url):
        contexts = [browser.new_context(viewport=e2e.VIEWPORT) for _ in range(2)]
        try:
            trainer, uploader = (e2e.App(context.new_page(), url) for context in contexts)
            for visitor in (trainer, uploader):
                visitor.load()
            cookies = [{c["name"]: c["value"] for c in context.cookies()} for context in contexts]
            assert all("micrograd_replica" in c for c in cookies), cookies
            assert cookies[0]["micrograd_replica"] != cookies[1]["micrograd_replica"]

            trainer.click("play")
            first = trainer.wait_for_epoch_above(0, TRAIN_TIMEOUT_MS)
            uploader.widget("upload").locator("input[type=file]").set_input_files([photo])
            expect(uploader.page.get_by_role("heading", level=3).filter(
                has_text=re.compile(r"^MP: (cat|non-cat)$"))).to_have_count(1, timeout=TRAIN_TIMEOUT_MS)
            assert trainer.wait_for_epoch_above(first, TRAIN_TIMEOUT_MS) > first  # still training meanwhile
            trainer.click("pause")
            for visitor in (trainer, uploader):  # every image came from the visitor's own replica
                visitor.page.wait_for_function(MEDIA_LOADED_JS, timeout=TRAIN_TIMEOUT_MS)
                expect(visitor.exceptions).to_have_count(0)
                assert visitor.page.evaluate("window.__stExceptions") == []
                assert not visitor.page_errors, visitor.page_errors
        finally:
            for context in contexts:
                context.close()
        assert not replica_tracebacks(run_dir), replica_tracebacks(run_dir)[-3000:]

        process.send_signal(signal.SIGTERM)  # what Ctrl-C does, to serve.sh alone: it must stop the rest
        assert process.wait(timeout=STOP_TIMEOUT) == 143, servers.log_tail(run_dir / "serve.out")
        deadline = time.monotonic() + STOP_TIMEOUT
        while group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not group_alive(process.pid), "serve.sh exited but left replicas or nginx running"
        assert not servers.healthy(url)
