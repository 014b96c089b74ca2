"""Section `step`: one full-batch training step, engine (four ways) and PyTorch against hand-written NumPy.

The engine's primitive-op step runs three times, once for each way users reset a parameter's gradient
before a step: `p.grad = np.zeros_like(p.data)` (the row "engine primitives"), `p.grad[...] = 0`, and
`p.grad = None` (reads as zeros, so backward assigns instead of adding).

Every contender starts from the reference init (`cat_mlp(seed=1)`) and trains its own copy of the
weights with SGD at lr 0.0075 on the 209 training images, so all of them do the same arithmetic on
arrays of the same sizes. Before timing, a separate set of copies runs N identical steps and we check
that every contender ends with the hand-written weights: a fast step that computes something else
would be no result at all. `python -m bench` then times them in five fresh processes, one after another,
and reports each row's median over the five (`--processes N`; `--quick` times them in its own process).
"""
from __future__ import annotations

import json
import sys

import numpy as np

from bench import handwritten as hw
from bench.timing import in_fresh_process, side_by_side, steady_heap
from engine import Value
from model.cat import REFERENCE_LR, cat_mlp
from model.trainer import Trainer

LR = REFERENCE_LR  # the course's, as every contender trains
CHUNK = 10  # Trainer records history every 10 epochs (eval_every), so we time it 10 epochs at a time
RTOL = {"float64": 1e-10, "float32": 1e-4}


# ---------------------------------------------------------------- the contenders

def zeros_like(p: Value) -> None:
    p.grad = np.zeros_like(p.data)


def zero_in_place(p: Value) -> None:
    p.grad[...] = 0


def set_to_none(p: Value) -> None:
    p.grad = None


RESETS = {"engine primitives": zeros_like, "engine primitives, grad[...] = 0": zero_in_place,
          "engine primitives, grad = None": set_to_none}
TARGETS = {"engine primitives": 1.10, "engine primitives, grad[...] = 0": 1.10,
           "engine primitives, grad = None": 1.05, "Trainer.run(10)": 1.05}


def engine_step(params, x: Value, Y: np.ndarray, lr: float, reset=zeros_like) -> float:
    """The training step written with the engine's primitive ops only: what a user of `Value` writes.

    `reset(p)` clears each parameter's gradient before backward (see `RESETS`).
    """
    a = x
    for i, (W, b) in enumerate(params):
        z = a @ W.T + b
        a = z.relu() if i < len(params) - 1 else z.sigmoid()
    cost = -(Y * a.log() + (1 - Y) * (1 - a).log()).mean()
    for W, b in params:
        reset(W)
        reset(b)
    cost.backward()
    for W, b in params:
        W.data -= lr * W.grad
        b.data -= lr * b.grad
    return cost.item()


