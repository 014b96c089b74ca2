"""Section `app`: how fast the page trains while playing, against `Trainer.run` headless (target >= 0.8):
the page's own `play_loop` without Streamlit, and the real app.py through AppTest (full reruns only, so
it overstates the overhead; the browser, rerunning only the fragment, lies between the two).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

APP = Path(__file__).resolve().parent.parent / "app.py"
TARGET = 0.8  # app epochs/s over headless epochs/s, at least
NAMES = ("Trainer.run headless", "fragment loop (no Streamlit)", "app.py via AppTest (full reruns)")


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
    """app.py's train_and_show(): the page's own play_loop, one call per fragment run, minus the st.* calls."""
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
    """Fresh init, target 20,000 epochs, Play, then full reruns until `seconds` have passed; the
    clock starts at the Play click (itself a full rerun in the browser too). Afterwards, paused, the
    cost of one full rerun without training (what each `at.run()` adds to a fragment run)."""
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


def run(data, reps: int = 5, seconds: float = 3.0, warmup: int = 1) -> dict:
    """Alternate the three contenders `warmup + reps` times; `data` is unused (the page loads its own)."""
    from ui.resources import load_resources

    resources = load_resources()  # the same float32 arrays the page trains on
    contenders = dict(zip(NAMES, (lambda: headless(resources, seconds), lambda: fragment_loop(resources, seconds),
                                  lambda: apptest(seconds))))
    measured = {name: [] for name in NAMES}
    for rep in range(warmup + reps):
        order = NAMES[rep % 3:] + NAMES[:rep % 3]
        for name in order:
            m = contenders[name]()
            m["epochs_per_s"] = m["epochs"] / m["seconds"]
            if rep >= warmup:
                measured[name].append(m)
    base = np.array([m["epochs_per_s"] for m in measured[NAMES[0]]])
    results = {"seconds": seconds, "reps": reps}
    for name in NAMES:
        rates = np.array([m["epochs_per_s"] for m in measured[name]])
        ratios = rates / base
        results[name] = {"epochs_per_s": float(np.median(rates)), "ratio": float(np.median(ratios)),
                         "ratio_iqr": [float(q) for q in np.percentile(ratios, [25, 75])],
                         "measurements": measured[name]}
    return results


def rows(results: dict) -> list[dict]:
    out = []
    for i, name in enumerate(NAMES):
        r = results[name]
        row = {"section": "app", "dtype": "float32", "name": name, "value": f"{r['epochs_per_s']:,.0f} epochs/s",
               "ratio": r["ratio"], "iqr": r["ratio_iqr"]}
        if i:
            row.update(target=TARGET, target_kind="min_ratio")
        out.append(row)
    return out


def notes(results: dict) -> list[str]:
    at = results[NAMES[2]]["measurements"]
    per_run = np.median([m["seconds"] / m["runs"] for m in at])
    rerun = np.median([m["paused_rerun_ms"] for m in at])
    return [f"app: epochs/s over {results['seconds']:g} s of wall time per contender, median of {results['reps']} "
            "rotations; ratio = contender / headless of the same rotation (higher is better).",
            f"app: AppTest reruns the whole script on every at.run() (no fragment-only reruns, no run_every "
            f"timers): {per_run:.2f} s per run, of which a full rerun without training (paused) costs "
            f"{rerun:.0f} ms, and AppTest polls for the end of each run every 1 ms, slowing the training. The browser "
            "reruns only the fragments, unpolled, so the real page lies between the AppTest and fragment-loop rows; "
            "browser rendering is on the visitor's machine and in neither."]
