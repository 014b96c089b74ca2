"""What the "See backprop" section costs Play: the app's training throughput with it and without it (>= 0.95x).

Two contenders take turns in this process, repetition after repetition (rotating order), each driving the
page through AppTest as bench/app.py does (fresh init, SGD, target 20,000 epochs, Play, then page runs of one
tick each for `seconds` of wall time). Epochs per wall-clock second is what a visitor sees; epochs per CPU
second of this process is steadier when other programs share the cores:

* without: app.py with its `# --- see backprop ---` section cut out (written to a temporary file);
* with, walk open: the real app.py, after three presses of "Backward one step" on the network's training step,
  so a walk with its graph and pictures is open (and goes stale) while the run plays.

AppTest reruns the whole script on every run, so the section is drawn on every one of them: the worst case.
In the browser the section sits outside the live fragment and is not rerun while playing at all; what is
left is the state it keeps. So the same pair also plays the page's fragment loop (`ui.session.play_loop`, as
bench/app.py does) with and without a walk open in the session. Also timed, paused: one full rerun of the page
with the section and without it, alternating.

    python -m bench.backprop [--reps 5] [--seconds 3]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

APP = Path(__file__).resolve().parent.parent / "app.py"
SECTION_START, SECTION_END = "# --- see backprop ---", "# --- your photos ---"
TARGET = 0.95  # with / without, at least
NAMES = ("app.py without the section", "app.py with a walk open")


def without_section(folder: Path) -> Path:
    """A copy of app.py without the See backprop section (in `folder`; the page finds ui/ on sys.path)."""
    source = APP.read_text()
    start, end = source.index(SECTION_START), source.index(SECTION_END)
    path = folder / "app_without_backprop.py"
    path.write_text(source[:start] + source[end:])
    return path


def play(script: Path, seconds: float, open_walk: bool) -> dict:
    """Epochs/s of Play through full reruns of `script`, and the cost of one full rerun when paused."""
    from streamlit.testing.v1 import AppTest

    from ui import settings

    at = AppTest.from_file(str(script), default_timeout=60).run()
    at.segmented_control(key="start").set_value(settings.FRESH)
    at.number_input(key="epochs").set_value(settings.MAX_EPOCHS).run()
    if open_walk:
        for _ in range(3):
            at.button(key="bp_back").click().run()
        assert at.session_state["backprop"].opened.walk.done == 3
    if at.exception:
        raise RuntimeError([e.value for e in at.exception])
    start, cpu = time.perf_counter(), time.process_time()
    at.button(key="play").click().run()
    while time.perf_counter() - start < seconds:
        at.run()
    elapsed, cpu, run = time.perf_counter() - start, time.process_time() - cpu, at.session_state["training"]
    if at.exception or not run.playing:
        raise RuntimeError(f"the page stopped playing: {run.warning or [e.value for e in at.exception]}")
    epochs = run.epoch
    at.button(key="pause").click().run()
    reruns = []
    for _ in range(3):
        t0 = time.perf_counter()
        at.run()
        reruns.append(time.perf_counter() - t0)
    return {"epochs_per_s": epochs / elapsed, "epochs_per_cpu_s": epochs / cpu,
            "paused_rerun_ms": 1e3 * float(np.median(reruns))}


def paused_pages(without: Path) -> dict:
    """Both pages paused after their first run; the one with the section has a walk open at step 3."""
    from streamlit.testing.v1 import AppTest

    pages = {NAMES[0]: AppTest.from_file(str(without), default_timeout=60).run(),
             NAMES[1]: AppTest.from_file(str(APP), default_timeout=60).run()}
    for _ in range(3):
        pages[NAMES[1]].button(key="bp_back").click().run()
    return pages


def rerun_cost(without: Path, reruns: int = 20) -> dict:
    """Median ms of a full rerun of each page, paused, alternating run by run: what the section adds to each
    full rerun (in AppTest, one per second of play; in the browser, none while playing)."""
    pages = paused_pages(without)
    times = {name: [] for name in NAMES}
    for _ in range(reruns):
        for name, at in pages.items():
            t0 = time.perf_counter()
            at.run()
            times[name].append(1e3 * (time.perf_counter() - t0))
    return {name: float(np.median(t)) for name, t in times.items()}


def fragment_loop(resources, seconds: float, open_walk: bool) -> dict:
    """Epochs/s of app.py's live fragment without Streamlit, with a walk open in the session or not."""
    from ui import live, session, settings

    training = session.TrainingSession(resources, start=settings.FRESH, target=settings.MAX_EPOCHS)
    if open_walk:
        from ui import backprop

        stepper = backprop.Stepper(backprop.NETWORK)
        for _ in range(3):
            stepper.back(training)
        stepper.view(training)  # its graph, order and pictures built, as the page would have drawn them

    def redraw_chart():
        live.loss_chart(training.view().chart, training.target)

    start = time.perf_counter()
    training.play()
    while time.perf_counter() - start < seconds:
        session.play_loop(training, training.view, redraw_chart)
    return {"epochs_per_s": training.epoch / (time.perf_counter() - start)}


