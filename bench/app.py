"""Section `app`: how fast the page trains while playing, against `Trainer.run` headless (target >= 0.8):
the page's own `play_loop` without Streamlit; the real app.py in headless Chromium, as a visitor sees it (the
live fragment's timer runs, the browser drawing on the same cores); and app.py through AppTest, which has no
timers: each of its full reruns trains the single tick of the page's own run, so it measures the page run.
"""
from __future__ import annotations

import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

APP = Path(__file__).resolve().parent.parent / "app.py"
TARGET = 0.8  # app epochs/s over headless epochs/s, at least
HEADLESS, FRAGMENT_LOOP = "Trainer.run headless", "fragment loop (no Streamlit)"
BROWSER, APPTEST = "app.py in Chromium", "app.py via AppTest (page runs)"
NAMES = (HEADLESS, FRAGMENT_LOOP, BROWSER, APPTEST)
# The target is the server's: in a class the browsers draw on the visitors' machines. Chromium here draws on the
# server's own cores (as on a laptop running `make run`), and AppTest's page runs are no picture of playing.
TARGETED = (FRAGMENT_LOOP,)


def headless(resources, seconds: float) -> dict:
    from model.cat import cat_mlp
    from model.trainer import Trainer
    from ui import resources as shared
    from ui import settings

    trainer = Trainer(cat_mlp(seed=settings.DEFAULT_SEED), resources.train_data, lr=settings.DEFAULT_LR,
                      dtype=shared.TRAIN_DTYPE, eval_every=settings.EVAL_EVERY)
    start = time.perf_counter()
    trainer.run(seconds=seconds)
    return {"epochs": trainer.epoch, "seconds": time.perf_counter() - start}


def fragment_loop(resources, seconds: float) -> dict:
    """app.py's live_training(): the page's own play_loop, one call per fragment run, minus the st.* calls."""
    from ui import live, session, settings, text

    training = session.TrainingSession(resources, start=settings.FRESH, target=settings.MAX_EPOCHS)

    def redraw_chart():
        live.loss_chart(training.view().chart, training.target)
        text.describe_start(training)

    start = time.perf_counter()
    training.play()
    runs = 0
    while time.perf_counter() - start < seconds:
        runs += 1
        training.view()  # the live view and the chart, drawn before training
        redraw_chart()
        if session.play_loop(training, training.view, redraw_chart):
            raise RuntimeError(f"training stopped: {training.warning or 'target reached'}")
    return {"epochs": training.epoch, "seconds": time.perf_counter() - start, "runs": runs}


def apptest(seconds: float) -> dict:
    """Fresh init, target 20,000 epochs, Play, then page runs until `seconds` have passed, each training one tick;
    the clock starts at the Play click (a page run in the browser too). Afterwards, paused, the cost of one page
    run without training (what each `at.run()` adds to its tick)."""
    from streamlit.testing.v1 import AppTest

    from ui import settings

    at = AppTest.from_file(str(APP), default_timeout=60).run()
    if at.session_state["start"] != settings.FRESH:
        at.segmented_control(key="start").set_value(settings.FRESH)
    at.number_input(key="epochs").set_value(settings.MAX_EPOCHS).run()
    run = at.session_state["training"]
    if at.exception or run.start != settings.FRESH or run.epoch != 0:
        raise RuntimeError(f"the page did not start a fresh run: {[e.value for e in at.exception]}")

    start = time.perf_counter()
    at.button(key="play").click().run()
    runs = 1
    while time.perf_counter() - start < seconds:
        at.run()
        runs += 1
    elapsed = time.perf_counter() - start
    run = at.session_state["training"]
    epochs = run.epoch
    if at.exception or not run.playing:
        raise RuntimeError(f"the page stopped playing: {run.warning or [e.value for e in at.exception]}")

    at.button(key="pause").click().run()
    rerun = []
    for _ in range(3):
        t0 = time.perf_counter()
        at.run()
        rerun.append(time.perf_counter() - t0)
    return {"epochs": epochs, "seconds": elapsed, "runs": runs, "paused_rerun_ms": 1e3 * float(np.median(rerun))}


@contextmanager
def served_page():
    """`streamlit run app.py` on a free port and a headless Chromium: yields `in_browser(seconds)`, or None where
    playwright or Chromium is missing (`pip install -r requirements-dev.txt`, `apt-get install chromium`)."""
    from tests.e2e.servers import CHROMIUM, CHROMIUM_ARGS, start_streamlit, stop

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if sync_playwright is None or not CHROMIUM.is_file():
        yield None
        return
    with tempfile.TemporaryDirectory() as folder:
        server, url = start_streamlit(APP.parent, dict(os.environ), Path(folder) / "streamlit.log")  # or NotStarted
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                try:
                    yield lambda seconds: in_browser(browser, url, seconds)
                finally:
                    browser.close()
        finally:
            stop(server)


