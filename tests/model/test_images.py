"""model.images: untrusted upload bytes -> (1, 12288) input, 64x64 preview and a display copy.

Every file is built in memory by image_factory. Timing is not asserted here (machines differ); see
`median_seconds` at the bottom for how the 12 MP budget was measured.
"""

from __future__ import annotations

import io
import statistics
import timeit
import warnings

import numpy as np
import pytest
from PIL import Image, ImageFile

from model.images import DISPLAY_SIZE, MAX_BYTES, MAX_PIXELS, ImageError, PreparedImage, prepare_image, to_input
from tests.model import image_factory as make
from tests.model.image_factory import BLUE, GREEN, RED, WHITE


def mean_colour(pixels: np.ndarray) -> np.ndarray:
    return pixels.reshape(-1, 3).mean(axis=0)


def assert_colour(pixels: np.ndarray, expected, tol: float = 3) -> None:
    got = mean_colour(pixels)
    assert np.abs(got - np.asarray(expected)).max() <= tol, f"mean colour {got.round(1)}, expected {expected}"


def assert_well_formed(result: PreparedImage, size: int = 64) -> None:
    assert result.preview.shape == (size, size, 3) and result.preview.dtype == np.uint8
    assert result.x.shape == (1, size * size * 3) and result.x.dtype == np.float64
    assert 0 <= result.x.min() and result.x.max() <= 1
    assert result.display.mode == "RGB" and max(result.display.size) <= DISPLAY_SIZE


# --- every kind of image comes out as 8-bit RGB with the right colours ---------------------------

GREY = (100, 100, 100)

FORMAT_CASES = {
    "png rgb": (make.png_rgb(RED), RED, 0),
    "png rgba transparent -> white": (make.png_rgba((0, 0, 0, 0)), WHITE, 0),
    "png rgba opaque": (make.png_rgba((0, 0, 255, 255)), BLUE, 0),
    "png rgba half red on white": (make.png_rgba((255, 0, 0, 128)), (255, 127, 127), 1),
    "png L": (make.png_gray(100), GREY, 0),
    "png 1 black": (make.png_gray(0, mode="1"), (0, 0, 0), 0),
    "png 1 white": (make.png_gray(255, mode="1"), WHITE, 0),
    "png LA opaque": (make.png_gray(100, mode="LA", alpha=255), GREY, 0),
    "png LA transparent -> white": (make.png_gray(0, mode="LA", alpha=0), WHITE, 0),
    "png palette": (make.png_palette(BLUE), BLUE, 0),
    "png palette transparent -> white": (make.png_palette(BLUE, transparent=True), WHITE, 0),
    "png 16-bit mid-grey -> 128": (make.png_16bit(32896), (128, 128, 128), 0),
    "png 16-bit scaled, not clipped": (make.png_16bit(257 * 40), (40, 40, 40), 0),
    "png 16-bit white": (make.png_16bit(65535), WHITE, 0),
    "tiff 32-bit int mid-grey -> 128": (make.tiff_int32(32896), (128, 128, 128), 0),
    "jpeg cmyk red": (make.jpeg_cmyk((0, 255, 255, 0)), RED, 6),
    "gif animated: frame 0": (make.gif_animated((RED, GREEN, BLUE)), RED, 0),
    "bmp": (make.image_file("BMP", GREEN), GREEN, 0),
    "webp lossless": (make.image_file("WEBP", BLUE, lossless=True), BLUE, 0),
    "tiff rgb": (make.image_file("TIFF", RED), RED, 0),
    "jpeg grey": (make.image_file("JPEG", 100, mode="L"), GREY, 2),
}


@pytest.mark.parametrize("data, expected, tol", FORMAT_CASES.values(), ids=FORMAT_CASES.keys())
def test_formats_give_rgb_with_expected_colour(data, expected, tol):
    result = prepare_image(data)
    assert_well_formed(result)
    assert_colour(result.preview, expected, tol)
    assert_colour(np.asarray(result.display), expected, tol)


