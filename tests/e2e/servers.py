"""The real page under `streamlit run app.py` and Debian's Chromium, for the browser tests and `python -m bench app`:
start a server on a free port, know when it answers, stop it with everything it started.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
STARTUP_TIMEOUT = 60.0  # s for the server to answer /_stcore/health
STOP_TIMEOUT = 10.0  # s for the server to exit after SIGTERM before it is killed
# Run in the page: the Epoch metric's value as a number (null while there is no Epoch metric).
EPOCH_JS = """() => {
    const metric = [...document.querySelectorAll('[data-testid="stMetric"]')].find(m =>
        m.querySelector('[data-testid="stMetricLabel"]')?.innerText.trim() === 'Epoch');
    const value = metric?.querySelector('[data-testid="stMetricValue"]')?.innerText ?? '';
    const digits = value.replace(/[^0-9]/g, '');
    return digits ? parseInt(digits, 10) : null;
}"""


class NotStarted(RuntimeError):
    """`start_streamlit` found no answering server; str() ends with the tail of its log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200 and response.read().strip() == b"ok"
    except (urllib.error.URLError, OSError):
        return False


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, SIGKILL if it is still there after STOP_TIMEOUT."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT)
    except ProcessLookupError:
        pass


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start_streamlit(cwd: Path, env: dict, log_path: Path) -> tuple[subprocess.Popen, str]:
    """`python -m streamlit run app.py` in `cwd` on a free port, its output in `log_path`; (process, URL) once it
    answers. Tries another port if one was taken before the server bound it; `NotStarted` if it never answers."""
    env = dict(env, STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    for _ in range(3):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                   "--server.port", str(port), "--server.address", "127.0.0.1",
                   "--server.fileWatcherType", "none", "--server.runOnSave", "false"]
        with open(log_path, "w") as log:
            process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)  # its own process group
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None and not healthy(url):
            time.sleep(0.2)
        if process.poll() is None and healthy(url):
            return process, url
        stop(process)
        if "already in use" not in log_tail(log_path):
            break
    raise NotStarted(f"streamlit in {cwd} did not answer at {url} within {STARTUP_TIMEOUT:.0f} s (exit code "
                     f"{process.returncode}); {log_path}:\n{log_tail(log_path)}")
