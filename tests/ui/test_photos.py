"""model.uploads: every uploaded file becomes a prediction or one plain-text error, never an exception."""
from __future__ import annotations

import numpy as np
import pytest

from tests.model import image_factory as make
from ui import photos as up
from ui.text import escape_markdown

GOOD = {
    "png": make.png_rgb(), "rgba": make.png_rgba(), "grey": make.png_gray(), "exif": make.jpeg_exif_rotated(),
    "gif": make.gif_animated(), "16bit": make.png_16bit(), "cmyk": make.jpeg_cmyk(),
}
BAD = {
    "truncated": make.truncated_jpeg(), "text": make.text_file(), "bomb": make.png_bomb(), "empty": b"",
    "oversized": make.oversized_file(),
}


@pytest.mark.parametrize("kind", list(GOOD))
def test_good_files_are_prepared(kind):
    result = up.prepare("id", f"{kind}.img", GOOD[kind])
    assert result.ok and result.error is None
    assert result.prepared.x.shape == (1, 12288)


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_files_become_one_sentence(kind):
    result = up.prepare("id", f"{kind}.img", BAD[kind])
    assert not result.ok and result.prepared is None
    assert result.error and result.error.endswith(".") and "\n" not in result.error


def test_unexpected_errors_are_contained(monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(up, "prepare_image", boom)
    result = up.prepare("id", "x.png", b"whatever")
    assert not result.ok and "unexpected" in result.error


def test_error_markdown_shows_the_name_literally():
    name = "[x](javascript:alert(1)).png"
    result = up.prepare("id", name, b"not an image")
    assert result.error_markdown.startswith(f"**{escape_markdown(name)}**: ")
    assert "](" not in result.error_markdown


def test_a_photo_uploaded_twice_is_kept_once_with_a_note():
    photo, other = make.png_rgb(), make.png_gray()
    uploads = [up.prepare("1", "cat.png", photo), up.prepare("2", "other.png", other),
               up.prepare("3", "cat.png", photo), up.prepare("4", "copy *of* cat.png", photo),
               up.prepare("5", "broken.jpg", b"not an image"), up.prepare("6", "broken.jpg", b"not an image"),
               up.prepare("7", "broken too.jpg", b"not an image")]
    kept, notes = up.once_each(uploads)
    assert [u.file_id for u in kept] == ["1", "2", "5", "7"]  # first copies; a broken file once per name
    assert notes == [f"**cat\\.png** was uploaded twice, and also as **{escape_markdown('copy *of* cat.png')}**: "
                     "shown once.", "**broken\\.jpg** was uploaded twice: shown once."]


@pytest.mark.parametrize("names, note", [
    (["a.png"] * 4, "**a\\.png** was uploaded 4 times: shown once."),
    (["a.png", "b.png", "c.png", "b.png"], "**a\\.png** was also uploaded as **b\\.png** and **c\\.png**: shown once."),
])
def test_one_note_per_photo_counts_its_copies(names, note):
    photo = make.png_rgb()
    kept, notes = up.once_each([up.prepare(str(i), name, photo) for i, name in enumerate(names)])
    assert len(kept) == 1 and notes == [note]


def test_two_photos_with_one_name_are_both_kept():
    kept, notes = up.once_each([up.prepare("1", "IMG_0001.jpg", make.png_rgb()),
                                up.prepare("2", "IMG_0001.jpg", make.png_gray())])
    assert len(kept) == 2 and not notes


def test_cache_prepares_each_file_once_per_fit(monkeypatch):
    calls = []
    real = up.prepare

    def counting(*args, **kwargs):
        calls.append(args[:2])
        return real(*args, **kwargs)

    monkeypatch.setattr(up, "prepare", counting)
    cache = up.UploadCache(size=2)
    data = make.png_stripes()
    a = cache.get("f1", "a.png", data)
    assert cache.get("f1", "a.png", data) is a
    b = cache.get("f1", "a.png", lambda: data, fit="squash")  # bytes may be passed lazily
    assert b is not a and len(calls) == 2
    cache.get("f2", "b.png", data)
    assert len(cache) == 2  # the oldest entry went
    cache.get("f1", "a.png", data)
    assert len(calls) == 4
    with pytest.raises(ValueError):
        cache.get("f1", "a.png", data, fit="stretch")


def test_crop_and_squash_differ():
    data = make.png_stripes(size=(300, 100))
    crop, squash = up.prepare("i", "s", data, "crop"), up.prepare("i", "s", data, "squash")
    assert not np.array_equal(crop.prepared.preview, squash.prepared.preview)


def test_classify_batches_and_keeps_the_order():
    items = [up.prepare("1", "a", GOOD["png"]), up.prepare("2", "b", BAD["text"]),
             up.prepare("3", "c", GOOD["grey"])]
    seen = []

    def predict(x):
        seen.append(x.shape)
        return x.mean(axis=1)

    preds = up.classify(predict, items)
    assert seen == [(2, 12288)]  # one forward pass for all good files
    assert preds[1] is None and preds[0].p_cat == pytest.approx(items[0].prepared.x.mean())
    assert up.classify(predict, [items[1]]) == [None]


@pytest.mark.parametrize("p, label, text", [
    (0.93, "MP: cat", "P(cat) = 0.93"), (0.5, "MP: non-cat", "P(cat) = 0.50"),
    (0.999, "MP: cat", "P(cat) > 0.99"), (1e-5, "MP: non-cat", "P(cat) < 0.01"),
])
def test_prediction_labels(p, label, text):
    prediction = up.Prediction(p)
    assert prediction.caption() == label and prediction.probability_text == text


def test_display_width_fits_a_square_box():
    assert up.display_width((4000, 3000), 240) == 240
    assert up.display_width((3000, 4000), 240) == 180
    assert up.display_width((32, 32), 240) == 240  # small images are shown enlarged
    assert up.display_width((0, 0), 240) == 240


def test_uploader_types_cover_the_formats():
    for ext in ("jpg", "jpeg", "png", "gif", "bmp", "webp", "tif", "tiff"):
        assert f".{ext}" in up.UPLOADER_TYPES
    assert any("/" in t for t in up.UPLOADER_TYPES)  # see the comment at UPLOADER_TYPES
