"""Fetching the data set: copies, downloads from local HTTP servers, single flight, the CLI. Never the internet."""

import collections
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from model import dataset
from model.dataset import FILES, SHA256, DatasetError, fetch_catvnoncat, load_catvnoncat
from model.paths import REPO_ROOT

pytestmark = pytest.mark.usefixtures("local_only")


def assert_good(folder: Path) -> None:
    for name in FILES:
        assert dataset.sha256_of(folder / name) == SHA256[name]


def assert_no_leftovers(folder: Path) -> None:
    assert sorted(p.name for p in folder.iterdir()) == [], "a bad or partial file was left behind"


def assert_manual_ways(msg: str, dest: Path) -> None:
    """A failure is one paragraph that ends with what the user can do by hand."""
    assert "\n" not in msg
    assert "CATVNONCAT_DIR" in msg and str(dest) in msg and "make data" in msg


# --------------------------------------------------------------------------------------- copying

def test_fetch_from_source_dir(data_dir, tmp_path, capsys):
    dest = tmp_path / "dest"
    paths = fetch_catvnoncat(dest, source_dirs=[tmp_path / "empty", data_dir], urls=[])
    assert paths == [dest / name for name in FILES]
    assert_good(dest)
    assert capsys.readouterr().out.count("copied from") == 2
    assert load_catvnoncat(dest).x_train.shape == (209, 12288)

    mtimes = [p.stat().st_mtime_ns for p in paths]
    fetch_catvnoncat(dest, source_dirs=[], urls=[])  # good copies are kept, nothing else is tried
    assert [p.stat().st_mtime_ns for p in paths] == mtimes
    assert capsys.readouterr().out.count("already present") == 2


def test_fetch_quiet_prints_nothing(data_dir, tmp_path, capsys):
    fetch_catvnoncat(tmp_path / "dest", source_dirs=[data_dir], urls=[], quiet=True)
    assert capsys.readouterr().out == ""


def test_fetch_from_env_dir(course_copy, tmp_path, monkeypatch, capsys):
    env_dir = course_copy("env")
    monkeypatch.setenv(dataset.DIR_ENV, str(env_dir))
    dest = tmp_path / "dest"
    fetch_catvnoncat(dest, urls=[])
    assert_good(dest)
    assert f"copied from {env_dir}" in capsys.readouterr().out


