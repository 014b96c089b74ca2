"""Section `predict`: what one upload costs, from JPEG bytes to P(cat): a single-image forward against
hand-written NumPy, and `prepare_image` on a 12-megapixel JPEG (upload to prediction <= 300 ms).
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from bench import handwritten as hw
from bench.timing import median_ms, side_by_side

WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "cat_mlp.npz"
CALLS = 50  # predictions per timing
TARGET_UPLOAD_MS = 300.0


def photo_jpeg(megapixels: float = 12) -> bytes:
    """The test suite's photo-like JPEG if it is there, else the same recipe: colour fields plus noise."""
    try:
        from tests.model.image_factory import jpeg_photo
        return jpeg_photo(megapixels=megapixels)
    except ImportError:
        from PIL import Image
        height = round((megapixels * 1e6 * 3 / 4) ** 0.5)
        width = round(height * 4 / 3)
        rng = np.random.default_rng(0)
        fields = Image.fromarray(rng.integers(0, 224, (6, 8, 3), dtype=np.uint8)).resize((width, height))
        pixels = np.asarray(fields) + rng.integers(0, 32, (height, width, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
        return buffer.getvalue()


def run(data, reps: int = 200, photo_reps: int = 15) -> dict:
    from model.cat import predict_proba
    from model.images import prepare_image
    from model.weights import load_weights

    model, _ = load_weights(WEIGHTS)
    params = hw.params_from_state(model.state_dict(), model.parameters()[0].dtype)
    x = np.ascontiguousarray(data.x_test[:1])  # one (1, 12288) row, as an upload gives it
    same = bool(np.allclose(predict_proba(model, x), hw.predict_proba(params, x), rtol=1e-12, atol=0))

    forward = side_by_side({"hand-written forward": lambda: hw.predict_proba(params, x),
                            "predict_proba": lambda: predict_proba(model, x)},
                           reps=reps, warmup=max(2, reps // 20), number=CALLS)

    photo = photo_jpeg(12)
    prepare = median_ms(lambda: prepare_image(photo), reps=photo_reps)
    prepare["megabytes"] = len(photo) / 2**20
    upload = median_ms(lambda: predict_proba(model, prepare_image(photo).x), reps=photo_reps)
    return {"same_output": same, "forward": forward, "prepare_12mp": prepare, "upload_to_prediction": upload}


def rows(results: dict) -> list[dict]:
    out = [{"section": "predict", "name": f"{name} (1 image)", "median_ms": r["median_ms"], "ratio": r["ratio"],
            "iqr": r["ratio_iqr"], "faults": r["page_faults"]} for name, r in results["forward"].items()]
    megabytes = results["prepare_12mp"]["megabytes"]
    out.append({"section": "predict", "name": f"prepare_image, 12 MP JPEG ({megabytes:.1f} MB)",
                "median_ms": results["prepare_12mp"]["median_ms"]})
    out.append({"section": "predict", "name": "upload to prediction (prepare + predict)",
                "median_ms": results["upload_to_prediction"]["median_ms"], "target": TARGET_UPLOAD_MS,
                "target_kind": "ms"})
    return out


def notes(results: dict) -> list[str]:
    verdict = "equals" if results["same_output"] else "DIFFERS FROM"
    return [f"predict: predict_proba {verdict} the hand-written forward (rtol 1e-12)"]
