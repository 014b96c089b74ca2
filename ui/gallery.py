"""The TL/MP grids (true label / model prediction): captions, mistake flags, summaries and framed tiles."""
from __future__ import annotations

import functools
import io
import re
import threading
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from model.cat import CLASSES, IMAGE_SHAPE, is_cat

TILE_SCALE = 2  # 64 px images are shown at 128 px, every pixel a crisp 2x2 block
UPSCALED_WIDTH = TILE_SCALE * IMAGE_SHAPE[1]  # px: a model input as the page shows it
FRAME = 4  # px of frame around each tile: red for a mistake, none (background) otherwise
MISTAKE_RGB = (214, 48, 49)
BACKGROUND_RGB = (255, 255, 255)
BADGE_RGB, BADGE_TEXT_RGB = (32, 32, 32), (255, 255, 255)  # an image's number, in the tile's top-left corner
CAPTION_RE = re.compile(r"TL: (cat|non-cat) \| MP: (cat|non-cat)")
TL_KEY, MP_KEY = "TL = true label", "MP = model prediction"  # what the captions' abbreviations stand for


def label_name(label, classes=CLASSES) -> str:
    """1 / 1.0 / True -> 'cat', 0 -> 'non-cat'."""
    return classes[int(round(float(label)))]


def grid_caption(true_label, predicted_label, classes=CLASSES) -> str:
    """The caption of the original README figure: 'TL: cat | MP: non-cat'."""
    return f"TL: {label_name(true_label, classes)} | MP: {label_name(predicted_label, classes)}"


def prediction_caption(predicted_label, classes=CLASSES) -> str:
    return f"MP: {label_name(predicted_label, classes)}"


@dataclass(frozen=True)
class GridItem:
    index: int  # position in the data set
    caption: str  # 'TL: cat | MP: non-cat'
    correct: bool
    p_cat: float

    @property
    def markdown(self) -> str:
        """The caption as the page shows it: mistakes in red with a cross, so they stand out."""
        return self.caption if self.correct else f":red[**✗ {self.caption}**]"


def grid_items(labels, p_cat, classes=CLASSES) -> list[GridItem]:
    """One captioned item per image (labels 0/1, P(cat) per image)."""
    labels = np.asarray(labels, dtype=float).reshape(-1)
    p_cat = np.asarray(p_cat, dtype=float).reshape(-1)
    if labels.shape != p_cat.shape:
        raise ValueError(f"grid_items: {labels.shape[0]} labels but {p_cat.shape[0]} predictions")
    predicted = is_cat(p_cat).astype(float)
    return [GridItem(i, grid_caption(t, m, classes), bool(t == m), float(p))
            for i, (t, m, p) in enumerate(zip(labels, predicted, p_cat))]


def mistakes(items: list[GridItem]) -> list[GridItem]:
    """The items the model got wrong, in their order."""
    return [item for item in items if not item.correct]


@dataclass(frozen=True)
class Summary:
    total: int
    correct: int
    missed_cats: int  # cats the model called non-cat
    false_cats: int  # non-cats the model called cat

    @property
    def mistakes(self) -> int:
        return self.total - self.correct

    @property
    def text(self) -> str:
        if self.total == 0:
            return "No images."
        text = f"{self.correct} of {self.total} correct ({100 * self.correct / self.total:.1f}%)"
        if self.mistakes:
            parts = []
            if self.missed_cats:
                parts.append(f"{self.missed_cats} cat{'s' * (self.missed_cats != 1)} missed")
            if self.false_cats:
                parts.append(f"{self.false_cats} non-cat taken for a cat" if self.false_cats == 1
                             else f"{self.false_cats} non-cats taken for cats")
            text += " · " + ", ".join(parts)
        return text


def summarize(labels, p_cat) -> Summary:
    labels = np.asarray(labels, dtype=float).reshape(-1) > 0.5
    predicted = is_cat(np.asarray(p_cat, dtype=float).reshape(-1))
    return Summary(
        total=int(labels.size),
        correct=int(np.sum(labels == predicted)),
        missed_cats=int(np.sum(labels & ~predicted)),
        false_cats=int(np.sum(~labels & predicted)),
    )


# --- tiles: the images of the grid, upscaled and framed ------------------------------------------


def upscale(image: np.ndarray, scale: int = TILE_SCALE, width_scale: int | None = None) -> np.ndarray:
    """Nearest-neighbour upscaling: each pixel becomes a crisp scale x scale block (scale x width_scale if
    given): what the model saw, bigger."""
    image = np.asarray(image)
    return image.repeat(scale, axis=0).repeat(scale if width_scale is None else width_scale, axis=1)


TILE_WIDTH = 168  # px: wide enough for the longest caption, 'TL: non-cat | MP: non-cat', on one line


def tile(image: np.ndarray, mistake: bool, scale: int = TILE_SCALE, frame: int = FRAME,
         width: int = TILE_WIDTH, number: int | None = None) -> np.ndarray:
    """An (h, w, 3) uint8 image, upscaled, framed in red if it is a mistake, centred on a background
    canvas at least `width` px wide (so every tile, and every caption under it, has the same width); with
    `number`, that number in a dark badge in the photo's top-left corner."""
    big = upscale(np.asarray(image, dtype=np.uint8), scale)
    h, w = big.shape[:2]
    out_h, out_w = h + 2 * frame, max(width, w + 2 * frame)
    out = np.empty((out_h, out_w, 3), dtype=np.uint8)
    out[...] = BACKGROUND_RGB
    left = (out_w - w) // 2
    if mistake:
        out[:, left - frame:left + w + frame] = MISTAKE_RGB
    out[frame:frame + h, left:left + w] = big
    return out if number is None else _with_badge(out, str(number), left, frame)


def _with_badge(canvas: np.ndarray, text: str, left: int, top: int) -> np.ndarray:
    """`canvas` with `text` drawn white on a dark box whose corner is at (left, top)."""
    picture = Image.fromarray(canvas)
    draw, font, pad = ImageDraw.Draw(picture), _badge_font(), 3
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    draw.rectangle((left, top, left + x1 - x0 + 2 * pad, top + y1 - y0 + 2 * pad), fill=BADGE_RGB)
    draw.text((left + pad - x0, top + pad - y0), text, font=font, fill=BADGE_TEXT_RGB)
    return np.array(picture)  # writable, like an unnumbered tile


@functools.cache
def _badge_font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A 12 px font, loaded once."""
    return ImageFont.load_default(size=12)  # Pillow's own font: no font file to ship or find


def png_bytes(image: np.ndarray, colors: int | None = None) -> bytes:
    """A PNG of an (h, w, 3) uint8 image; with `colors`, a palette PNG of that many colours (a third the size)."""
    picture = Image.fromarray(np.asarray(image, dtype=np.uint8))
    if colors:
        picture = picture.quantize(colors, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


class TileCache:
    """PNG bytes of every framed tile, numbered as the picker names the images (from 1), made on first use and
    kept (shared by all sessions; immutable)."""

    def __init__(self, images: np.ndarray):
        self.images = images
        self._tiles: dict[tuple[int, bool], bytes] = {}
        self._lock = threading.Lock()

    def get(self, index: int, mistake: bool) -> bytes:
        key = (int(index), bool(mistake))
        tile_png = self._tiles.get(key)
        if tile_png is None:
            tile_png = png_bytes(tile(self.images[index], mistake, number=int(index) + 1))  # "Test image 7"
            with self._lock:
                self._tiles[key] = tile_png
        return tile_png