def in_browser(browser, url: str, seconds: float) -> dict:
    """A new visitor (fresh init, the largest target, from a link) presses Play; the epochs the page shows over
    `seconds`, counted from one redraw of the metrics to another once the first tick is on the page."""
    from tests.e2e.servers import EPOCH_JS
    from ui import settings

    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.goto(f"{url}/?start={settings.FRESH}&epochs={settings.MAX_EPOCHS}")
        page.locator(".st-key-play button:enabled").click(timeout=60_000)

        def next_redraw(after: int) -> tuple[int, float]:
            page.wait_for_function(f"n => ({EPOCH_JS})() > n", arg=after, timeout=60_000)
            return page.evaluate(EPOCH_JS), time.perf_counter()

        first, start = next_redraw(0)
        page.wait_for_timeout(1e3 * seconds)
        last, end = next_redraw(page.evaluate(EPOCH_JS))
        page.locator(".st-key-pause button").click()
        page.get_by_text("Paused at epoch").first.wait_for(timeout=60_000)  # the server idle before the next turn
    finally:
        page.close()
    return {"epochs": last - first, "seconds": end - start}


def run(data, reps: int = 5, seconds: float = 3.0, warmup: int = 1) -> dict:
    """Alternate the contenders `warmup + reps` times; `data` is unused (the page loads its own)."""
    from ui.resources import load_resources

    resources = load_resources()  # the same float32 arrays the page trains on
    with served_page() as browser_page:
        contenders = dict(zip(NAMES, (lambda: headless(resources, seconds), lambda: fragment_loop(resources, seconds),
                                      lambda: browser_page(seconds), lambda: apptest(seconds))))
        names = NAMES if browser_page is not None else tuple(n for n in NAMES if n != BROWSER)
        measured = {name: [] for name in names}
        for rep in range(warmup + reps):
            for name in names[rep % len(names):] + names[:rep % len(names)]:
                m = contenders[name]()
                m["epochs_per_s"] = m["epochs"] / m["seconds"]
                if rep >= warmup:
                    measured[name].append(m)
    base = np.array([m["epochs_per_s"] for m in measured[HEADLESS]])
    results = {"seconds": seconds, "reps": reps, "browser": browser_page is not None}
    for name in names:
        rates = np.array([m["epochs_per_s"] for m in measured[name]])
        ratios = rates / base
        results[name] = {"epochs_per_s": float(np.median(rates)), "ratio": float(np.median(ratios)),
                         "ratio_iqr": [float(q) for q in np.percentile(ratios, [25, 75])],
                         "measurements": measured[name]}
    return results


def rows(results: dict) -> list[dict]:
    out = []
    for name in NAMES:
        if name not in results:
            continue  # no Chromium here
        r = results[name]
        row = {"section": "app", "dtype": "float32", "name": name, "value": f"{r['epochs_per_s']:,.0f} epochs/s",
               "ratio": r["ratio"], "iqr": r["ratio_iqr"]}
        if name in TARGETED:
            row.update(target=TARGET, target_kind="min_ratio")
        out.append(row)
    return out


def notes(results: dict) -> list[str]:
    at = results[APPTEST]["measurements"]
    per_run = np.median([m["seconds"] / m["runs"] for m in at])
    rerun = np.median([m["paused_rerun_ms"] for m in at])
    browser = ("app: the Chromium row is a visitor's page: the live fragment's timer runs (a second of ticks each), "
               "the server and the browser drawing every redraw on this machine's cores, as on a laptop running "
               "`make run` (in a class the browsers draw on the visitors' machines: no target). The two count "
               "among the 'other processes' below (about 15% of the CPUs here)."
               if results.get("browser") else
               "app: no Chromium row: playwright or /usr/bin/chromium is missing (pip install -r "
               "requirements-dev.txt; apt-get install chromium).")
    return [f"app: epochs/s over {results['seconds']:g} s of wall time per contender, median of {results['reps']} "
            "rotations; ratio = contender / headless of the same rotation (higher is better).", browser,
            f"app: AppTest has no run_every timers, so every at.run() is a page run, which trains a single tick "
            f"(0.2 s) so that the page below never waits long: {per_run:.2f} s per run, of which a run without "
            f"training (paused) costs {rerun:.0f} ms. In a browser the page runs only when the visitor changes "
            "something; hence no target for this row."]
