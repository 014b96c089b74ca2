"""The read-only things every session starts from, loaded once per process: the pretrained model, the data
set in the training dtype, and the grid tiles; and where their files are."""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from model.cat import CLASSES, fits_the_task
from model.dataset import FILES, DatasetError, load_catvnoncat, read_only
from model.paths import DATA_DIR, WEIGHTS_FILE
from model.weights import WeightsError, load_weights
from ui.gallery import TileCache

DATA_ENV, WEIGHTS_ENV = "MICROGRAD_DATA_DIR", "MICROGRAD_WEIGHTS"  # where the page looks (tests move them)
TRAIN_DTYPE = np.float32  # twice as fast as float64 here, with the same accuracies (README, "Reference numbers")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Split:
    """One half of the data set as the page uses it."""

    name: str  # "train" or "test"
    x: np.ndarray
    labels: np.ndarray
    images: np.ndarray
    tiles: TileCache


@dataclass(eq=False)
class Resources:
    """The shared, read-only model and data set. Either may be missing, with a message saying why."""

    model: object | None  # the pretrained Sequential; never trained, never converted
    meta: dict  # its metadata (epochs, lr, accuracies, ...); {} without a model
    weights_error: str | None
    data: object | None  # CatVNonCat, or None
    data_error: str | None
    train_data: object | None = None  # x/y arrays in TRAIN_DTYPE, shared read-only by every Trainer
    weights_path: str = ""
    _splits: dict = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def classes(self) -> tuple[str, str]:
        return tuple(self.data.classes) if self.data is not None else CLASSES

    @property
    def base_epochs(self) -> int:
        """Epochs the pretrained weights were trained for (0 if the file does not say)."""
        epochs = self.meta.get("epochs", 0)
        return epochs if isinstance(epochs, int) and epochs >= 0 else 0

    @property
    def data_sizes(self) -> tuple[int, int]:
        """(training images, test images): facts of the data set, 0 without it."""
        data = self.data
        return (len(data.y_train), len(data.y_test)) if data is not None else (0, 0)

    def split(self, name: str) -> Split:
        """"train" or "test": arrays, images and the shared tile cache (needs the data set)."""
        with self._lock:
            if name not in self._splits:
                data = self.data
                x, labels, images = ((data.x_test, data.y_test, data.images_test) if name == "test"
                                     else (data.x_train, data.y_train, data.images_train))
                self._splits[name] = Split(name, x, labels, images, TileCache(images))
            return self._splits[name]


def default_paths(environ=os.environ) -> tuple[Path, Path]:
    """(data dir, weights file): data/ and weights/cat_mlp.npz unless MICROGRAD_DATA_DIR / MICROGRAD_WEIGHTS
    say otherwise."""
    return Path(environ.get(DATA_ENV) or DATA_DIR), Path(environ.get(WEIGHTS_ENV) or WEIGHTS_FILE)


def files_stamp(data_dir, weights_path) -> tuple:
    """(mtime, size) of the data set's files and of the weight file, so a cache keyed on it reloads after
    `make data` or `make weights` instead of remembering that the files were missing. Nothing else in the
    folder counts: a download's partial file must not reload everything at each rerun."""
    stamp = []
    for path in [*(Path(data_dir) / name for name in FILES), Path(weights_path)]:
        try:
            st = path.stat()
            stamp.append((str(path), st.st_mtime_ns, st.st_size))
        except OSError:
            stamp.append((str(path), None, None))
    return tuple(stamp)


def load_resources(data_dir=None, weights_path=None) -> Resources:
    """Load the pretrained model and the data set; a problem with either becomes a message, not an error."""
    default_data, default_weights = default_paths()
    data_dir = Path(data_dir) if data_dir is not None else default_data
    weights_path = Path(weights_path) if weights_path is not None else default_weights
    model, meta, weights_error = _load_model(weights_path)
    data, train_data, data_error = _load_data(data_dir)
    return Resources(model, meta, weights_error, data, data_error, train_data,
                     weights_path=str(weights_path))


def _load_model(path: Path) -> tuple[object | None, dict, str | None]:
    try:
        model, meta = load_weights(path)
        if not fits_the_task(model):
            raise WeightsError(f"the weight file holds a model ({model!r}) that does not take a 64x64 RGB "
                               "image to one probability")
        return model, meta, None
    except WeightsError as e:
        return None, {}, str(e)
    except (OSError, ValueError) as e:  # e.g. a directory where the file should be
        return None, {}, f"{path.name} cannot be read: {e}"
    except Exception as e:  # never a traceback on the page; the log has the details
        log.exception("loading %s", path)
        return None, {}, f"{path.name} cannot be used ({type(e).__name__})"


def _load_data(data_dir: Path) -> tuple[object | None, object | None, str | None]:
    try:
        data = load_catvnoncat(data_dir)
    except DatasetError as e:
        return None, None, str(e)
    except Exception as e:
        log.exception("loading the data set from %s", data_dir)
        return None, None, f"the data set in {data_dir} cannot be used ({e})"
    # one copy serves every session: read-only, so nobody may write into it
    train_data = SimpleNamespace(**{name: read_only(np.asarray(getattr(data, name), dtype=TRAIN_DTYPE))
                                    for name in ("x_train", "y_train", "x_test", "y_test")})
    return data, train_data, None