@pytest.mark.parametrize("data", [make.png_gray(100), make.png_16bit(32896), make.png_gray(255, mode="1")],
                         ids=["L", "I;16", "1"])
def test_greyscale_has_equal_channels(data):
    preview = prepare_image(data).preview.astype(int)
    assert (preview[..., 0] == preview[..., 1]).all() and (preview[..., 1] == preview[..., 2]).all()


# --- EXIF orientation -----------------------------------------------------------------------------


def test_exif_orientation_6_rotates_clockwise():
    # Stored 80x40 with red left, blue right; shown rotated 90 degrees clockwise: 40x80, red on top.
    result = prepare_image(make.jpeg_exif_rotated(6, size=(80, 40)))
    assert result.display.size == (40, 80)
    assert_colour(result.preview[:24], RED, 8)
    assert_colour(result.preview[-24:], BLUE, 8)


def test_exif_orientation_8_rotates_counter_clockwise():
    result = prepare_image(make.jpeg_exif_rotated(8, size=(80, 40)))
    assert result.display.size == (40, 80)
    assert_colour(result.preview[:24], BLUE, 8)
    assert_colour(result.preview[-24:], RED, 8)


def test_exif_orientation_3_turns_upside_down():
    result = prepare_image(make.jpeg_exif_rotated(3, size=(80, 40)))
    assert result.display.size == (80, 40)
    assert_colour(result.preview[:, :24], BLUE, 8)
    assert_colour(result.preview[:, -24:], RED, 8)


def test_without_orientation_the_stored_layout_is_kept():
    result = prepare_image(make.jpeg_exif_rotated(1, size=(80, 40)))
    assert result.display.size == (80, 40)
    assert_colour(result.preview[:, :24], RED, 8)
    assert_colour(result.preview[:, -24:], BLUE, 8)


# --- crop vs squash ---------------------------------------------------------------------------------


def test_crop_keeps_the_centre_square():
    preview = prepare_image(make.png_stripes((RED, GREEN, BLUE), size=(96, 32)), fit="crop").preview
    assert_colour(preview[:, 8:-8], GREEN, 0)  # LANCZOS near the crop's edges sees a little of the
    assert_colour(preview, GREEN, 3)            # neighbouring stripes, as a resize of the whole would


def test_squash_keeps_the_whole_frame():
    preview = prepare_image(make.png_stripes((RED, GREEN, BLUE), size=(96, 32)), fit="squash").preview
    assert_colour(preview[:, :16], RED, 3)
    assert_colour(preview[:, 24:40], GREEN, 3)
    assert_colour(preview[:, -16:], BLUE, 3)


def test_crop_of_a_tall_image_keeps_the_middle_rows():
    stripes = Image.open(io.BytesIO(make.png_stripes((RED, GREEN, BLUE), size=(96, 32))))
    tall = io.BytesIO()
    stripes.transpose(Image.Transpose.ROTATE_90).save(tall, "PNG")  # 32x96: blue, green, red from the top
    preview = prepare_image(tall.getvalue()).preview
    assert_colour(preview[8:-8], GREEN, 0)
    assert_colour(preview, GREEN, 3)


def test_square_image_is_the_same_either_way():
    data = make.png_stripes((RED, GREEN, BLUE), size=(60, 60))
    assert (prepare_image(data, fit="crop").preview == prepare_image(data, fit="squash").preview).all()


def test_other_sizes():
    result = prepare_image(make.png_rgb(RED, size=(50, 40)), size=32)
    assert_well_formed(result, size=32)


@pytest.mark.parametrize("kwargs", [{"fit": "stretch"}, {"size": 0}, {"size": 64.0}])
def test_bad_options_are_programming_errors_not_image_errors(kwargs):
    with pytest.raises(ValueError) as info:
        prepare_image(make.png_rgb(), **kwargs)
    assert not isinstance(info.value, ImageError)


# --- the input layout matches the dataset -----------------------------------------------------------


