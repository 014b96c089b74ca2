"""Section `load`: many visitors training at once, in threads of one process as Streamlit runs them.

Each visitor is a thread with its own Trainer (the fresh initialization, seed 1, SGD at lr 0.0075, float32
as the page trains) that trains in chunks of the page's tick (TICK_SECONDS) until the window closes. Three
contenders, for every visitor count:

* no scheduler: every thread calls `Trainer.run` directly, BLAS on all cores in every chunk (the problem);
* one chunk at a time: `ui.scheduler.Scheduler` with a single slot, so each chunk has all the cores;
* scheduler: the Scheduler as the page uses it, one chunk per core, BLAS threads = cores // chunks.

Ratio: combined epochs/s over one visitor alone through the scheduler, timed right next to it (the
machine's other load drifts); medians over repetitions. Fairness: the fewest epochs any visitor trained
over the most (1 = equal shares). Every visitor has pressed Play before a window opens (as a class
that is already training), and each window lasts at least ROUNDS turns per visitor, so the turn cut
short by the window's end moves fairness little.
A probe thread times `Trainer.inspect()` (the forward passes a page rerun does) every PROBE_EVERY s during
each window, against the same with nothing training: page reruns never wait for a turn. Memory per session
is tracemalloc's count of what N sessions hold after training through the scheduler, divided by N, in a
pass of its own (tracemalloc slows every allocation).
"""
from __future__ import annotations

import threading
import time
import tracemalloc
from types import SimpleNamespace

import numpy as np

from model.cat import REFERENCE_LR, REFERENCE_SEED
from ui.resources import TRAIN_DTYPE
from ui.session import TICK_SECONDS, TURN_WAIT  # the page's own chunk length and wait for a turn

ROUNDS = 10  # every window lasts at least this many turns per visitor: one turn more is 10%, not more
PROBE_EVERY = 0.25  # s between probes of an interactive rerun
TARGET_RATIO, TARGET_FAIRNESS = 1.0, 0.8  # with 2 or more visitors, scheduler row
NAMES = ("no scheduler", "one chunk at a time", "scheduler")


def in_training_dtype(data) -> SimpleNamespace:
    """The data set in the dtype the page trains in, converted once and shared by every visitor."""
    return SimpleNamespace(**{k: np.asarray(getattr(data, k), dtype=TRAIN_DTYPE)
                              for k in ("x_train", "y_train", "x_test", "y_test")})


def trainer(data):
    from model.cat import cat_mlp
    from model.trainer import Trainer

    return Trainer(cat_mlp(seed=REFERENCE_SEED), data, lr=REFERENCE_LR, dtype=TRAIN_DTYPE)


def scheduler_for(name: str, cores: int):
    from ui.scheduler import Scheduler, blas_threads

    if name == NAMES[0]:
        blas_threads(cores)  # whatever an earlier window left behind: every chunk gets all the cores
        return None
    return Scheduler(cores, slots=1 if name == NAMES[1] else None, max_playing=10_000)


def visitor(key, run, scheduler, start: threading.Barrier, clock, out: dict) -> None:
    """Train `run` (a Trainer) chunk after chunk until `clock.deadline`, as a playing page does."""
    start.wait()
    deadline = clock.deadline
    epochs = turns = queued = 0
    while (left := deadline - time.perf_counter()) > 0:
        if scheduler is None:
            epochs += run.run(seconds=min(TICK_SECONDS, left)).epochs
            turns += 1
            continue
        with scheduler.turn(key, wait=TURN_WAIT) as turn:
            left = deadline - time.perf_counter()
            if turn and left > 0:
                chunk = run.run(seconds=min(TICK_SECONDS, left))
                turn.trained(chunk.epochs, chunk.seconds)  # as the page's ticks do: the thread count is measured
                epochs += chunk.epochs
                turns += 1
            queued += not turn
    out[key] = {"epochs": epochs, "turns": turns, "queued": queued, "end": time.perf_counter()}


