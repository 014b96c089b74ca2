"""The catvnoncat data set: fetch the two course HDF5 files, verify them, load them as arrays.

The files are not in the repository (they are not ours to redistribute), so they arrive from a local
copy or a third-party mirror. That is why every load and every fetch checks the SHA-256: a file that
is truncated, swapped or tampered with must fail loudly here instead of training a model on it.

    python -m model.dataset            # = make data: put both files in data/ (copy or download)
    python -m model.dataset --check    # only verify what is in data/

No pickle: the labels are plain HDF5 datasets. The pixel layout of x is `model.images.to_input`, the
one place that defines it for the data set and for uploads alike.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from model.images import to_input

__all__ = [
    "CatVNonCat",
    "DatasetError",
    "fetch_catvnoncat",
    "load_catvnoncat",
    "DATA_DIR",
    "FILES",
    "SHA256",
    "MIRRORS",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
# Where the workplace keeps a read-only copy: `shared/` lies beside the repository checkout.
SHARED_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
ENV_VAR = "CATVNONCAT_DIR"

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
DOWNLOAD_TIMEOUT = 30.0  # seconds per connection attempt / read
MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024  # the files are ~3 MB; a runaway response must not fill the disk
_CHUNK = 1 << 16


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


def _read_split(path: Path, split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    try:
        with h5py.File(path, "r") as f:
            images = np.asarray(f[f"{split}_set_x"][()], dtype=np.uint8)
            labels = np.asarray(f[f"{split}_set_y"][()])
            classes = [c.decode() if isinstance(c, bytes) else str(c) for c in f["list_classes"][()]]
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise DatasetError(f"{path} is not a readable catvnoncat HDF5 file ({exc}); "
                           f"run `make data`.") from None
    if images.ndim != 4 or images.shape[1:] != (64, 64, 3) or labels.shape != (images.shape[0],):
        raise DatasetError(f"{path} has unexpected shapes {images.shape} / {labels.shape}; "
                           f"run `make data`.")
    return images, labels, classes


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def load_catvnoncat(data_dir: str | os.PathLike | None = None) -> CatVNonCat:
    """Verify both files' SHA-256, then load them as arrays (see CatVNonCat).

    `data_dir` defaults to the project's data/ (found from this file, so any cwd works).
    Raises DatasetError, naming the file and `make data`, if a file is missing, corrupt or unreadable.
    """
    folder = _resolve_dir(data_dir)
    paths = {name: folder / name for name in FILES}
    for path in paths.values():
        _check_file(path)
    images_train, labels_train, classes = _read_split(paths[TRAIN_FILE], "train")
    images_test, labels_test, _ = _read_split(paths[TEST_FILE], "test")

    def xy(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = to_input(images)
        y = labels.reshape(-1, 1).astype(np.float64)
        return _frozen(x), _frozen(y)

    x_train, y_train = xy(images_train, labels_train)
    x_test, y_test = xy(images_test, labels_test)
    return CatVNonCat(
        x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
        images_train=_frozen(images_train), images_test=_frozen(images_test), classes=classes,
    )


# ---------------------------------------------------------------------------------------------- fetch

def _default_sources() -> list[Path]:
    sources = []
    if os.environ.get(ENV_VAR):
        sources.append(Path(os.environ[ENV_VAR]).expanduser())
    sources.append(SHARED_DATA_DIR)
    return sources


def _install(dest: Path, name: str, chunks: Iterable[bytes]) -> bool:
    """Write `chunks` to a temp file beside dest/name; keep it (atomic rename) only if the hash
    matches. A partial or wrong file is never left in place. Returns whether it was installed."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=dest)
    try:
        digest, size = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out:
            for block in chunks:
                size += len(block)
                if size > MAX_DOWNLOAD_BYTES:
                    return False
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != SHA256[name]:
            return False
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a copied data file should be readable like any other
        os.replace(tmp, dest / name)
        tmp = None
        return True
    finally:
        if tmp is not None:
            os.unlink(tmp)