def test_x_is_preview_in_dataset_layout():
    result = prepare_image(make.jpeg_photo(megapixels=0.3))
    np.testing.assert_array_equal(result.x, result.preview.reshape(1, -1) / 255)
    # channel fastest, then column, then row
    np.testing.assert_array_equal(result.x[0, :3], result.preview[0, 0] / 255)
    np.testing.assert_array_equal(result.x[0, 3:6], result.preview[0, 1] / 255)
    np.testing.assert_array_equal(result.x[0, 64 * 3:64 * 3 + 3], result.preview[1, 0] / 255)


def test_to_input_matches_the_dataset_formula():
    images = np.random.default_rng(0).integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)
    x = to_input(images)
    assert x.shape == (5, 12288) and x.dtype == np.float64
    np.testing.assert_array_equal(x, images.reshape(5, -1) / 255)
    np.testing.assert_array_equal(to_input(images[:, ::-1]), images[:, ::-1].reshape(5, -1) / 255)


@pytest.mark.parametrize("bad", [np.zeros((64, 64, 3), np.uint8), np.zeros((1, 64, 64, 3)),
                                 np.zeros((1, 64, 64, 4), np.uint8)], ids=["3-D", "float", "4 channels"])
def test_to_input_rejects_other_layouts(bad):
    with pytest.raises(ValueError, match="to_input"):
        to_input(bad)


def test_results_are_read_only():
    result = prepare_image(make.png_rgb())
    with pytest.raises(ValueError):
        result.preview[0, 0, 0] = 1
    with pytest.raises(ValueError):
        result.x[0, 0] = 1


# --- inputs: bytes or file-like ---------------------------------------------------------------------


class UploadedFileLike(io.BytesIO):
    """Like Streamlit's UploadedFile: a BytesIO, possibly already read to the end."""


class ReadOnly:
    def __init__(self, data: bytes):
        self._buf = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self._buf.read(n)


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview, io.BytesIO, ReadOnly],
                         ids=["bytes", "bytearray", "memoryview", "BytesIO", "read-only"])
def test_accepts_bytes_and_file_like(wrap):
    assert_colour(prepare_image(wrap(make.png_rgb(RED))).preview, RED, 0)


def test_accepts_an_upload_that_was_already_read():
    upload = UploadedFileLike(make.png_rgb(BLUE))
    upload.read()
    assert_colour(prepare_image(upload).preview, BLUE, 0)


def test_other_types_are_a_type_error():
    with pytest.raises(TypeError):
        prepare_image("cat.png")


# --- large images ------------------------------------------------------------------------------------