def probe(run, stop: threading.Event, out: list) -> None:
    """Time an interactive rerun's forward passes every PROBE_EVERY s until `stop`."""
    while not stop.wait(PROBE_EVERY):
        t0 = time.perf_counter()
        run.inspect()
        out.append(time.perf_counter() - t0)


def idle_probe_ms(prober, reps: int = 7, warmup: int = 2) -> float:
    """The probe with nothing training: its median time, in ms."""
    times = []
    for _ in range(warmup + reps):
        t0 = time.perf_counter()
        prober.inspect()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times[warmup:]))


def window(runs: list, name: str, seconds: float, cores: int, prober) -> dict:
    """All `runs` train at once for `seconds` under contender `name`; a probe times reruns meanwhile."""
    scheduler = scheduler_for(name, cores)
    if scheduler is not None:
        for key in range(len(runs)):
            scheduler.join(key)  # everyone is playing already: nobody starts with the machine to itself
    start, clock, out = threading.Barrier(len(runs) + 1), SimpleNamespace(deadline=None), {}
    probes, stop = [], threading.Event()
    threads = [threading.Thread(target=visitor, args=(i, run, scheduler, start, clock, out))
               for i, run in enumerate(runs)]
    threads.append(threading.Thread(target=probe, args=(prober, stop, probes)))
    for thread in threads:
        thread.start()
    t0 = time.perf_counter()
    clock.deadline = t0 + seconds  # read by the visitors once all of them are at the barrier
    start.wait()
    for thread in threads[:-1]:
        thread.join()
    stop.set()
    threads[-1].join()
    epochs, turns = ([out[i][what] for i in range(len(runs))] for what in ("epochs", "turns"))
    elapsed = max(out[i]["end"] for i in range(len(runs))) - t0
    return {"epochs_per_s": sum(epochs) / elapsed, "fairness": min(epochs) / max(max(epochs), 1),
            "epochs": epochs, "turns": turns, "seconds": elapsed, "queued": sum(out[i]["queued"] for i in out),
            "probe_ms": 1e3 * float(np.median(probes)) if probes else None}