def test_fetch_from_shared_dir_by_default(data_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(dataset, "SHARED_DATA_DIR", data_dir)
    fetch_catvnoncat(tmp_path / "dest", urls=[])
    assert_good(tmp_path / "dest")
    assert f"copied from {data_dir}" in capsys.readouterr().out


def test_fetch_skips_bad_source_and_replaces_bad_dest(data_dir, course_copy, capsys):
    bad = course_copy("bad", corrupt=FILES)
    dest = course_copy("dest", corrupt=FILES)  # dest starts with corrupt copies
    fetch_catvnoncat(dest, source_dirs=[bad, data_dir], urls=[])
    assert_good(dest)
    assert capsys.readouterr().out.count(f"copied from {data_dir}") == 2
    assert sorted(p.name for p in dest.iterdir()) == sorted(FILES)


def test_fetch_failure_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv(dataset.DIR_ENV, str(tmp_path / "env"))
    dest = tmp_path / "dest"
    with pytest.raises(DatasetError) as info:
        fetch_catvnoncat(dest, urls=[(tmp_path / "no-mirror").as_uri() + "/"])
    msg = str(info.value)
    assert_manual_ways(msg, dest)
    assert "train_catvnoncat.h5" in msg
    assert str(tmp_path / "env") in msg and "no-shared" in msg and "no-mirror" in msg
    assert_no_leftovers(dest)


def test_download_via_file_url(data_dir, tmp_path, capsys):
    dest = tmp_path / "dest"
    fetch_catvnoncat(dest, source_dirs=[], urls=[data_dir.as_uri()])
    assert_good(dest)
    assert capsys.readouterr().out.count("downloaded from file://") == 2


def test_oversized_download_is_rejected(data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(dataset, "MAX_DOWNLOAD_BYTES", 1000)
    with pytest.raises(DatasetError, match="too large"):
        fetch_catvnoncat(tmp_path / "dest", source_dirs=[], urls=[data_dir.as_uri()])
    assert_no_leftovers(tmp_path / "dest")


# ------------------------------------------------------------------------------------- downloading

def test_download_installs_atomically_and_reports_progress(data_dir, tmp_path, serve, capsys):
    server, dest = serve(data_dir), tmp_path / "dest"
    calls, seen_mid_download = collections.defaultdict(list), []

    def progress(done, total, name):
        calls[name].append((done, total))
        if done < total:  # mid-download: only a hidden .part file exists, never a half-written name
            seen_mid_download.append((dest / name).exists() or not list(dest.glob(f".{name}.*.part")))

    paths = fetch_catvnoncat(dest, source_dirs=[], urls=[server.url], progress=progress)
    assert_good(dest)
    assert sorted(p.name for p in dest.iterdir()) == sorted(FILES)  # no .part left
    assert seen_mid_download and not any(seen_mid_download)
    for name in FILES:
        size = (data_dir / name).stat().st_size
        done = [d for d, _ in calls[name]]
        assert done == sorted(set(done)) and done[-1] == size  # strictly increasing, ending at the total
        assert {total for _, total in calls[name]} == {size}  # the total comes from Content-Length
    assert capsys.readouterr().out.count(f"downloaded from {server.url}") == 2
    assert load_catvnoncat(paths[0].parent).y_test.shape == (50, 1)


def test_files_already_present_are_not_downloaded_again(data_dir, tmp_path, serve):
    server, dest = serve(data_dir), tmp_path / "dest"
    fetch_catvnoncat(dest, source_dirs=[], urls=[server.url], quiet=True)
    calls = []
    fetch_catvnoncat(dest, source_dirs=[], urls=[server.url], quiet=True, progress=lambda *a: calls.append(a))
    assert server.requests == {name: 1 for name in FILES}
    assert calls == [((data_dir / n).stat().st_size, (data_dir / n).stat().st_size, n) for n in FILES]


def test_a_404_mirror_is_skipped_for_the_next(data_dir, tmp_path, serve, capsys):
    (tmp_path / "empty").mkdir()
    missing, good = serve(tmp_path / "empty"), serve(data_dir)
    fetch_catvnoncat(tmp_path / "dest", source_dirs=[], urls=[missing.url, good.url])
    assert_good(tmp_path / "dest")
    assert capsys.readouterr().out.count(f"downloaded from {good.url}") == 2


def test_download_404_is_reported(tmp_path, serve):
    (tmp_path / "empty").mkdir()
    server, dest = serve(tmp_path / "empty"), tmp_path / "dest"
    with pytest.raises(DatasetError) as info:
        fetch_catvnoncat(dest, source_dirs=[], urls=[server.url])
    msg = str(info.value)
    assert f"{server.url}train_catvnoncat.h5 (HTTP 404" in msg
    assert_manual_ways(msg, dest)
    assert_no_leftovers(dest)


def test_download_with_wrong_hash_leaves_nothing(course_copy, tmp_path, serve):
    bad = course_copy("bad", corrupt=FILES)
    server, dest = serve(bad), tmp_path / "dest"
    with pytest.raises(DatasetError) as info:
        fetch_catvnoncat(dest, source_dirs=[], urls=[server.url, bad.as_uri()])
    msg = str(info.value)
    assert f"{server.url}train_catvnoncat.h5 (wrong SHA-256)" in msg and msg.count("wrong SHA-256") == 2
    assert_manual_ways(msg, dest)
    assert_no_leftovers(dest)


def test_offline_fails_fast_with_a_clear_message(tmp_path, refused_url):
    dest = tmp_path / "dest"
    start = time.monotonic()
    with pytest.raises(DatasetError) as info:
        fetch_catvnoncat(dest, source_dirs=[], urls=[refused_url], timeout=60)
    assert time.monotonic() - start < 10, "a refused connection must not wait for the timeout"
    msg = str(info.value)
    assert f"{refused_url}train_catvnoncat.h5 (connection refused)" in msg
    assert_manual_ways(msg, dest)
    assert_no_leftovers(dest)


def test_a_mirror_that_never_answers_times_out(tmp_path):
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) but never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        with pytest.raises(DatasetError, match=r"no answer within 0\.3 s"):
            fetch_catvnoncat(tmp_path / "dest", source_dirs=[], urls=[url], timeout=0.3)
    assert_no_leftovers(tmp_path / "dest")


def test_a_progress_callback_that_raises_leaves_nothing(data_dir, tmp_path, serve):
    class Stop(Exception):  # as when a page stops its script mid-download
        pass

    def progress(done, total, name):
        raise Stop

    with pytest.raises(Stop):
        fetch_catvnoncat(tmp_path / "dest", source_dirs=[], urls=[serve(data_dir).url], progress=progress)
    assert_no_leftovers(tmp_path / "dest")


def test_the_built_in_mirrors_are_the_default(data_dir, tmp_path, serve, monkeypatch):
    server = serve(data_dir)
    monkeypatch.setattr(dataset, "MIRRORS", (server.url,))
    fetch_catvnoncat(tmp_path / "dest", source_dirs=[], quiet=True)
    assert server.requests == {name: 1 for name in FILES}


def test_catvnoncat_urls_replaces_the_mirrors(data_dir, tmp_path, serve, monkeypatch, refused_url):
    mirror, replacement = serve(data_dir), serve(data_dir)
    monkeypatch.setattr(dataset, "MIRRORS", (mirror.url,))
    monkeypatch.setenv(dataset.URLS_ENV, f"  {refused_url}   {replacement.url} ")
    fetch_catvnoncat(tmp_path / "dest", source_dirs=[], quiet=True)
    assert_good(tmp_path / "dest")
    assert replacement.requests == {name: 1 for name in FILES} and not mirror.requests

    monkeypatch.setenv(dataset.URLS_ENV, refused_url)
    with pytest.raises(DatasetError) as info:
        fetch_catvnoncat(tmp_path / "other", source_dirs=[])
    assert refused_url in str(info.value) and mirror.url not in str(info.value)


def test_two_visitors_at_once_download_once(data_dir, tmp_path, serve):
    server = serve(data_dir, delay=0.3)  # keeps the first download in flight while the second arrives
    dest, start = tmp_path / "dest", threading.Barrier(2)
    results, errors = [], []

    def visitor():
        start.wait()
        try:
            results.append(fetch_catvnoncat(dest, source_dirs=[], urls=[server.url], quiet=True))
        except Exception as exc:  # reported below: a thread's exception would otherwise be lost
            errors.append(exc)

    threads = [threading.Thread(target=visitor) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors and len(results) == 2 and results[0] == results[1]
    assert server.requests == {name: 1 for name in FILES}
    assert_good(dest)


# -------------------------------------------------------------------------------------------- CLI

def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in (dataset.DIR_ENV, dataset.URLS_ENV)}
    return subprocess.run([sys.executable, "-m", "model.fetch", *args], cwd=REPO_ROOT,
                          env={**clean, "no_proxy": "*", **env}, capture_output=True, text=True, timeout=120)


def one_line(stderr: str) -> list:
    """The CLI's failure output must be exactly one line: no traceback, no warning."""
    assert "RuntimeWarning" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines


def test_cli_check_verifies_the_project_data(data_dir):
    proc = run_cli("--check")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"{data_dir / name}: SHA-256 ok" for name in FILES]
    assert proc.stderr == ""


