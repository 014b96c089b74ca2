"""Side-by-side timing: contenders take turns in one process, in a fresh order each round, and each is divided by the
baseline of the same repetition; we quote medians of those paired ratios. Nothing here asserts on a time.
"""
from __future__ import annotations

import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import time

import numpy as np

from model.paths import REPO_ROOT

try:
    import resource
except ImportError:  # Windows
    resource = None


def side_by_side(contenders: dict, reps: int, warmup: int = 3, number: int = 1) -> dict:
    """Time `contenders` ({name: zero-argument callable}; the first one is the baseline).

    Each callable is called `number` times per timing. Returns {name: {"median_ms", "ratio",
    "ratio_iqr": [q1, q3], "times_ms": [...], "page_faults"}}, all per call; ratio = median of paired
    ratios. Page faults are counted because contenders share one heap: whether glibc hands a freed 2 MB
    array back to the OS (to be faulted in again next call, ~1.5 us a page) depends on what the others
    keep alive, so a fault-heavy row is paying for the allocator, not for its arithmetic.
    """
    names = list(contenders)
    times = {name: [] for name in names}
    faults = dict.fromkeys(names, 0)
    shuffle = random.Random(0).shuffle  # seeded: the same orders every run
    for rep in range(warmup + reps):
        # A fresh order each round, not a rotation: a rotation keeps every contender behind the same neighbour,
        # and what that one leaves in the caches and the heap would shift this one's time in every round.
        order = names.copy()
        shuffle(order)
        for name in order:
            fn = contenders[name]
            faults_before = _minor_faults()
            start = time.perf_counter()
            for _ in range(number):
                fn()
            elapsed = time.perf_counter() - start
            if rep >= warmup:
                times[name].append(elapsed / number)
                faults[name] += _minor_faults() - faults_before
    base = np.array(times[names[0]])
    results = {}
    for name in names:
        t = np.array(times[name])
        ratios = t / base
        results[name] = {
            "median_ms": float(np.median(t) * 1e3),
            "ratio": float(np.median(ratios)),
            "ratio_iqr": [float(q) for q in np.percentile(ratios, [25, 75])],
            "times_ms": [float(x * 1e3) for x in t],
            "page_faults": faults[name] / (reps * number),  # minor faults per call: fresh memory from the OS
        }
    return results


def in_fresh_process(module: str, *args) -> dict:
    """`python -m module args...` in a fresh interpreter (its own heap) from the repo root: its JSON on stdout."""
    cmd = [sys.executable, "-m", module, *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return json.loads(done.stdout)


# glibc's mallopt parameters (malloc.h), and the values steady_heap() pins them to
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_TRIM_BYTES, _MMAP_BYTES = 256 << 20, 32 << 20


def steady_heap() -> str:
    """Pin glibc's malloc thresholds for the rest of the process; returns what was done, for the header.

    The contenders share one heap, and by default glibc moves its thresholds as arrays are freed and hands
    the heap's free top back to the OS, so whether a contender's 2 MB arrays are faulted in fresh (~1.5 us
    a 4 KB page) depends on what the contenders before it freed: up to ~930 faults a float64 step, on the
    hand-written baseline as often as on the engine. Pinned (arrays up to 32 MiB come from the heap, which
    is never trimmed below 256 MiB), nobody faults and the ratios compare arithmetic, not the allocator.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return "malloc: the platform's default (glibc's thresholds can be pinned only on glibc)"
    import ctypes

    libc = ctypes.CDLL(None)
    pinned = libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_BYTES) and libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_BYTES)
    if not pinned:
        return "malloc: glibc refused to pin its thresholds (the default, moving ones apply)"
    return f"malloc: glibc's thresholds pinned (arrays up to {_MMAP_BYTES >> 20} MiB from the heap, " \
           f"trimmed above {_TRIM_BYTES >> 20} MiB): no contender pays page faults for another's frees"


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt if resource else 0


def median_ms(fn, reps: int, warmup: int = 2) -> dict:
    """Median wall time of `fn()` alone, in ms (for absolute budgets with no baseline)."""
    for _ in range(warmup):
        fn()
    t = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        t.append((time.perf_counter() - start) * 1e3)
    return {"median_ms": statistics.median(t), "times_ms": t}


class OtherLoad:
    """How busy the rest of the machine was while a block ran: the CPU time every other process used,
    as a share of all cores (0.25 = half a core on 2 cores). Linux only (/proc/stat); None elsewhere.

    Ratios survive a busy machine far better than absolute times, but not completely, so we say so.
    """

    def __enter__(self):
        self.start = (_busy_seconds(), _own_seconds(), time.perf_counter())
        return self

    def __exit__(self, *exc):
        end = (_busy_seconds(), _own_seconds(), time.perf_counter())
        busy, own, wall = (b - a for a, b in zip(self.start, end))
        self.share = None if math.isnan(busy) else max(0.0, (busy - own) / (wall * (os.cpu_count() or 1)))


def _busy_seconds() -> float:
    try:
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return float("nan")
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    """CPU seconds of this process and of the children it has waited for (the training subprocesses)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def environment() -> dict:
    """What the numbers depend on: versions, BLAS, the OPENBLAS_* settings, cores and load."""
    blas = ""
    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"].get("openblas configuration") or config[
            "Build Dependencies"]["blas"].get("name", "")
    except Exception:  # older NumPy: no dict mode; the version alone still helps
        pass
    env = {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "blas": blas,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "openblas_env": {k: v for k, v in sorted(os.environ.items()) if k.startswith(("OPENBLAS_", "OMP_"))},
        "loadavg_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    try:
        import torch  # optional: only to say which version was compared
        env["torch"] = torch.__version__
        env["torch_threads"] = torch.get_num_threads()
    except ImportError:
        env["torch"] = None
    return env
