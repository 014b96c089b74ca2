"""Visitors' photos: each upload prepared once (model.images), then classified with the session's model.

Streamlit-free. Every file gets an `Upload`: either a prepared image or a one-sentence error, never an
exception, so one broken file cannot stop the others from being classified.
"""
from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from model.cat import CLASSES, is_cat
from model.images import FITS, FORMATS, MAX_BYTES, MAX_PIXELS, ImageError, PreparedImage, prepare_image
from ui.gallery import MP_KEY, prediction_caption
from ui.settings import FRESH
from ui.text import and_list, escape_markdown

log = logging.getLogger(__name__)
UNTRAINED_WARNING = ("The model is untrained (a fresh random initialization), so these predictions are guesses "
                     "until you train it.")
ACCEPTED_TYPES = ("jpg", "jpeg", "png", "gif", "bmp", "webp", "tif", "tiff")
# What the upload widget is given: the extensions, plus the matching MIME types. With a MIME type in the
# list, Streamlit leaves the filtering to the browser (file dialog and drop zone) instead of raising an
# exception into the page when a file with another extension arrives anyway (a renamed or scripted
# upload); such a file then gets its own error from model.images, like any other unreadable file.
UPLOADER_TYPES = tuple(f".{ext}" for ext in ACCEPTED_TYPES) + (
    "image/jpeg", "image/png", "image/gif", "image/bmp", "image/webp", "image/tiff")
# The upload widget's label: the formats and limits model.images enforces, so the two cannot disagree
UPLOAD_LABEL = (f"Upload photos: {and_list([{'WEBP': 'WebP'}.get(f, f) for f in FORMATS], 'or')}, up to "
                f"{MAX_BYTES // 2**20} MB and {MAX_PIXELS // 1_000_000} megapixels each")
FIT_LABELS = {"crop": "Centre crop", "squash": "Squash"}
DEFAULT_FIT = FITS[0]  # the centre square, as `prepare_image` fits a photo unasked
CACHE_SIZE = 32  # prepared uploads kept per session (up to ~1 MB each)
PREDICTION_KEY = f"{MP_KEY}; P(cat) is how likely it thinks a cat is."  # next to the photo cards' "MP: cat"


def untrained(training) -> bool:
    """A fresh random initialization that has not trained a single epoch: its answers are guesses."""
    return training.start == FRESH and training.epoch == 0


def tips(n_train: int) -> str:
    """What the model sees of a photo, and what to expect of its guess (next to the uploads, before and after)."""
    return ("The model sees a 64×64 square, like the training images: the centre of your photo (or the whole photo "
            f"squashed). Cats filling the frame work best; it has only ever seen {n_train or 'a few hundred'} photos, "
            "so drawings or plain colours get a confident guess, not an answer.")


@dataclass(frozen=True, eq=False)
class Upload:
    """One uploaded file: `prepared` or `error`, never both; `digest` tells two copies of one file apart from
    two photos (None if the file came as something other than bytes)."""

    file_id: str
    name: str
    prepared: PreparedImage | None = None
    error: str | None = None
    digest: str | None = None

    @property
    def ok(self) -> bool:
        return self.prepared is not None

    @property
    def error_markdown(self) -> str:
        """The error for st.error: the file name shown literally (it is a stranger's text), then why."""
        return f"**{escape_markdown(self.name)}**: {escape_markdown(self.error or '')}"


def prepare(file_id: str, name: str, data, fit: str = DEFAULT_FIT) -> Upload:
    """Prepare one file; any problem with it becomes `error` (a sentence for the user)."""
    digest = hashlib.sha256(data).hexdigest() if isinstance(data, (bytes, bytearray, memoryview)) else None
    try:
        return Upload(file_id, name, prepared=prepare_image(data, fit=fit), digest=digest)
    except ImageError as e:
        return Upload(file_id, name, error=str(e), digest=digest)
    except MemoryError:
        return Upload(file_id, name, error="The image is too large to decode on this server.", digest=digest)
    except Exception:  # a bug or a Pillow surprise: the page must still show the other files
        log.exception("unexpected error while preparing upload %r", name)
        return Upload(file_id, name, error="The image could not be read (unexpected error).", digest=digest)