def _read_chunks(f) -> Iterable[bytes]:
    return iter(lambda: f.read(_CHUNK), b"")


def _fetch_one(name: str, dest: Path, sources: Sequence[Path], urls: Sequence[str]) -> tuple[Path, str]:
    """Return (path, how) for one file, or raise DatasetError listing everything that was tried."""
    target = dest / name
    tried = []
    if target.is_file():
        try:
            if sha256_of(target) == SHA256[name]:
                return target, "already present"
            tried.append(f"{target}: wrong SHA-256")
        except OSError as exc:
            tried.append(f"{target}: {exc.strerror or exc}")
    for folder in sources:
        src = folder / name
        if not src.is_file():
            tried.append(f"{src}: missing")
            continue
        try:
            with open(src, "rb") as f:
                if _install(dest, name, _read_chunks(f)):
                    return target, f"copied from {folder}"
            tried.append(f"{src}: wrong SHA-256")
        except OSError as exc:
            tried.append(f"{src}: {exc.strerror or exc}")
    for base in urls:
        url = base.rstrip("/") + "/" + name
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as resp:
                if _install(dest, name, _read_chunks(resp)):
                    return target, f"downloaded from {url}"
            tried.append(f"{url}: wrong SHA-256")
        except urllib.error.HTTPError as exc:
            tried.append(f"{url}: HTTP {exc.code} {exc.reason}")
        except (OSError, ValueError, http.client.HTTPException) as exc:
            tried.append(f"{url}: {getattr(exc, 'reason', None) or exc}")
    raise DatasetError(
        f"could not get {name} (tried {'; '.join(tried) or 'nothing'}); set {ENV_VAR} to a folder "
        f"holding the course files or place them in {dest}/ (SHA-256 {SHA256[name]})."
    )


def fetch_catvnoncat(dest: str | os.PathLike | None = None, *, source_dirs: Sequence | None = None,
                     urls: Sequence[str] | None = None, quiet: bool = False) -> list[Path]:
    """Make sure both files are in `dest` (default data/) with the right SHA-256.

    For each file: keep a good copy in dest; else copy it from `source_dirs` (default: $CATVNONCAT_DIR,
    then the workplace's ../shared/data beside the repo); else download it from `urls` (base URLs,
    default MIRRORS). Every candidate is hash-checked before it replaces anything. Prints one line per
    file unless `quiet`. Returns the paths; raises DatasetError with one line saying what was tried.
    """
    folder = _resolve_dir(dest)
    sources = _default_sources() if source_dirs is None else [Path(s).expanduser() for s in source_dirs]
    bases = MIRRORS if urls is None else tuple(urls)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"cannot create {folder} ({exc.strerror or exc}).") from None
    paths = []
    for name in FILES:
        path, how = _fetch_one(name, folder, sources, bases)
        if not quiet:
            print(f"{path}: {how}, SHA-256 ok")
        paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m model.dataset",
        description="Put the catvnoncat HDF5 files in data/, copied or downloaded, SHA-256 checked.")
    parser.add_argument("--dest", default=None, help="target folder (default: the project's data/)")
    parser.add_argument("--source-dir", action="append", metavar="DIR",
                        help=f"folder to copy from (repeatable; replaces ${ENV_VAR} and ../shared/data)")
    parser.add_argument("--url-base", action="append", metavar="URL",
                        help="base URL to download from (repeatable; replaces the built-in mirrors)")
    parser.add_argument("--check", action="store_true",
                        help="only verify the files already in the target folder")
    args = parser.parse_args(argv)
    try:
        if args.check:
            folder = _resolve_dir(args.dest)
            for name in FILES:
                _check_file(folder / name)
                print(f"{folder / name}: SHA-256 ok")
        else:
            fetch_catvnoncat(args.dest, source_dirs=args.source_dir, urls=args.url_base)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
