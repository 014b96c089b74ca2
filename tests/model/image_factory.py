"""Test images built in memory, one function per kind of upload, each returning the file's bytes.

No binary fixtures in the repository: every file here is made from a few lines of Pillow (or, for the
malicious ones, of raw bytes), so a reader sees exactly what is inside. Deterministic: no clocks, and
noise comes from a seeded NumPy generator. Shared by the model tests and the app tests (as upload files).
"""

from __future__ import annotations

import functools
import io
import struct
import zlib

import numpy as np
from PIL import Image

RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)

ORIENTATION = 0x0112  # the EXIF tag


def _save(image: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def image_file(fmt="PNG", color=RED, size=(32, 32), mode="RGB", **params) -> bytes:
    """One colour in any format and mode Pillow can write, e.g. ``image_file("WEBP")``."""
    return _save(Image.new(mode, size, color), fmt, **params)


def png_rgb(color=RED, size=(32, 32)) -> bytes:
    """A plain RGB PNG of one colour."""
    return _save(Image.new("RGB", size, color), "PNG")


def png_rgba(color=(0, 0, 0, 0), size=(32, 32)) -> bytes:
    """An RGBA PNG of one colour; by default fully transparent black (which must come out white)."""
    return _save(Image.new("RGBA", size, color), "PNG")


def png_gray(level=100, size=(32, 32), mode="L", alpha=255) -> bytes:
    """A greyscale PNG: mode "L", "1" (level 0 or 255) or "LA" (with the given alpha)."""
    color = (level, alpha) if mode == "LA" else level
    return _save(Image.new(mode, size, color), "PNG")


def png_palette(color=BLUE, size=(32, 32), transparent=False) -> bytes:
    """A palette ("P") PNG of one colour; with `transparent`, that palette entry is the transparent one."""
    image = Image.new("RGB", size, color).convert("P", palette=Image.Palette.ADAPTIVE, colors=2)
    params = {"transparency": image.getpixel((0, 0))} if transparent else {}
    return _save(image, "PNG", **params)


def png_16bit(level=32896, size=(32, 32)) -> bytes:
    """A 16-bit greyscale PNG (Pillow mode "I;16"); 32896 = 128 * 257 is the exact 16-bit mid-grey."""
    return _save(Image.fromarray(np.full(size[::-1], level, dtype=np.uint16)), "PNG")


def tiff_int32(level=32896, size=(32, 32)) -> bytes:
    """A 32-bit integer greyscale TIFF (Pillow mode "I") holding 16-bit levels."""
    return _save(Image.fromarray(np.full(size[::-1], level, dtype=np.int32)), "TIFF")


def png_stripes(colors=(RED, GREEN, BLUE), size=(96, 32)) -> bytes:
    """Vertical stripes of equal width, left to right: a wide image tells centre crop from squash."""
    width, height = size
    image = Image.new("RGB", size)
    for i, color in enumerate(colors):
        image.paste(color, (i * width // len(colors), 0, (i + 1) * width // len(colors), height))
    return _save(image, "PNG")


def jpeg_exif_rotated(orientation=6, size=(80, 40), left=RED, right=BLUE) -> bytes:
    """A JPEG stored wide, left half red and right half blue, with an EXIF Orientation tag.

    Orientation 6 means "rotate 90 degrees clockwise to display": shown upright, the image is tall, with
    the stored left half (red) on top and the right half (blue) at the bottom.
    """
    width, height = size
    image = Image.new("RGB", size, right)
    image.paste(left, (0, 0, width // 2, height))
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    return _save(image, "JPEG", quality=95, exif=exif)


def jpeg_cmyk(cmyk=(0, 255, 255, 0), size=(32, 32)) -> bytes:
    """A CMYK JPEG (as print workflows make them); the default ink is pure red."""
    return _save(Image.new("CMYK", size, cmyk), "JPEG", quality=95)


def gif_animated(colors=(RED, GREEN, BLUE), size=(32, 32)) -> bytes:
    """An animated GIF, one frame per colour; the model must see the first one."""
    frames = [Image.new("RGB", size, color) for color in colors]
    return _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def truncated_jpeg(keep=0.5) -> bytes:
    """A real JPEG photo cut off after `keep` of its bytes, like an interrupted upload."""
    data = jpeg_photo(megapixels=0.1)
    return data[: int(len(data) * keep)]


def text_file() -> bytes:
    """Not an image at all."""
    return b"These are not the pixels you are looking for.\n" * 20


def png_bomb(width=100_000, height=100_000) -> bytes:
    """A tiny PNG whose header claims `width` x `height` RGB pixels: a decompression bomb.

    The IDAT holds a few compressed rows of zeros; a decoder that trusted the header would allocate
    width * height * 3 bytes (30 GB by default). Built from raw chunks, so it costs nothing to make.
    """
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    rows = zlib.compress(b"\0" * (1 + 3 * width) * 4, 9)  # four rows: filter byte + pixels
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def oversized_file(nbytes=20 * 1024 * 1024 + 1) -> bytes:
    """A valid small PNG padded with zeros to `nbytes`: too large a file, whatever its content."""
    data = png_rgb()
    return data + b"\0" * (nbytes - len(data))


@functools.lru_cache(maxsize=4)
def jpeg_photo(megapixels=12, seed=0, quality=90) -> bytes:
    """A photo-like 4:3 JPEG (smooth colour fields plus sensor-like noise), e.g. 4000 x 3000 for 12 MP.

    Noise matters: a flat image would compress to almost nothing and decode unrealistically fast. The
    result is about the size of a phone photo. Cached, since a 12 MP encode takes a moment.
    """
    height = max(3, round((megapixels * 1e6 * 3 / 4) ** 0.5))
    width = max(4, round(height * 4 / 3))
    rng = np.random.default_rng(seed)
    fields = Image.fromarray(rng.integers(0, 224, (6, 8, 3), dtype=np.uint8)).resize(
        (width, height), Image.Resampling.BICUBIC)
    noise = rng.integers(0, 32, (height, width, 3), dtype=np.uint8)
    return _save(Image.fromarray(np.asarray(fields) + noise), "JPEG", quality=quality)
