"""The catvnoncat data set: the two course HDF5 files, fetched and loaded with SHA-256 checks, as arrays.

The files are not ours to redistribute, so they come from a local copy or a pinned public mirror; a file
that is truncated, swapped or tampered with fails here instead of training a model. Shell: `make data`.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import h5py
import numpy as np

from model.cat import IMAGE_SHAPE
from model.images import to_input
from model.paths import DATA_DIR, REPO_ROOT

__all__ = [
    "CatVNonCat",
    "DatasetError",
    "check_catvnoncat",
    "fetch_catvnoncat",
    "load_catvnoncat",
    "read_only",
    "DATA_DIR",
    "FILES",
    "SHA256",
    "MIRRORS",
]

DIR_ENV = "CATVNONCAT_DIR"  # a folder holding the course files, to copy them from
URLS_ENV = "CATVNONCAT_URLS"  # space-separated base URLs that replace MIRRORS
# A `shared/data` folder beside the checkout, as some course setups provide: copied from when it exists.
SHARED_DATA_DIR = REPO_ROOT.parent / "shared" / "data"

TRAIN_FILE = "train_catvnoncat.h5"
TEST_FILE = "test_catvnoncat.h5"
FILES = (TRAIN_FILE, TEST_FILE)
SHA256 = {
    TRAIN_FILE: "fbe56ab67c3ae28d564e3a644189117976d6b31af0a3ce9bb17dbf22908af242",
    TEST_FILE: "6a9d39ce52fa85953c5834695b8534a30ed8cfd54971fb2f080b5a24d002b951",
}
# Public copies of the course files at pinned commits (a moving branch could change under us; the
# hash check catches that anyway). Each base URL + file name is one candidate.
MIRRORS = (
    "https://raw.githubusercontent.com/Hiren2002/Logistic-Regression/"
    "a6139a838a0e624f4ab923377df0c5d3386fdf1f/datasets/",
    "https://raw.githubusercontent.com/ramakris/coursera-deeplearning/"
    "c79617ebb9ff38e765e821f80352adee93f19357/Improving-DeepNN/datasets/",
)
DOWNLOAD_TIMEOUT = 15.0  # seconds for the connection and for each read; a refused connection fails at once
MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024  # the files are ~3 MB; a runaway response must not fill the disk
_CHUNK = 1 << 16

Progress = Callable[[int, int | None, str], None]  # (bytes done, total bytes or None, file name)


class DatasetError(Exception):
    """The data set is missing, corrupt or could not be fetched; the message says what to do."""


@dataclass(frozen=True, eq=False)
class CatVNonCat:
    """The loaded data set. Arrays are read-only: one copy is shared by every app session.

    x: (m, 12288) float64 in [0, 1], each row an image flattened row-major with channel fastest.
    y: (m, 1) float64 labels, 1.0 = cat.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    images_train: np.ndarray
    images_test: np.ndarray
    classes: list

    def __repr__(self) -> str:
        n_tr, n_te = len(self.y_train), len(self.y_test)
        cats_tr, cats_te = int(self.y_train.sum()), int(self.y_test.sum())
        return (f"CatVNonCat(train={n_tr} images ({cats_tr} cats), "
                f"test={n_te} images ({cats_te} cats), classes={self.classes})")


def read_only(array: np.ndarray) -> np.ndarray:
    """Mark `array` read-only and return it: arrays shared by every session must never be written."""
    array.flags.writeable = False
    return array


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _resolve_dir(data_dir: str | os.PathLike | None) -> Path:
    """None -> the repo's data/; a relative path that does not exist from the cwd is tried from the
    repo root, so `load_catvnoncat("data")` works whether or not the cwd is the repo root."""
    if data_dir is None:
        return DATA_DIR
    path = Path(data_dir).expanduser()
    if not path.is_absolute() and not path.is_dir() and (REPO_ROOT / path).is_dir():
        return REPO_ROOT / path
    return path


# ---------------------------------------------------------------------------------------------- load

