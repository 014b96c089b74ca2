"""Untrusted upload bytes -> a safe RGB photo -> the 64x64 input the cat model sees.

The cost is bounded before it is paid (bytes, then header pixels, then a draft decode), every mode is
normalised to 8-bit RGB, and every failure of the file itself is an `ImageError` with one plain sentence.
"""

from __future__ import annotations

import contextlib
import io
import math
import struct
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from model.cat import IMAGE_SHAPE

__all__ = [
    "MAX_BYTES",
    "MAX_PIXELS",
    "DISPLAY_SIZE",
    "FORMATS",
    "ImageError",
    "PreparedImage",
    "prepare_image",
    "to_input",
]

MAX_BYTES = 20 * 1024 * 1024  # same cap as the upload widget (.streamlit/config.toml)
MAX_PIXELS = 50_000_000  # 50 MP: above any phone camera, and 150 MB as 8-bit RGB
DISPLAY_SIZE = 512  # long side of the copy shown on the page
FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF")  # what Pillow may parse (JPEG includes MPO)
FITS = ("crop", "squash")
WHITE = (255, 255, 255)

# What Pillow raises on corrupt data, besides its own bomb error (OSError covers UnidentifiedImageError).
_DECODE_ERRORS = (
    OSError, EOFError, SyntaxError, ValueError, TypeError, IndexError, KeyError,
    ZeroDivisionError, struct.error,
)
_HIGH_BIT_DEPTH = ("I", "I;16", "I;16L", "I;16B", "I;16N")


class ImageError(ValueError):
    """The uploaded file cannot be used; the message is one sentence meant for the user."""


@dataclass(frozen=True, eq=False)
class PreparedImage:
    """One upload, ready for the page and the model (arrays are read-only)."""

    x: np.ndarray  # (1, size*size*3) float64 in [0, 1], the model input: to_input(preview[None])
    preview: np.ndarray  # (size, size, 3) uint8, exactly what the model sees
    display: Image.Image  # RGB, oriented, long side <= DISPLAY_SIZE, for showing the photo itself


def prepare_image(data, *, fit: str = "crop", size: int = IMAGE_SHAPE[0]) -> PreparedImage:
    """Turn an uploaded file into the model input, its 64x64 preview and a display copy.

    `data` is ``bytes`` (or ``bytearray``/``memoryview``) or a file-like object with ``getvalue()`` or
    ``read()``, such as Streamlit's ``UploadedFile``. `fit` is ``"crop"`` (centre square, the default) or
    ``"squash"`` (resize the whole frame to a square, as the original course did).
    Raises `ImageError` for any file that is empty, too large, not an image, or damaged.
    """
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, got {fit!r}")
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    photo = _decode(_read_bytes(data), min_side=size)
    preview = np.array(_to_square(photo, fit, size), dtype=np.uint8)
    preview.flags.writeable = False
    x = to_input(preview[np.newaxis])
    x.flags.writeable = False
    return PreparedImage(x=x, preview=preview, display=_display_copy(photo))


def to_input(images: np.ndarray) -> np.ndarray:
    """uint8 images ``(m, h, w, 3)`` -> float64 ``(m, h*w*3)`` in [0, 1].

    The one place for the layout the model was trained on: per image row-major, channel fastest,
    exactly ``images.reshape(m, -1) / 255`` as in the dataset.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"to_input: expected uint8 images of shape (m, h, w, 3), "
                         f"got {images.dtype} {images.shape}")
    return images.reshape(images.shape[0], -1) / 255


# --- reading: bytes in, bounded -------------------------------------------------------------------


def _read_bytes(data) -> bytes:
    """The upload's bytes, refusing empty files and files over MAX_BYTES (read at most MAX_BYTES + 1)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
    elif hasattr(data, "getvalue"):
        raw = data.getvalue()
    elif hasattr(data, "read"):
        raw = data.read(MAX_BYTES + 1)
    else:
        raise TypeError(f"expected bytes or a file-like object, got {type(data).__name__}")
    if not isinstance(raw, (bytes, bytearray)):
        raise TypeError(f"the file-like object returned {type(raw).__name__}, not bytes")
    if len(raw) == 0:
        raise ImageError("The file is empty.")
    if len(raw) > MAX_BYTES:
        raise ImageError(f"The file is larger than the {MAX_BYTES // 2**20} MB limit.")
    return bytes(raw)


# --- decoding: header first, pixels only once the size is known to be safe ------------------------


def _decode(raw: bytes, min_side: int) -> Image.Image:
    """Bytes -> an oriented 8-bit RGB image, at least `min_side` px on its short side when possible."""
    with _pillow_warnings():
        image = _open(raw)
        _check_dimensions(image.size)
        return _load_rgb(image, min_side)