def once_each(uploads: list[Upload]) -> tuple[list[Upload], list[str]]:
    """The uploads with every file once (its first copy), and one note per file that came more than once: the
    same photo uploaded twice would get two cards, and labelling both would count it twice in their grid. A
    broken file is one file per name: under another name it keeps an error of its own."""
    copies: dict[object, list[Upload]] = {}  # first copy's key -> every copy, in upload order
    for upload in uploads:
        if upload.digest is None:
            key = id(upload)  # not bytes: nothing to compare it by
        else:
            key = upload.digest if upload.ok else (upload.digest, upload.name)
        copies.setdefault(key, []).append(upload)
    kept = [same[0] for same in copies.values()]
    notes = [repeat_note(same) for same in copies.values() if len(same) > 1]
    return kept, notes


def repeat_note(copies: list[Upload]) -> str:
    """'**cat.png** was uploaded 3 times, and also as **b.png**: shown once.' for one file's copies."""
    first, *rest = copies
    times = 1 + sum(upload.name == first.name for upload in rest)
    others = list(dict.fromkeys(f"**{escape_markdown(u.name)}**" for u in rest if u.name != first.name))
    name = f"**{escape_markdown(first.name)}**"
    uploaded = {1: "", 2: " was uploaded twice"}.get(times, f" was uploaded {times} times")
    if not others:
        return f"{name}{uploaded}: shown once."
    also = ", and also" if uploaded else " was also uploaded"
    return f"{name}{uploaded}{also} as {and_list(others)}: shown once."


class UploadCache:
    """Prepared uploads by (file id, fit), so reruns and training ticks never decode a photo twice."""

    def __init__(self, size: int = CACHE_SIZE):
        self.size = size
        self._items: OrderedDict[tuple[str, str], Upload] = OrderedDict()

    def get(self, file_id: str, name: str, data, fit: str = DEFAULT_FIT) -> Upload:
        if fit not in FITS:
            raise ValueError(f"fit must be one of {FITS}, got {fit!r}")
        key = (file_id, fit)
        upload = self._items.get(key)
        if upload is None:
            upload = prepare(file_id, name, data() if callable(data) else data, fit)
            self._items[key] = upload
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        else:
            self._items.move_to_end(key)
        return upload

    def __len__(self) -> int:
        return len(self._items)


def display_width(size: tuple[int, int], box: int) -> int:
    """The width that fits a photo of `size` (w, h) into a box x box square (small photos are enlarged)."""
    width, height = size
    return max(1, round(box * min(1.0, width / height))) if width > 0 and height > 0 else box


@dataclass(frozen=True)
class Prediction:
    p_cat: float

    @property
    def label(self) -> int:
        return int(is_cat(self.p_cat))

    def caption(self, classes=CLASSES) -> str:
        """'MP: cat' or 'MP: non-cat'."""
        return prediction_caption(self.label, classes)

    @property
    def probability_text(self) -> str:
        return f"P(cat) = {self.p_cat:.2f}" if 0.005 <= self.p_cat <= 0.995 else (
            "P(cat) > 0.99" if self.p_cat > 0.5 else "P(cat) < 0.01")


def classify(predict_proba, uploads: list[Upload]) -> list[Prediction | None]:
    """One batched forward pass for the uploads that were prepared; None for the ones that failed."""
    good = [u for u in uploads if u.ok]
    if not good:
        return [None] * len(uploads)
    p = np.asarray(predict_proba(np.concatenate([u.prepared.x for u in good]))).reshape(-1)
    found = iter(Prediction(float(v)) for v in p)
    return [next(found) if u.ok else None for u in uploads]


@dataclass(frozen=True)
class CameraShot:
    """A photo from st.camera_input, shaped like an upload (file_id, name, getvalue), so that it takes the
    uploads' path: the same limits, errors, cache and classification."""

    file_id: str
    getvalue: Callable[[], bytes]
    name: str = "camera photo"