def _check_file(path: Path) -> None:
    """Raise DatasetError unless `path` exists and has the expected SHA-256."""
    if not path.is_file():
        raise DatasetError(f"{path} is missing; run `make data` to fetch it.")
    try:
        actual = sha256_of(path)
    except OSError as exc:
        raise DatasetError(f"{path} cannot be read ({exc.strerror or exc}); run `make data`.") from None
    if actual != SHA256[path.name]:
        raise DatasetError(f"{path} has the wrong SHA-256 (corrupt or a different file); "
                           f"run `make data` to replace it.")


def check_catvnoncat(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Verify that both files are in `data_dir` (default data/) with the right SHA-256; return their paths.

    Raises DatasetError, naming the file and `make data`, if one is missing, unreadable or different.
    """
    folder = _resolve_dir(data_dir)
    paths = [folder / name for name in FILES]
    for path in paths:
        _check_file(path)
    return paths


def _read_split(path: Path, split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    try:
        with h5py.File(path, "r") as f:
            images = np.asarray(f[f"{split}_set_x"][()], dtype=np.uint8)
            labels = np.asarray(f[f"{split}_set_y"][()])
            classes = [c.decode() if isinstance(c, bytes) else str(c) for c in f["list_classes"][()]]
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise DatasetError(f"{path} is not a readable catvnoncat HDF5 file ({exc}); "
                           f"run `make data`.") from None
    if images.ndim != 4 or images.shape[1:] != IMAGE_SHAPE or labels.shape != (images.shape[0],):
        raise DatasetError(f"{path} has unexpected shapes {images.shape} / {labels.shape}; "
                           f"run `make data`.")
    return images, labels, classes


def load_catvnoncat(data_dir: str | os.PathLike | None = None) -> CatVNonCat:
    """Verify both files' SHA-256, then load them as arrays (see CatVNonCat).

    `data_dir` defaults to the project's data/ (found from this file, so any cwd works).
    Raises DatasetError, naming the file and `make data`, if a file is missing, corrupt or unreadable.
    """
    train_path, test_path = check_catvnoncat(data_dir)
    images_train, labels_train, classes = _read_split(train_path, "train")
    images_test, labels_test, _ = _read_split(test_path, "test")

    def xy(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = to_input(images)
        y = labels.reshape(-1, 1).astype(np.float64)
        return read_only(x), read_only(y)

    x_train, y_train = xy(images_train, labels_train)
    x_test, y_test = xy(images_test, labels_test)
    return CatVNonCat(
        x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
        images_train=read_only(images_train), images_test=read_only(images_test), classes=classes,
    )


# ---------------------------------------------------------------------------------------------- fetch

def _default_sources() -> list[Path]:
    """Folders to copy from: $CATVNONCAT_DIR if set, then SHARED_DATA_DIR."""
    sources = []
    if os.environ.get(DIR_ENV):
        sources.append(Path(os.environ[DIR_ENV]).expanduser())
    sources.append(SHARED_DATA_DIR)
    return sources


def _default_urls() -> list[str]:
    """Base URLs to download from: $CATVNONCAT_URLS (space-separated) if set, else MIRRORS."""
    return os.environ.get(URLS_ENV, "").split() or list(MIRRORS)


def _install(dest: Path, name: str, stream: BinaryIO, total: int | None, progress: Progress | None) -> str | None:
    """Copy `stream` to a temporary file beside dest/name and rename it into place (atomic) only if the
    SHA-256 matches, so a partial or wrong file never lands in dest. Returns None, or why it failed."""
    if total is not None and total > MAX_DOWNLOAD_BYTES:
        return f"too large ({total} bytes)"
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=dest)
    try:
        digest, done = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out:
            for block in iter(lambda: stream.read(_CHUNK), b""):
                done += len(block)
                if done > MAX_DOWNLOAD_BYTES:
                    return f"larger than {MAX_DOWNLOAD_BYTES} bytes"
                digest.update(block)
                out.write(block)
                if progress is not None:
                    progress(done, total, name)
        if digest.hexdigest() != SHA256[name]:
            return "wrong SHA-256"
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a data file should be readable like any other
        os.replace(tmp, dest / name)
        tmp = None
        return None
    finally:
        if tmp is not None:  # also when `progress` raises: the page may stop mid-download
            os.unlink(tmp)


def _why(exc: BaseException, timeout: float) -> str:
    """A short reason for a failed copy or download: 'HTTP 404 Not Found', 'connection refused', ..."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}".strip()
    if isinstance(exc, urllib.error.URLError):  # urlopen wraps the socket's error
        return _why(exc.reason, timeout) if isinstance(exc.reason, BaseException) else str(exc.reason)
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, socket.gaierror):
        return "host not found; offline?"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _try_source(source: Path | str, name: str, dest: Path, timeout: float, progress: Progress | None) -> str | None:
    """Install `name` from a local file (Path) or a URL (str). Returns None, or why it failed."""
    try:
        if isinstance(source, Path):
            if not source.is_file():
                return "missing"
            with open(source, "rb") as f:
                return _install(dest, name, f, os.fstat(f.fileno()).st_size, progress)
        with urllib.request.urlopen(source, timeout=timeout) as response:
            length = response.headers.get("Content-Length", "")
            return _install(dest, name, response, int(length) if length.isdigit() else None, progress)
    except (OSError, ValueError, http.client.HTTPException) as exc:
        if isinstance(exc, urllib.error.HTTPError):
            exc.close()  # an HTTPError holds the open response
        return _why(exc, timeout)