@contextlib.contextmanager
def _pillow_warnings():
    """Pillow's bomb warning becomes an error; its other warnings (e.g. corrupt EXIF) are silenced.

    Pillow warns about images over its own limit (~89 MP) and raises over twice that; we refuse anything
    over MAX_PIXELS anyway, so the warning should stop decoding, not reach the logs. Pillow's other
    warnings are about damage it works around, and must not become exceptions where warnings are errors.
    (``catch_warnings`` is not thread-safe before Python 3.14; the worst a race can do is leave these two
    Pillow-only filters installed for the whole process.)
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"PIL\.")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _open(raw: bytes) -> Image.Image:
    """Parse the header only (Pillow is lazy), refusing unknown formats and decompression bombs."""
    try:
        return Image.open(io.BytesIO(raw), formats=FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(_too_many_pixels_message()) from e
    except Image.UnidentifiedImageError as e:
        raise ImageError("This file is not an image in a supported format "
                         "(JPEG, PNG, GIF, BMP, WebP or TIFF).") from e
    except _DECODE_ERRORS as e:
        raise ImageError("The image is damaged and could not be read.") from e


def _load_rgb(image: Image.Image, min_side: int) -> Image.Image:
    """Decode the pixels (JPEGs at a reduced scale), apply the EXIF rotation, convert to RGB."""
    try:
        image.draft("RGB", _draft_size(image.size, min_side))  # JPEG only; a no-op for other formats
        image.load()  # the first frame only: animations are never seeked
        ImageOps.exif_transpose(image, in_place=True)  # in place: no second copy of a large photo
        return _to_rgb(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(_too_many_pixels_message()) from e
    except _DECODE_ERRORS as e:
        raise ImageError("The image is damaged or incomplete and could not be decoded.") from e


def _check_dimensions(size: tuple[int, int]) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise ImageError("The image is damaged: it has no pixels.")
    if width * height > MAX_PIXELS:
        raise ImageError(f"The image is {width} x {height} pixels ({width * height / 1e6:.1f} megapixels), "
                         f"over the {MAX_PIXELS // 1_000_000} megapixel limit.")


def _too_many_pixels_message() -> str:
    return f"The image is far larger than the {MAX_PIXELS // 1_000_000} megapixel limit."


def _draft_size(size: tuple[int, int], min_side: int) -> tuple[int, int] | None:
    """The smallest size a JPEG may be decoded at: long side >= DISPLAY_SIZE, short side >= min_side.

    libjpeg then picks the largest 1/2, 1/4 or 1/8 scale that still covers it in both directions, so the
    display copy is never upscaled and the crop still has at least `min_side` pixels for LANCZOS to
    average down. Aspect ratio is kept, so the rotation EXIF applies later does not matter.
    """
    width, height = size
    scale = max(DISPLAY_SIZE / max(width, height), min_side / min(width, height))
    if scale >= 1:
        return None
    return math.ceil(width * scale), math.ceil(height * scale)


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB: 16-bit scaled (not clipped), transparency flattened onto white."""
    if image.mode == "RGB" and not image.has_transparency_data:
        return image  # most photos: nothing to do, and no copy
    if image.mode in _HIGH_BIT_DEPTH:
        return _scale_to_8bit(image).convert("RGB")
    if image.has_transparency_data:  # RGBA, LA, PA, or P/L/RGB with a transparent colour
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, WHITE + (255,)), rgba).convert("RGB")
    return image.convert("RGB")  # RGB, L, 1, P, CMYK, YCbCr, F: Pillow's conversions are right here


def _scale_to_8bit(image: Image.Image) -> Image.Image:
    """16-bit greyscale (and 32-bit "I", which Pillow also uses for 16-bit data) -> "L", 0..65535 -> 0..255.

    Pillow's own convert("L") clips instead, which would turn a mid-grey 32768 into white.
    """
    levels = np.clip(np.asarray(image), 0, 65535).astype(np.uint32)
    return Image.fromarray(((levels + 128) // 257).astype(np.uint8), "L")  # = round(levels / 257)


# --- resizing: what the page shows and what the model sees ----------------------------------------


def _to_square(photo: Image.Image, fit: str, size: int) -> Image.Image:
    """The model's input image: the centre square (crop) or the whole frame (squash), LANCZOS to size."""
    box = _centre_square(photo.size) if fit == "crop" else None
    return photo.resize((size, size), Image.Resampling.LANCZOS, box=box)


def _centre_square(size: tuple[int, int]) -> tuple[int, int, int, int]:
    width, height = size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def _display_copy(photo: Image.Image) -> Image.Image:
    """A copy small enough to send to the browser: long side at most DISPLAY_SIZE, never upscaled."""
    display = photo.copy()
    display.thumbnail((DISPLAY_SIZE, DISPLAY_SIZE), Image.Resampling.LANCZOS)
    return display
