"""model.dataset: loading, checksum guard, and every way fetch can get the files (no real network)."""

import contextlib
import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from model import dataset
from model.dataset import FILES, SHA256, DatasetError, fetch_catvnoncat, load_catvnoncat

REPO_ROOT = Path(dataset.__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ds(data_dir):
    return load_catvnoncat(data_dir)


@pytest.fixture(autouse=True)
def _no_proxy_no_env(monkeypatch):
    # Local servers must be reached directly, and a developer's CATVNONCAT_DIR must not leak in.
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.delenv(dataset.ENV_VAR, raising=False)


def copy_files(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copyfile(src / name, dst / name)
    return dst


def flip_byte(path: Path, offset: int = 1000) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0xFF
    path.write_bytes(bytes(raw))


def assert_good(folder: Path) -> None:
    for name in FILES:
        assert dataset.sha256_of(folder / name) == SHA256[name]


def assert_no_leftovers(folder: Path) -> None:
    assert sorted(p.name for p in folder.iterdir()) == [], "a bad or partial file was left behind"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(directory: Path):
    """A threaded HTTP server on 127.0.0.1 (free port) serving `directory`; shut down on exit."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# ------------------------------------------------------------------------------------------- load

def test_shapes_and_dtypes(ds):
    assert ds.x_train.shape == (209, 12288) and ds.x_train.dtype == np.float64
    assert ds.y_train.shape == (209, 1) and ds.y_train.dtype == np.float64
    assert ds.x_test.shape == (50, 12288) and ds.x_test.dtype == np.float64
    assert ds.y_test.shape == (50, 1) and ds.y_test.dtype == np.float64
    assert ds.images_train.shape == (209, 64, 64, 3) and ds.images_train.dtype == np.uint8
    assert ds.images_test.shape == (50, 64, 64, 3) and ds.images_test.dtype == np.uint8


def test_ranges_and_labels(ds):
    for x in (ds.x_train, ds.x_test):
        assert x.min() >= 0.0 and x.max() <= 1.0 and x.max() > 0.9
    for y in (ds.y_train, ds.y_test):
        assert set(np.unique(y)) == {0.0, 1.0}
    assert int(ds.y_train.sum()) == 72
    assert int(ds.y_test.sum()) == 33


def test_classes(ds):
    assert ds.classes == ["non-cat", "cat"]
    assert all(type(c) is str for c in ds.classes)


def test_image_to_x_layout(ds):
    for i in (0, 1, 100, 208):
        np.testing.assert_array_equal(ds.x_train[i], ds.images_train[i].reshape(-1) / 255)
    np.testing.assert_array_equal(ds.x_test[49], ds.images_test[49].reshape(-1) / 255)
    # channel fastest: element 0..2 are the R, G, B of pixel (0, 0)
    np.testing.assert_array_equal(ds.x_train[3, :3], ds.images_train[3, 0, 0, :] / 255)


def test_arrays_are_read_only(ds):
    for name in ("x_train", "y_train", "x_test", "y_test", "images_train", "images_test"):
        arr = getattr(ds, name)
        assert not arr.flags.writeable, name
        with pytest.raises(ValueError):
            arr[0] = 0
    with pytest.raises(AttributeError):  # frozen dataclass
        ds.x_train = None


def test_default_dir_works_from_any_cwd(data_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_catvnoncat().x_train.shape == (209, 12288)
    assert load_catvnoncat("data").x_test.shape == (50, 12288)  # relative: falls back to the repo root
    monkeypatch.chdir(REPO_ROOT)
    assert load_catvnoncat("data").y_test.shape == (50, 1)
    assert load_catvnoncat(str(data_dir)).y_train.shape == (209, 1)


def test_repr_is_short(ds):
    text = repr(ds)
    assert "209" in text and "72 cats" in text and len(text) < 200


@pytest.mark.parametrize("name", FILES)
def test_checksum_failure_names_file_and_make_data(data_dir, tmp_path, name):
    folder = copy_files(data_dir, tmp_path / "d")
    flip_byte(folder / name)
    with pytest.raises(DatasetError) as info:
        load_catvnoncat(folder)
    msg = str(info.value)
    assert name in msg and "make data" in msg and "SHA-256" in msg
    assert "\n" not in msg


@pytest.mark.parametrize("name", FILES)
def test_missing_file(data_dir, tmp_path, name):
    folder = copy_files(data_dir, tmp_path / "d")
    (folder / name).unlink()
    with pytest.raises(DatasetError, match="missing") as info:
        load_catvnoncat(folder)
    assert name in str(info.value) and "make data" in str(info.value)


def test_missing_folder(tmp_path):
    with pytest.raises(DatasetError, match="make data"):
        load_catvnoncat(tmp_path / "nowhere")


def test_unreadable_h5_with_matching_hash(tmp_path, monkeypatch):
    folder = tmp_path / "d"
    folder.mkdir()
    for name in FILES:
        (folder / name).write_bytes(b"not an HDF5 file " + name.encode())
        monkeypatch.setitem(dataset.SHA256, name, dataset.sha256_of(folder / name))
    with pytest.raises(DatasetError, match="not a readable") as info:
        load_catvnoncat(folder)
    assert "train_catvnoncat.h5" in str(info.value) and "make data" in str(info.value)


# ------------------------------------------------------------------------------------------ fetch

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


def test_fetch_from_env_dir(data_dir, tmp_path, monkeypatch, capsys):
    env_dir = copy_files(data_dir, tmp_path / "env")
    monkeypatch.setenv(dataset.ENV_VAR, str(env_dir))
    monkeypatch.setattr(dataset, "SHARED_DATA_DIR", tmp_path / "no-shared")
    dest = tmp_path / "dest"
    fetch_catvnoncat(dest, urls=[])
    assert_good(dest)
    assert f"copied from {env_dir}" in capsys.readouterr().out


def test_fetch_from_shared_dir_by_default(data_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(dataset, "SHARED_DATA_DIR", data_dir)
    fetch_catvnoncat(tmp_path / "dest", urls=[])
    assert_good(tmp_path / "dest")
    assert f"copied from {data_dir}" in capsys.readouterr().out


def test_fetch_skips_bad_source_and_replaces_bad_dest(data_dir, tmp_path, capsys):
    bad = copy_files(data_dir, tmp_path / "bad")
    for name in FILES:
        flip_byte(bad / name)
    dest = copy_files(bad, tmp_path / "dest")  # dest starts with corrupt copies
    fetch_catvnoncat(dest, source_dirs=[bad, data_dir], urls=[])
    assert_good(dest)
    assert capsys.readouterr().out.count(f"copied from {data_dir}") == 2
    assert sorted(p.name for p in dest.iterdir()) == sorted(FILES)


def test_fetch_failure_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv(dataset.ENV_VAR, str(tmp_path / "env"))
    monkeypatch.setattr(dataset, "SHARED_DATA_DIR", tmp_path / "no-shared")
    dest = tmp_path / "dest"
    with pytest.raises(DatasetError) as info:
        fetch_catvnoncat(dest, urls=[(tmp_path / "no-mirror").as_uri() + "/"])
    msg = str(info.value)
    assert "\n" not in msg
    assert "train_catvnoncat.h5" in msg and "CATVNONCAT_DIR" in msg and str(dest) in msg
    assert str(tmp_path / "env") in msg and "no-shared" in msg and "no-mirror" in msg
    assert_no_leftovers(dest)


def test_download_via_file_url(data_dir, tmp_path, capsys):
    dest = tmp_path / "dest"
    fetch_catvnoncat(dest, source_dirs=[], urls=[data_dir.as_uri()])
    assert_good(dest)
    assert capsys.readouterr().out.count("downloaded from file://") == 2


def test_download_via_local_http_server(data_dir, tmp_path, capsys):
    dest = tmp_path / "dest"
    (tmp_path / "empty").mkdir()
    with serve(tmp_path / "empty") as missing_base, serve(data_dir) as good_base:
        fetch_catvnoncat(dest, source_dirs=[], urls=[missing_base, good_base])  # first mirror: 404
    assert_good(dest)
    out = capsys.readouterr().out
    assert out.count(f"downloaded from {good_base}") == 2
    assert load_catvnoncat(dest).y_test.shape == (50, 1)


def test_download_404_is_reported(tmp_path):
    (tmp_path / "empty").mkdir()
    with serve(tmp_path / "empty") as base:
        with pytest.raises(DatasetError, match="HTTP 404"):
            fetch_catvnoncat(tmp_path / "dest", source_dirs=[], urls=[base])
    assert_no_leftovers(tmp_path / "dest")


def test_download_with_wrong_hash_leaves_nothing(data_dir, tmp_path):
    bad = copy_files(data_dir, tmp_path / "bad")
    for name in FILES:
        flip_byte(bad / name)
    dest = tmp_path / "dest"
    with serve(bad) as base:
        with pytest.raises(DatasetError, match="wrong SHA-256"):
            fetch_catvnoncat(dest, source_dirs=[], urls=[base, bad.as_uri()])
    assert_no_leftovers(dest)


def test_oversized_download_is_rejected(data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(dataset, "MAX_DOWNLOAD_BYTES", 1000)
    with pytest.raises(DatasetError):
        fetch_catvnoncat(tmp_path / "dest", source_dirs=[], urls=[data_dir.as_uri()])
    assert_no_leftovers(tmp_path / "dest")


# -------------------------------------------------------------------------------------------- CLI

def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != dataset.ENV_VAR}
    return subprocess.run([sys.executable, "-m", "model.dataset", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def one_line(stderr: str) -> list:
    """The CLI's failure output must be exactly one line: no traceback, no warning."""
    assert "RuntimeWarning" not in stderr, (
        "model/__init__.py imports model.dataset eagerly, so `python -m model.dataset` (make data) "
        "warns; import it lazily (a module-level __getattr__) instead:\n" + stderr)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines


def test_cli_failure_exit_1_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = run_cli("--dest", str(tmp_path / "dest"), "--source-dir", str(tmp_path / "empty"),
                   "--url-base", (tmp_path / "empty").as_uri())
    assert proc.returncode == 1
    lines = one_line(proc.stderr)
    assert lines[0].startswith("error: could not get train_catvnoncat.h5")
    assert "CATVNONCAT_DIR" in lines[0]
    assert_no_leftovers(tmp_path / "dest")


def test_cli_success_and_check(data_dir, tmp_path):
    dest = tmp_path / "dest"
    proc = run_cli("--dest", str(dest), "--source-dir", str(data_dir))
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.strip().splitlines()) == 2
    assert_good(dest)

    assert run_cli("--dest", str(dest), "--check").returncode == 0
    flip_byte(dest / "test_catvnoncat.h5")
    proc = run_cli("--dest", str(dest), "--check")
    assert proc.returncode == 1
    one_line(proc.stderr)
    assert "test_catvnoncat.h5" in proc.stderr and "make data" in proc.stderr