def _fetch_one(name: str, dest: Path, sources: Sequence[Path], urls: Sequence[str], timeout: float,
               progress: Progress | None) -> str:
    """Make dest/name a good copy; return how (for the log line), or raise DatasetError naming every try."""
    target, tried = dest / name, []
    if target.is_file():
        try:
            if sha256_of(target) == SHA256[name]:
                size = target.stat().st_size
                if progress is not None:
                    progress(size, size, name)
                return "already present"
            tried.append(f"{target} (wrong SHA-256)")
        except OSError as exc:
            tried.append(f"{target} ({exc.strerror or exc})")
    candidates = [folder / name for folder in sources] + [base.rstrip("/") + "/" + name for base in urls]
    for source in candidates:
        failure = _try_source(source, name, dest, timeout, progress)
        if failure is None:
            return f"{'copied' if isinstance(source, Path) else 'downloaded'} from {source}"
        tried.append(f"{source} ({failure})")
    raise DatasetError(
        f"could not get {name}. Tried: {'; '.join(tried) or 'no source'}. To get it by hand, set {DIR_ENV} "
        f"to a folder holding the two course files ({', '.join(FILES)}), or place them in {dest}/, "
        f"or run `make data` ({URLS_ENV} can name other mirrors)."
    )


_DEST_LOCKS: dict[Path, threading.Lock] = {}
_DEST_LOCKS_GUARD = threading.Lock()


def _dest_lock(folder: Path) -> threading.Lock:
    """One lock per destination folder for the whole process, so visitors who fetch at once fetch once."""
    with _DEST_LOCKS_GUARD:
        return _DEST_LOCKS.setdefault(folder.resolve(), threading.Lock())


def fetch_catvnoncat(dest: str | os.PathLike | None = None, *, source_dirs: Sequence | None = None,
                     urls: Sequence[str] | None = None, quiet: bool = False, progress: Progress | None = None,
                     timeout: float | None = None) -> list[Path]:
    """Make sure both files are in `dest` (default data/) with the right SHA-256; return their paths.

    Per file: keep a good copy, else copy from `source_dirs` (default $CATVNONCAT_DIR, SHARED_DATA_DIR), else
    download from `urls` (default $CATVNONCAT_URLS, else MIRRORS). `progress(done, total, name)` runs per chunk
    (total: Content-Length or file size; done restarts at 0 for each source tried). Threads fetching into one
    dest take turns. Raises DatasetError naming every source tried, why it failed, and the manual ways.
    """
    folder = _resolve_dir(dest)
    sources = _default_sources() if source_dirs is None else [Path(s).expanduser() for s in source_dirs]
    bases = _default_urls() if urls is None else list(urls)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"cannot create {folder} ({exc.strerror or exc}).") from None
    seconds = DOWNLOAD_TIMEOUT if timeout is None else timeout
    with _dest_lock(folder):
        for name in FILES:
            how = _fetch_one(name, folder, sources, bases, seconds, progress)
            if not quiet:
                print(f"{folder / name}: {how}, SHA-256 ok")
    return [folder / name for name in FILES]
