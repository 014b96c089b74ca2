"""Section `insight`: what the "Inside the network" views cost a playing page (target: >= 0.9x without them).

Contenders take turns in this process, repetition after repetition (rotating order), each training the course's
fresh initialization (seed 1, SGD, lr 0.0075, float32 as the page trains) for `seconds` of wall time, with one
uploaded photo on the page; we quote median epochs/s and the median of the paired ratios (with / without).

* fragment loop: app.py's live fragment without Streamlit (`ui.session.play_loop`, as bench/app.py), the
  other fragments' share of the views included: without the views, or with them (the first-layer tiles, the
  health chart and the upload's and a test image's heatmaps asked for once per fragment run, as the page's
  fragments ask for them, and remade at most every `insight.REFRESH` s).
* AppTest: the real app.py, Play pressed, `at.run()` over and over (each a page run, which trains one tick: see
  bench/app.py), once with the views and once with their pictures switched off (the tiles, the health chart and
  the heatmaps replaced by nothing), everything else on the page the same.
"""
from __future__ import annotations

import contextlib
import time
from pathlib import Path

import numpy as np

APP = Path(__file__).resolve().parent.parent / "app.py"
TARGET = 0.9  # epochs/s with the views over epochs/s without them, at least
PAIRS = {"fragment loop": ("fragment loop, without the views", "fragment loop, with the views"),
         "AppTest": ("app.py via AppTest, views off", "app.py via AppTest, views on")}


def photo():
    """One prepared upload (a photo-like JPEG), as the page keeps it."""
    from model.images import prepare_image
    from tests.model.image_factory import jpeg_photo

    return prepare_image(jpeg_photo(megapixels=1))


def fragment_loop(resources, seconds: float, views: bool) -> dict:
    """The live fragment's loop, one play_loop call per fragment run; with `views`, the page's Inside-the-network
    pictures as well (made through the same per-visitor cache, so exactly as often as the page makes them)."""
    from ui import insight, live, session, settings

    training = session.TrainingSession(resources, start=settings.FRESH, target=settings.MAX_EPOCHS)
    pictures, upload, test = insight.Pictures(), photo(), resources.split("test")

    def redraw_chart():
        live.loss_chart(training.view().chart, training.target)

    def inside_the_network():  # its own fragment on the page, redrawn about once per run of the live one
        pictures.health(training)
        pictures.tiles(training, "learned")

    def other_fragments():  # "Your photos" and the TL/MP grid: one heatmap each
        pictures.heatmap(training, ("upload", "photo"), upload.preview, upload.x)
        pictures.heatmap(training, ("test", 0), test.images[0], test.x[:1])

    start = time.perf_counter()
    training.play()
    while time.perf_counter() - start < seconds:
        training.view()
        redraw_chart()
        if views:
            inside_the_network()
            other_fragments()
        if session.play_loop(training, training.view, redraw_chart):
            raise RuntimeError(f"training stopped: {training.warning or 'target reached'}")
    return {"epochs": training.epoch, "seconds": time.perf_counter() - start}


@contextlib.contextmanager
def views_switched_off():
    """The page's Inside-the-network pictures replaced by nothing: no tiles, no health chart, a blank heatmap."""
    from ui import gallery, insight

    blank = gallery.png_bytes(np.full((8, 8, 3), 255, dtype=np.uint8))
    saved = insight.first_layer_view, insight.health_chart, insight.heatmap_png
    insight.first_layer_view = lambda training, view: insight.FirstLayerView(view, [], [], "")
    insight.health_chart = lambda history, rolled_back=(): ({"epoch": []}, {})
    insight.heatmap_png = lambda training, image, x: insight.Heatmap(blank, flat=False)
    try:
        yield
    finally:
        insight.first_layer_view, insight.health_chart, insight.heatmap_png = saved


def apptest(seconds: float, views: bool) -> dict:
    """Fresh init, target 20,000 epochs, one upload, Play, then full reruns until `seconds` have passed."""
    from streamlit.testing.v1 import AppTest

    from tests.model.image_factory import jpeg_photo
    from ui import settings

    with contextlib.nullcontext() if views else views_switched_off():
        at = AppTest.from_file(str(APP), default_timeout=60).run()
        at.segmented_control(key="start").set_value(settings.FRESH)
        at.number_input(key="epochs").set_value(settings.MAX_EPOCHS)
        at.file_uploader(key="upload").set_value([("photo.jpg", jpeg_photo(megapixels=1), "image/jpeg")]).run()
        if at.exception or at.session_state["training"].start != settings.FRESH:
            raise RuntimeError(f"the page did not start a fresh run: {[e.value for e in at.exception]}")
        start = time.perf_counter()
        at.button(key="play").click().run()
        while time.perf_counter() - start < seconds:
            at.run()
        elapsed, run = time.perf_counter() - start, at.session_state["training"]
        if at.exception or not run.playing:
            raise RuntimeError(f"the page stopped playing: {run.warning or [e.value for e in at.exception]}")
        return {"epochs": run.epoch, "seconds": elapsed}


def run(data, reps: int = 3, seconds: float = 3.0, warmup: int = 1) -> dict:
    """Alternate the four contenders `warmup + reps` times; `data` is unused (the page loads its own)."""
    from ui.resources import load_resources

    resources = load_resources()
    contenders = {
        PAIRS["fragment loop"][0]: lambda: fragment_loop(resources, seconds, views=False),
        PAIRS["fragment loop"][1]: lambda: fragment_loop(resources, seconds, views=True),
        PAIRS["AppTest"][0]: lambda: apptest(seconds, views=False),
        PAIRS["AppTest"][1]: lambda: apptest(seconds, views=True),
    }
    names = list(contenders)
    rates = {name: [] for name in names}
    for rep in range(warmup + reps):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            m = contenders[name]()
            if rep >= warmup:
                rates[name].append(m["epochs"] / m["seconds"])
    results = {"seconds": seconds, "reps": reps, "rates": rates}
    for pair, (without, with_views) in PAIRS.items():
        ratios = np.array(rates[with_views]) / np.array(rates[without])
        results[pair] = {"without": float(np.median(rates[without])), "with": float(np.median(rates[with_views])),
                         "ratio": float(np.median(ratios)),
                         "ratio_iqr": [float(q) for q in np.percentile(ratios, [25, 75])]}
    return results


def rows(results: dict) -> list[dict]:
    out = []
    for pair, (without, with_views) in PAIRS.items():
        r = results[pair]
        out.append({"section": "insight", "dtype": "float32", "name": without,
                    "value": f"{r['without']:,.0f} epochs/s", "ratio": 1.0})
        out.append({"section": "insight", "dtype": "float32", "name": with_views,
                    "value": f"{r['with']:,.0f} epochs/s", "ratio": r["ratio"], "iqr": r["ratio_iqr"],
                    "target": TARGET, "target_kind": "min_ratio"})
    return out


def notes(results: dict) -> list[str]:
    return [f"insight: epochs/s over {results['seconds']:g} s per contender, median of {results['reps']} rotations; "
            "ratio = with the Inside-the-network views / without them, same rotation (higher is better)."]