def memory_per_session(data, visitors: int, cores: int) -> dict:
    """MB that each of `visitors` sessions holds after two turns each through the scheduler, and at peak."""
    from ui.scheduler import Scheduler

    scheduler = Scheduler(cores, max_playing=10_000)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        runs = [trainer(data) for _ in range(visitors)]

        def two_turns(key):
            for _ in range(2):
                with scheduler.turn(key):
                    runs[key].run(epochs=11)  # past a history row (every 10 epochs) and its kept weights

        threads = [threading.Thread(target=two_turns, args=(i,)) for i in range(visitors)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return {"held_mb": (held - base) / visitors / 2**20, "peak_mb": (peak - base) / visitors / 2**20}


def rotations(runs: dict, prober, reps: int, seconds: float, cores: int) -> dict:
    """{(visitors, contender): [window, ...]}, each window with the rate of one visitor alone (through the
    scheduler) measured right before or after it, in the same group: the baseline of its ratio."""
    measured = {(n, name): [] for n in runs for name in NAMES}
    counts = sorted(runs)
    for rep in range(reps):
        for n in counts[rep % len(counts):] + counts[:rep % len(counts)]:
            names = NAMES if n == 1 else ("alone", *NAMES)  # with one visitor, the scheduler row is the baseline
            names = names[rep % len(names):] + names[:rep % len(names)]  # rotate: nobody always runs first
            group = {}
            for name in names:
                alone = name == "alone"
                visitors = 1 if alone else n
                length = max(seconds, ROUNDS * visitors * TICK_SECONDS / cores)
                group[name] = window(runs[visitors], NAMES[2] if alone else name, length, cores, prober)
            base = group.pop("alone", group.get(NAMES[2]))["epochs_per_s"]
            for name, m in group.items():
                measured[n, name].append(dict(m, baseline=base))
    return measured


def run(data, visitors=(1, 2, 4, 8), reps: int = 3, seconds: float = 3.0) -> dict:
    """Every contender at every visitor count, `reps` rotations; ratios against 1 visitor, scheduled."""
    from ui.scheduler import available_cores

    cores, data = available_cores(), in_training_dtype(data)
    runs = {n: [trainer(data) for _ in range(n)] for n in sorted(set(visitors) | {1})}
    for trainers in runs.values():
        for t in trainers:
            t.run(epochs=2)  # warm: BLAS buffers, lazy imports
    prober = trainer(data)
    results = {"cores": cores, "reps": reps, "seconds": seconds, "visitors": sorted(runs),
               "idle_probe_ms": idle_probe_ms(prober), "runs": {}, "memory": {}}
    for (n, name), windows in rotations(runs, prober, reps, seconds, cores).items():
        ratios = np.array([m["epochs_per_s"] / m["baseline"] for m in windows])
        probes = [m["probe_ms"] for m in windows if m["probe_ms"] is not None]
        results["runs"].setdefault(name, {})[str(n)] = {
            "epochs_per_s": float(np.median([m["epochs_per_s"] for m in windows])),
            "ratio": float(np.median(ratios)), "ratio_iqr": [float(q) for q in np.percentile(ratios, [25, 75])],
            "fairness": float(np.median([m["fairness"] for m in windows])),
            "turn_fairness": float(np.median([min(m["turns"]) / max(max(m["turns"]), 1) for m in windows])),
            "probe_ms": float(np.median(probes)) if probes else None, "measurements": windows}
    for n in runs:
        results["memory"][str(n)] = memory_per_session(data, n, cores)
    return results


def rows(results: dict) -> list[dict]:
    out = []
    for n in results["visitors"]:
        mb = results["memory"][str(n)]["held_mb"]
        for name in NAMES:
            r = results["runs"][name][str(n)]
            row = {"section": "load", "dtype": "float32", "name": f"{n} visitor{'s' * (n > 1)}, {name}",
                   "value": f"{r['epochs_per_s']:,.0f} epochs/s, fairness {r['fairness']:.2f}",
                   "ratio": r["ratio"], "iqr": r["ratio_iqr"]}
            if name == NAMES[2]:
                row["value"] += f", {mb:.1f} MB/session"
                if n > 1:
                    row.update(target=TARGET_RATIO, target_kind="min_ratio")
            out.append(row)
        if n > 1:
            out.append({"section": "load", "dtype": "float32", "name": f"{n} visitors, scheduler: fairness",
                        "value": "min/max epochs", "ratio": results["runs"][NAMES[2]][str(n)]["fairness"],
                        "target": TARGET_FAIRNESS, "target_kind": "min_ratio"})
    return out


def notes(results: dict) -> list[str]:
    """What the ratios mean, and the README's table (markdown)."""
    runs = results["runs"]
    lines = [f"load: {results['cores']} cores; visitors train {TICK_SECONDS:g} s chunks for at least "
             f"{results['seconds']:g} s (and {ROUNDS} turns each); ratio = combined epochs/s over 1 visitor through "
             f"the scheduler timed next to it, median of {results['reps']}. Fairness = fewest epochs / most (of "
             f"turns, in brackets); page rerun = median time of Trainer.inspect() meanwhile "
             f"({results['idle_probe_ms']:.0f} ms with nothing training).",
             "", "| visitors | no scheduler | one chunk at a time | scheduler | vs 1 visitor | fairness (turns) "
             "| MB/session | page rerun |", "|---|---|---|---|---|---|---|---|"]
    for n in results["visitors"]:
        cells = [f"{runs[name][str(n)]['epochs_per_s']:,.0f}" for name in NAMES]
        ours = runs[NAMES[2]][str(n)]
        probe = "n/a" if ours["probe_ms"] is None else f"{ours['probe_ms']:.0f} ms"
        fairness = f"{ours['fairness']:.2f} ({ours['turn_fairness']:.2f})"
        lines.append(f"| {n} | {' | '.join(cells)} | {ours['ratio']:.2f}x | {fairness} | "
                     f"{results['memory'][str(n)]['held_mb']:.1f} | {probe} |")
    return lines