def torch_contender(state, X, Y, lr):
    """The same step in PyTorch (CPU, its default threads), written idiomatically; None without torch."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return None
    params = [tuple(torch.tensor(a, requires_grad=True) for a in Wb) for Wb in hw.params_from_state(state, X.dtype)]
    x, y = torch.from_numpy(np.array(X)), torch.from_numpy(np.array(Y))  # writable copies

    def step():
        a = x
        for i, (W, b) in enumerate(params):
            z = F.linear(a, W, b)
            a = z.relu() if i < len(params) - 1 else z.sigmoid()
        cost = F.binary_cross_entropy(a, y)
        for W, b in params:
            W.grad = b.grad = None
        cost.backward()
        with torch.no_grad():
            for W, b in params:
                W -= lr * W.grad
                b -= lr * b.grad
        return cost.item()

    return step, lambda: [(W.detach().numpy(), b.detach().numpy()) for W, b in params]


def contenders(data, dtype, eval_every: int = CHUNK) -> tuple[dict, Trainer]:
    """({name: (step, weights)}, the Trainer): each contender has its own copy of the reference init.

    `step()` runs one training step; `weights()` returns [(W, b), ...] as arrays.
    """
    trainer = Trainer(cat_mlp(seed=1), data, lr=LR, dtype=dtype, eval_every=eval_every)
    # Every contender reads the Trainer's own copy of the images: with a copy each, whichever ran last
    # would leave its 10-20 MB in the cache and the next contender would find its own images cold.
    X, Y = trainer.x_train, trainer.y_train
    state = cat_mlp(seed=1).state_dict()

    hand = hw.params_from_state(state, dtype)
    x = Value(X, requires_grad=False)

    def weights_of(model):
        return lambda: [(layer.weight.data, layer.bias.data) for layer in model.linears()]

    def engine_contender(reset):
        params = [(Value(W), Value(b)) for W, b in hw.params_from_state(state, dtype)]
        return lambda: engine_step(params, x, Y, LR, reset), lambda: [(W.data, b.data) for W, b in params]

    out = {"hand-written NumPy": (lambda: hw.step(hand, X, Y, LR), lambda: hand)}
    out |= {name: engine_contender(reset) for name, reset in RESETS.items()}
    out["Trainer"] = (lambda: trainer.apply(trainer.forward()), weights_of(trainer.model))
    torch_step = torch_contender(state, X, Y, LR)
    if torch_step is not None:
        out["PyTorch"] = torch_step
    return out, trainer


# ---------------------------------------------------------------- the checks and the timing

def scaled_diff(a: np.ndarray, ref: np.ndarray) -> float:
    """max |a - ref| / max |ref|: the error relative to the array's own scale.

    Element-wise relative error is meaningless for weights that happen to sit near zero (a float32
    weight of 4e-8 differs by 90% after one rounding of its 0.01-sized neighbours).
    """
    return float(np.max(np.abs(a - ref)) / max(np.max(np.abs(ref)), np.finfo(ref.dtype).tiny))


def weight_check(data, dtype, steps: int) -> dict:
    """Run `steps` identical steps with every contender from the same init; compare with hand-written."""
    rtol = RTOL[np.dtype(dtype).name]
    runs, trainer = contenders(data, dtype)
    for name, (step, _) in runs.items():
        if name == "Trainer":
            trainer.run(epochs=steps)  # what training really calls, history recording included
        else:
            for _ in range(steps):
                step()
    reference = runs["hand-written NumPy"][1]()
    check = {}
    for name, (_, weights) in list(runs.items())[1:]:
        ours = weights()
        diff = max(scaled_diff(a, r) for pair, ref in zip(ours, reference) for a, r in zip(pair, ref))
        # allclose with atol = rtol * the array's largest entry, so near-zero entries are judged at its scale
        ok = all(np.allclose(a, r, rtol=rtol, atol=rtol * np.max(np.abs(r)))
                 for pair, ref in zip(ours, reference) for a, r in zip(pair, ref))
        check[name] = {"steps": steps, "rtol": rtol, "max_scaled_diff": diff, "ok": bool(ok)}
    return check


def run(data, dtypes=("float64", "float32"), reps: int = 100, warmup: int = 5, check_steps: int = 20,
        processes: int = 1) -> dict:
    """Per dtype: the weight check, then the timings, here or as the median of `processes` fresh processes.

    Where a process's arrays land moves all its float32 ratios together by up to 6 points (docs/performance.md),
    so one process's medians are one draw of that placement; several fresh ones, one after another, sample it.
    """
    results = {}
    for dtype_name in dtypes:
        dtype = np.dtype(dtype_name).type
        check = weight_check(data, dtype, check_steps)
        if processes == 1:
            timed = timings(data, dtype, reps, warmup)
        else:
            timed = median_over_processes([spawn(dtype_name, reps, warmup) for _ in range(processes)])
        results[dtype_name] = timed | {"weight_check": check, "processes": processes}
    return results


def timings(data, dtype, reps: int, warmup: int) -> dict:
    """One process's timings: {"one_step", "pytorch", "in_a_row", "ten_epochs"}."""
    # One step each. The Trainer here never records history (eval_every huge), so this row is its
    # bare step (`apply(forward())`, what `run()` repeats); the recording cost is in the 10-epoch comparison below.
    runs, _ = contenders(data, dtype, eval_every=10**9)
    steps = {name + (" step" if name == "Trainer" else ""): step for name, (step, _) in runs.items()}
    torch_step = steps.pop("PyTorch", None)
    one = side_by_side(steps, reps=reps, warmup=warmup)

    # PyTorch against hand-written in blocks of 10 steps: after each call, PyTorch's OpenMP threads and
    # OpenBLAS's threads keep spinning for a while, and on 2 cores one library's spinning slows the
    # other's next call (by up to 2x when they alternate call by call). Blocks pay that once per 10.
    torch = None if torch_step is None else side_by_side(
        {"hand-written NumPy (PyTorch pairing)": steps["hand-written NumPy"], "PyTorch": torch_step},
        reps=max(3, reps // 5), warmup=max(1, warmup // 2), number=CHUNK)
    # The same steps ten in a row each, as a training loop runs them: every step follows itself, where in the
    # one-step rounds each follows whichever contender the round's shuffle put before it.
    in_a_row = side_by_side({f"{name}, 10 in a row": steps[name] for name in ["hand-written NumPy", *RESETS]},
                            reps=max(3, reps // 5), warmup=max(1, warmup // 2), number=CHUNK)
    return {"one_step": one, "pytorch": torch, "in_a_row": in_a_row,
            "ten_epochs": ten_epochs(data, dtype, reps, warmup)}


GROUPS = ("one_step", "pytorch", "in_a_row", "ten_epochs")


def spawn(dtype_name: str, reps: int, warmup: int) -> dict:
    """`timings` in a fresh interpreter: its own heap, so its own placement of the arrays."""
    return in_fresh_process("bench.step", dtype_name, reps, warmup)


def median_over_processes(runs: list[dict]) -> dict:
    """Each contender's median time and ratio over the processes; the IQR is now of the processes' ratios."""
    out = {}
    for group in GROUPS:
        if runs[0][group] is None:
            out[group] = None
            continue
        out[group] = {}
        for name in runs[0][group]:
            each = [run[group][name] for run in runs]
            ratios = [r["ratio"] for r in each]
            out[group][name] = {
                "median_ms": float(np.median([r["median_ms"] for r in each])),
                "ratio": float(np.median(ratios)),
                "ratio_iqr": [float(q) for q in np.percentile(ratios, [25, 75])],
                "process_ratios": ratios,
                "page_faults": float(np.median([r["page_faults"] for r in each])),
            }
    return out


def ten_epochs(data, dtype, reps: int, warmup: int) -> dict:
    """Ten epochs each, as Trainer.run(epochs=10) does them: history recording every 10th epoch (train
    accuracy, a no-graph pass over the test set) and the end-of-chunk evaluation included. Per epoch."""
    runs, trainer = contenders(data, dtype)
    hand = runs["hand-written NumPy"][0]

    def ten_hand_steps():
        for _ in range(CHUNK):
            hand()

    chunk = side_by_side({"hand-written NumPy, 10 steps": ten_hand_steps,
                          "Trainer.run(10)": lambda: trainer.run(epochs=CHUNK)},
                         reps=max(3, reps // CHUNK), warmup=max(1, warmup // 2))
    for r in chunk.values():  # report per epoch, like the single steps
        r["median_ms"] /= CHUNK
        r["times_ms"] = [t / CHUNK for t in r["times_ms"]]
        r["page_faults"] /= CHUNK
    return chunk


def rows(results: dict) -> list[dict]:
    """Table rows: one per contender and dtype (times per epoch, ratios against hand-written)."""
    return [{"section": "step", "dtype": dtype, "name": name, "median_ms": t["median_ms"], "ratio": t["ratio"],
             "iqr": t["ratio_iqr"], "faults": t["page_faults"], "target": TARGETS.get(name)}
            for dtype, r in results.items() for group in GROUPS for name, t in (r[group] or {}).items()]


def notes(results: dict) -> list[str]:
    """How the rows were made (resets, processes), then the weight check, one line per contender and dtype."""
    lines = ["step: 'engine primitives' resets each gradient with p.grad = np.zeros_like(p.data) before "
             "backward; the two rows after it with p.grad[...] = 0 and p.grad = None",
             "step: '10 in a row' rows time ten consecutive steps of one contender (a training loop), per step; "
             "the targets are set on the single steps, which alternate contenders step by step"]
    processes = {r["processes"] for r in results.values()}
    if processes != {1}:
        lines.append(f"step: every row is the median over {'/'.join(map(str, sorted(processes)))} fresh processes "
                     "run one after another, each the median of its own paired ratios; [IQR] of the processes' "
                     "ratios (each process's are in latest.json)")
    return lines + [f"step {dtype}: {name} weights {'match' if c['ok'] else 'DIFFER FROM'} hand-written after "
            f"{c['steps']} steps (max |diff| / max |w| {c['max_scaled_diff']:.1e}, rtol {c['rtol']:g})"
            for dtype, r in results.items() for name, c in r["weight_check"].items()]


if __name__ == "__main__":  # one process of `spawn`: python -m bench.step DTYPE REPS WARMUP
    from model.dataset import load_catvnoncat

    steady_heap()  # before any big array exists, as in `python -m bench`
    dtype_name, reps, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    print(json.dumps(timings(load_catvnoncat(), np.dtype(dtype_name).type, reps, warmup)))