def test_12mp_jpeg_gives_small_display_and_preview():
    result = prepare_image(make.jpeg_photo(megapixels=12))
    assert_well_formed(result)
    assert result.display.size == (DISPLAY_SIZE, DISPLAY_SIZE * 3 // 4)


def test_jpeg_draft_keeps_quality():
    """The reduced-scale JPEG decode gives nearly the same 64x64 as a full decode would."""
    data = make.jpeg_photo(megapixels=12)
    full = Image.open(io.BytesIO(data)).convert("RGB")
    left = (full.width - full.height) // 2
    reference = np.asarray(full.resize((64, 64), Image.Resampling.LANCZOS,
                                       box=(left, 0, left + full.height, full.height)), dtype=float)
    ours = prepare_image(data).preview.astype(float)
    assert np.abs(ours - reference).mean() < 2


def test_small_images_are_not_upscaled_for_display():
    assert prepare_image(make.png_rgb(size=(30, 20))).display.size == (30, 20)


def test_files_up_to_the_byte_limit_are_accepted():
    assert_colour(prepare_image(make.oversized_file(MAX_BYTES)).preview, RED, 0)


# --- bad files: always ImageError with one plain sentence ----------------------------------------------

BAD_FILES = {
    "empty": (b"", "empty"),
    "text": (make.text_file(), "not an image"),
    "truncated jpeg": (make.truncated_jpeg(0.5), "damaged or incomplete"),
    "jpeg header only": (make.truncated_jpeg(0.01), "damaged"),
    "truncated png": (make.png_stripes(size=(300, 200))[:-40], "damaged or incomplete"),
    "over 20 MB": (make.oversized_file(MAX_BYTES + 1), "20 MB"),
    "over 50 MP": (make.png_bomb(10_000, 5_001), "10000 x 5001 pixels (50.0 megapixels), over the 50 megapixel"),
    "bomb, Pillow warns": (make.png_bomb(10_000, 10_000), "50 megapixel limit"),
    "bomb, Pillow refuses": (make.png_bomb(100_000, 100_000), "50 megapixel limit"),
    "zero width": (make.png_bomb(0, 10), "image"),
    "eps (never parsed)": (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "not an image"),
}


@pytest.mark.parametrize("data, message", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_files_raise_image_error_with_a_clear_message(data, message):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no Pillow warning may leak either
        with pytest.raises(ImageError) as info:
            prepare_image(data)
    text = str(info.value)
    assert message in text
    assert type(info.value) is ImageError and isinstance(info.value, ValueError)
    assert text.endswith(".") and text.count(". ") == 0 and "\n" not in text
    for jargon in ("Traceback", "PIL", "cannot identify", "DOS attack", "Errno"):
        assert jargon not in text


def test_pixel_limit_is_checked_before_decoding():
    # 60 MP of RGB would be 180 MB; refusing it from the header takes no time and no memory.
    started = timeit.default_timer()
    with pytest.raises(ImageError, match="megapixel"):
        prepare_image(make.png_bomb(10_000, 6_000))
    assert timeit.default_timer() - started < 0.05


def test_limits_are_what_the_page_promises():
    assert MAX_BYTES == 20 * 1024 * 1024 and MAX_PIXELS == 50_000_000


def test_pillow_globals_are_left_alone():
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, list(warnings.filters))
    for data, _ in BAD_FILES.values():
        with pytest.raises(ImageError):
            prepare_image(data)
    prepare_image(make.png_rgb())
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, list(warnings.filters)) == before


def mangled_files(seed: int = 0):
    """Valid small files cut short and with random bytes overwritten: a small deterministic fuzz."""
    rng = np.random.default_rng(seed)
    originals = [make.png_rgb(), make.png_rgba((9, 9, 9, 9)), make.png_16bit(), make.png_palette(transparent=True),
                 make.jpeg_exif_rotated(6), make.jpeg_cmyk(), make.gif_animated(), make.tiff_int32(),
                 make.image_file("BMP"), make.image_file("WEBP"), make.image_file("TIFF", mode="CMYK", color=0),
                 make.jpeg_photo(megapixels=0.01)]
    for data in originals:
        for cut in rng.integers(1, len(data), 8):
            yield data[:cut]
        for _ in range(12):
            mangled = bytearray(data)
            positions = rng.integers(0, len(data), 3)
            mangled[positions[0]] = rng.integers(0, 256)
            mangled[positions[1]:positions[1] + 4] = rng.integers(0, 256, 4, dtype=np.uint8).tobytes()
            mangled[positions[2]] ^= 0xFF
            yield bytes(mangled)


def test_mangled_files_give_an_image_or_an_image_error():
    outcomes = {"ok": 0, "ImageError": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        for data in mangled_files():
            try:
                assert_well_formed(prepare_image(data))
                outcomes["ok"] += 1
            except ImageError:
                outcomes["ImageError"] += 1
    assert outcomes["ok"] > 0 and outcomes["ImageError"] > 0, outcomes


# --- how the speed budget was measured (not a test) -------------------------------------------------


def median_seconds(data: bytes, runs: int = 7) -> float:
    """Median wall time of prepare_image(data) over `runs` runs (the budget: <= 0.3 s for a 12 MP JPEG)."""
    return statistics.median(timeit.repeat(lambda: prepare_image(data), number=1, repeat=runs))


if __name__ == "__main__":  # .venv/bin/python -m tests.model.test_images
    photo = make.jpeg_photo(megapixels=12)
    print(f"12 MP JPEG ({len(photo) / 1e6:.1f} MB): median {median_seconds(photo) * 1000:.0f} ms over 7 runs")
