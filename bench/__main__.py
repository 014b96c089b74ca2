"""python -m bench [--quick] [step] [train] [predict] [app] [insight] [load]: time the engine against hand-written
NumPy, the page and the server.

Prints one table (median time, and the median of paired ratios against the baseline measured in the
same run) and writes every number, raw times included, to bench/results/latest.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from bench import app, insight, load, predict, step, train
from bench.timing import OtherLoad, environment, steady_heap

SECTIONS = {"step": step, "train": train, "predict": predict, "app": app, "insight": insight, "load": load}
RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"

# Repetitions per section: (full, --quick). Keyword arguments of each section's run().
SETTINGS = {
    "step": ({"reps": 300, "warmup": 10, "check_steps": 20, "processes": 5},
             {"reps": 10, "warmup": 2, "check_steps": 5, "processes": 1}),
    "train": ({"epochs": 2500, "reps": 3}, {"epochs": 100, "reps": 1}),
    "predict": ({"reps": 200, "photo_reps": 15}, {"reps": 20, "photo_reps": 3}),
    "app": ({"reps": 5, "seconds": 3.0, "warmup": 1}, {"reps": 2, "seconds": 3.0, "warmup": 0}),
    "insight": ({"reps": 5, "seconds": 3.0, "warmup": 1}, {"reps": 2, "seconds": 2.0, "warmup": 0}),
    "load": ({"reps": 3, "seconds": 3.0, "visitors": (1, 2, 4, 8)}, {"reps": 1, "seconds": 1.0, "visitors": (1, 2, 4)}),
}


def fmt_ratio(row) -> str:
    if row.get("ratio") is None:
        return ""
    text = f"{row['ratio']:.3f}x"
    if row.get("iqr"):
        text += f" [{row['iqr'][0]:.2f}-{row['iqr'][1]:.2f}]"
    return text


def fmt_time(row) -> str:
    ms = row.get("median_ms")
    if ms is None:
        return row.get("value", "")
    return f"{ms / 1e3:.2f} s" if ms >= 1e3 else f"{ms:.3f} ms"


def verdict(row) -> str:
    target = row.get("target")
    if target is None:
        return ""
    kind = row.get("target_kind", "ratio")  # "ratio" and "ms" are ceilings, "min_ratio" a floor
    value, unit = (row["median_ms"], " ms") if kind == "ms" else (row["ratio"], "x")
    met = value >= target if kind == "min_ratio" else value <= target
    return f"{'>=' if kind == 'min_ratio' else '<='} {target:g}{unit}: {'met' if met else 'MISSED'}"


def table(rows: list[dict]) -> str:
    """A plain-text table: section, dtype, contender, median, ratio [IQR of the paired ratios], target."""
    header = ("section", "dtype", "contender", "median", "ratio vs baseline [IQR]", "faults", "target")
    lines = [(r["section"], r.get("dtype", ""), r["name"], fmt_time(r), fmt_ratio(r),
              "" if r.get("faults") is None else f"{r['faults']:.0f}", verdict(r)) for r in rows]
    widths = [max(len(str(x)) for x in column) for column in zip(header, *lines)]
    out = ["  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip() for line in [header, *lines]]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def visitor_counts(text: str) -> tuple[int, ...]:
    """'1,2,4,8' -> (1, 2, 4, 8), for --visitors."""
    try:
        counts = tuple(int(part) for part in text.split(","))
    except ValueError:
        counts = ()
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"expected whole numbers >= 1 separated by commas, got {text!r}")
    return counts


def run_sections(chosen: list[str], data, args, dtypes: tuple) -> tuple[dict, dict, list, list]:
    """Run each chosen section with its settings: (results, timings, table rows, notes)."""
    results, sections, all_rows, all_notes = {}, {}, [], []
    for name in chosen:
        module = SECTIONS[name]
        settings = dict(SETTINGS[name][args.quick])
        if args.reps is not None:
            settings["reps"] = args.reps
        if name in ("step", "train"):
            settings["dtypes"] = dtypes
        if name == "step" and args.processes is not None:
            settings["processes"] = args.processes
        if name == "load" and args.visitors:
            settings["visitors"] = args.visitors
        t0 = time.perf_counter()
        print(f"... {name}", file=sys.stderr, flush=True)
        with OtherLoad() as load:
            results[name] = module.run(data, **settings)
        sections[name] = {"seconds": time.perf_counter() - t0, "other_load": load.share, "settings": settings}
        all_rows += module.rows(results[name])
        all_notes += module.notes(results[name])
    return results, sections, all_rows, all_notes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("sections", nargs="*", metavar="SECTION", help=f"any of {', '.join(SECTIONS)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="few repetitions, 100-epoch training runs")
    parser.add_argument("--dtype", action="append", choices=["float64", "float32"],
                        help="dtypes for step and train (repeatable; default both)")
    parser.add_argument("--reps", type=int, help="override the repetitions of every section")
    parser.add_argument("--visitors", type=visitor_counts, help="visitor counts for load, e.g. 1,2,4,8")
    parser.add_argument("--processes", type=int, metavar="N",
                        help="fresh processes the step section's timings run in, one after another (default 5; "
                             "--quick: 1, in this one)")
    parser.add_argument("--json", type=Path, default=RESULTS, help=f"where to write the results ({RESULTS})")
    args = parser.parse_args(argv)
    chosen = args.sections or list(SECTIONS)
    if set(chosen) - set(SECTIONS):
        parser.error(f"unknown section(s) {sorted(set(chosen) - set(SECTIONS))}; choose from {list(SECTIONS)}")
    if args.processes is not None and args.processes < 1:
        parser.error(f"--processes must be at least 1, got {args.processes}")
    dtypes = tuple(args.dtype or ("float64", "float32"))

    heap = steady_heap()  # before any big array exists
    env = environment() | {"malloc": heap}
    print(f"micrograd-np bench{' (quick)' if args.quick else ''}: python {env['python']}, numpy {env['numpy']}, "
          f"torch {env['torch'] or 'not installed'}, {env['cpus']} cpus, load {env['loadavg_start']}")
    print(f"BLAS: {env['blas'] or 'unknown'}; env: "
          + (" ".join(f"{k}={v}" for k, v in env["openblas_env"].items()) or "no OPENBLAS_*/OMP_* set"))
    print(heap)

    from model.dataset import load_catvnoncat  # after the header, so a missing data set is reported late
    data = load_catvnoncat()

    started = time.perf_counter()
    results, sections, all_rows, all_notes = run_sections(chosen, data, args, dtypes)
    elapsed = time.perf_counter() - started

    print()
    print(table(all_rows))
    print()
    for line in all_notes:
        print(line)
    print("\nTimes are medians per call (step rows: per epoch). Ratio: median over repetitions of "
          "contender / baseline timed side by side; [IQR] of those ratios. Faults: minor page faults per call\n"
          "(memory fetched fresh from the OS, ~1.5 us each here). No target is asserted.")
    busy = {name: s["other_load"] for name, s in sections.items() if s["other_load"] is not None}
    if busy:
        print("Other processes used " + ", ".join(f"{100 * v:.0f}% of the CPUs during {k}" for k, v in busy.items())
              + (" -- a busy machine: rerun for steadier numbers." if max(busy.values()) > 0.1 else "."))
    print(f"Total {elapsed:.0f} s.")

    env["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"argv": sys.argv[1:] if argv is None else list(argv), "quick": args.quick,
                                     "environment": env, "seconds": elapsed, "sections": sections, "rows": all_rows,
                                     "notes": all_notes, "results": results}, indent=1))
    print(f"Wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