def fragment_ratio(reps: int, seconds: float) -> dict:
    from ui.resources import load_resources

    resources = load_resources()
    rates = {False: [], True: []}
    for rep in range(reps):
        for open_walk in (False, True) if rep % 2 else (True, False):
            rates[open_walk].append(fragment_loop(resources, seconds, open_walk)["epochs_per_s"])
    ratios = np.array(rates[True]) / np.array(rates[False])
    return {"epochs_per_s": {"without": float(np.median(rates[False])), "with": float(np.median(rates[True]))},
            "ratio": float(np.median(ratios)), "iqr": [float(q) for q in np.percentile(ratios, [25, 75])]}


def run(reps: int = 5, seconds: float = 3.0, warmup: int = 1) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        scripts = {NAMES[0]: (without_section(Path(folder)), False), NAMES[1]: (APP, True)}
        rerun_ms = rerun_cost(scripts[NAMES[0]][0])
        measured = {name: [] for name in NAMES}
        for rep in range(warmup + reps):
            for name in NAMES[rep % 2:] + NAMES[:rep % 2]:
                script, open_walk = scripts[name]
                m = play(script, seconds, open_walk)
                if rep >= warmup:
                    measured[name].append(m)
    results = {"seconds": seconds, "reps": reps, "measured": measured, "rerun_ms": rerun_ms}
    for key in ("epochs_per_s", "epochs_per_cpu_s"):
        ratios = [w[key] / o[key] for w, o in zip(measured[NAMES[1]], measured[NAMES[0]])]
        results[key] = {n: float(np.median([m[key] for m in measured[n]])) for n in NAMES}
        results[key + "_ratio"] = float(np.median(ratios))
        results[key + "_iqr"] = [float(q) for q in np.percentile(ratios, [25, 75])]
    results["paused_rerun_ms"] = {n: float(np.median([m["paused_rerun_ms"] for m in measured[n]])) for n in NAMES}
    results["fragment_loop"] = fragment_ratio(reps, seconds)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.backprop", description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args(argv)
    results = run(args.reps, args.seconds)
    for name in NAMES:
        print(f"{name:28} {results['epochs_per_s'][name]:6,.0f} epochs/s (wall), "
              f"{results['epochs_per_cpu_s'][name]:6,.0f} per CPU second; "
              f"a paused full rerun {results['paused_rerun_ms'][name]:4.0f} ms")
    loop = results["fragment_loop"]
    print(f"the fragment loop (what plays in the browser): {loop['epochs_per_s']['without']:,.0f} epochs/s without, "
          f"{loop['epochs_per_s']['with']:,.0f} with a walk open: {loop['ratio']:.3f}x "
          f"[{loop['iqr'][0]:.2f}-{loop['iqr'][1]:.2f}]")
    extra = results["rerun_ms"][NAMES[1]] - results["rerun_ms"][NAMES[0]]
    print(f"a full rerun, paused, alternating: {results['rerun_ms'][NAMES[0]]:.0f} ms without the section, "
          f"{results['rerun_ms'][NAMES[1]]:.0f} ms with a walk open: the section adds {extra:.1f} ms")
    for key, what in (("epochs_per_s", "wall clock"), ("epochs_per_cpu_s", "CPU time")):
        ratio, (low, high) = results[key + "_ratio"], results[key + "_iqr"]
        print(f"with / without, {what}: {ratio:.3f}x [{low:.2f}-{high:.2f}], median of {args.reps} pairs "
              f"(>= {TARGET}: {'met' if ratio >= TARGET else 'MISSED'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