def test_cli_failure_exit_1_one_line(tmp_path, refused_url):
    (tmp_path / "empty").mkdir()
    proc = run_cli("--dest", str(tmp_path / "dest"), "--source-dir", str(tmp_path / "empty"),
                   "--url-base", (tmp_path / "empty").as_uri(), "--url-base", refused_url)
    assert proc.returncode == 1
    lines = one_line(proc.stderr)
    assert lines[0].startswith("error: could not get train_catvnoncat.h5")
    assert "CATVNONCAT_DIR" in lines[0] and "connection refused" in lines[0]
    assert_no_leftovers(tmp_path / "dest")


def test_cli_success_and_check(data_dir, tmp_path, course_copy):
    dest = tmp_path / "dest"
    proc = run_cli("--dest", str(dest), "--source-dir", str(data_dir))
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.strip().splitlines()) == 2
    assert_good(dest)

    assert run_cli("--dest", str(dest), "--check").returncode == 0
    proc = run_cli("--dest", str(course_copy("bad", corrupt=["test_catvnoncat.h5"])), "--check")
    assert proc.returncode == 1
    one_line(proc.stderr)
    assert "test_catvnoncat.h5" in proc.stderr and "make data" in proc.stderr


def test_cli_downloads_from_url_base(data_dir, tmp_path, serve):
    (tmp_path / "empty").mkdir()
    server, dest = serve(data_dir), tmp_path / "dest"
    proc = run_cli("--dest", str(dest), "--source-dir", str(tmp_path / "empty"), "--url-base", server.url)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count(f"downloaded from {server.url}") == 2
    assert server.requests == {name: 1 for name in FILES}
    assert_good(dest)


def test_cli_reads_catvnoncat_urls(data_dir, tmp_path, serve):
    (tmp_path / "empty").mkdir()
    server, dest = serve(data_dir), tmp_path / "dest"
    proc = run_cli("--dest", str(dest), "--source-dir", str(tmp_path / "empty"), CATVNONCAT_URLS=server.url)
    assert proc.returncode == 0, proc.stderr
    assert server.requests == {name: 1 for name in FILES}
    assert_good(dest)
