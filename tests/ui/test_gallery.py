"""model.gallery: TL/MP captions, mistake flags, summaries, grid tiles, and Markdown escaping."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from ui import gallery as g


def test_grid_captions_read_like_the_original_figure():
    assert g.grid_caption(1, 0) == "TL: cat | MP: non-cat"
    assert g.grid_caption(0.0, 1.0) == "TL: non-cat | MP: cat"
    assert g.grid_caption(True, 1) == "TL: cat | MP: cat"
    assert g.prediction_caption(0) == "MP: non-cat" and g.prediction_caption(1) == "MP: cat"
    assert g.CAPTION_RE.fullmatch(g.grid_caption(0, 0))


def test_grid_items_flag_mistakes_and_filter():
    labels = np.array([[1], [0], [1], [0]], dtype=float)
    p_cat = np.array([[0.9], [0.2], [0.3], [0.51]])
    items = g.grid_items(labels, p_cat)
    assert [i.caption for i in items] == ["TL: cat | MP: cat", "TL: non-cat | MP: non-cat",
                                          "TL: cat | MP: non-cat", "TL: non-cat | MP: cat"]
    assert [i.correct for i in items] == [True, True, False, False]
    assert items[0].markdown == "TL: cat | MP: cat"
    assert items[2].markdown == ":red[**✗ TL: cat | MP: non-cat**]"
    assert [i.index for i in g.mistakes(items)] == [2, 3]
    with pytest.raises(ValueError):
        g.grid_items([1, 0], [0.5])


def test_exactly_one_half_is_non_cat():
    """The course predicts cat only for P(cat) > 0.5."""
    assert g.grid_items([0], [0.5])[0].correct


def test_summary():
    s = g.summarize([1, 1, 0, 0, 1], [0.9, 0.1, 0.8, 0.2, 0.7])
    assert (s.total, s.correct, s.missed_cats, s.false_cats, s.mistakes) == (5, 3, 1, 1, 2)
    assert s.text == "3 of 5 correct (60.0%) · 1 cat missed, 1 non-cat taken for a cat"
    assert g.summarize([1, 0], [0.9, 0.1]).text == "2 of 2 correct (100.0%)"
    assert g.summarize([], []).text == "No images."
    assert "2 cats missed" in g.summarize([1, 1], [0.1, 0.2]).text


def test_tiles_are_upscaled_and_framed():
    image = np.zeros((64, 64, 3), dtype=np.uint8)
    image[0, 0] = (10, 20, 30)
    plain, wrong = g.tile(image, mistake=False), g.tile(image, mistake=True)
    height = 64 * g.TILE_SCALE + 2 * g.FRAME
    assert plain.shape == wrong.shape == (height, g.TILE_WIDTH, 3)
    left = (g.TILE_WIDTH - 64 * g.TILE_SCALE) // 2
    top_left = plain[g.FRAME:g.FRAME + g.TILE_SCALE, left:left + g.TILE_SCALE]
    assert (top_left == (10, 20, 30)).all()  # one pixel became a TILE_SCALE x TILE_SCALE block
    assert tuple(wrong[0, left]) == g.MISTAKE_RGB and tuple(plain[0, left]) == g.BACKGROUND_RGB
    assert tuple(wrong[0, 0]) == g.BACKGROUND_RGB  # the frame hugs the image, the canvas stays plain
    assert np.array_equal(plain[g.FRAME:-g.FRAME, left:left + 128], wrong[g.FRAME:-g.FRAME, left:left + 128])


def test_tile_cache_makes_each_png_once():
    images = np.random.default_rng(0).integers(0, 255, (3, 64, 64, 3), dtype=np.uint8)
    cache = g.TileCache(images)
    png = cache.get(1, mistake=True)
    assert cache.get(1, mistake=True) is png and cache.get(1, mistake=False) is not png
    decoded = np.asarray(Image.open(io.BytesIO(png)))
    assert np.array_equal(decoded, g.tile(images[1], mistake=True, number=2))  # numbered as the picker counts


def test_a_numbered_tile_carries_its_number_in_the_photos_corner_and_nothing_else_changes():
    image = np.full((64, 64, 3), 200, dtype=np.uint8)
    plain, seven, forty_two = (g.tile(image, mistake=True, number=n) for n in (None, 7, 42))
    changed = np.argwhere((seven != plain).any(axis=2))
    left = (g.TILE_WIDTH - 64 * g.TILE_SCALE) // 2
    assert changed.min(axis=0).tolist() == [g.FRAME, left]  # the badge starts at the photo's corner, inside the frame
    assert (changed.max(axis=0) - changed.min(axis=0) < 24).all()  # and stays a small corner of the 128 px photo
    assert tuple(seven[g.FRAME, left]) == g.BADGE_RGB
    (top, left_edge), (bottom, right) = changed.min(axis=0), changed.max(axis=0)
    badge = seven[top:bottom + 1, left_edge:right + 1]
    assert (badge.min(axis=2) > 160).sum() >= 5  # the digit's light strokes on the dark box (anti-aliased)
    assert ((forty_two != plain).any(axis=2)).sum() > len(changed)  # two digits take a wider badge than one
