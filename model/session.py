"""One visitor's training run, as the app drives it: play, pause, step, reset, and what the page shows.

Streamlit-free, so every rule here is unit-tested; app.py only lays out widgets and calls into this.

* `load_resources()` loads the pretrained model and the data set once (the app caches the result for
  every session). Nothing in it is ever modified: each session trains a clone of the model.
* `TrainingSession` owns one session's model and `Trainer`, and the play state. While playing, the
  page runs a fragment every `TICK_INTERVAL`; each run iterates `ticks()`, which trains about
  `TICK_SECONDS` per tick for about `TICK_BUDGET` seconds, and the page redraws after every tick.
  `view()` returns everything the page displays, already formatted.
* A run that breaks down stops with the Trainer's warning, its weights rolled back to the last good
  ones: a non-finite loss, a tenfold jump of the loss, or a dead network that gives every image the same
  output (SGD at lr 1 does this in one step).
"""
from __future__ import annotations

import collections
import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from engine import no_grad
from model.dataset import DatasetError, load_catvnoncat
from model.losses import bce_with_logits
from model.nn import Linear, Sequential, Sigmoid, cat_mlp
from model.trainer import Record, Trainer
from model.weights import WeightsError, architecture, build, load_weights, weights_bytes

# --- settings the page offers ---------------------------------------------------------------------

DEFAULT_LR = 0.0075
# Log-spaced choices for the learning-rate slider: 1, 1.5, 2, 3, 5, 7.5 per decade, 1e-4 ... 1.
LR_CHOICES = tuple(
    float(f"{m}e{e}") for e in range(-4, 0) for m in (1, 1.5, 2, 3, 5, 7.5)
) + (1.0,)
DEFAULT_EPOCHS = 2500
MIN_EPOCHS, MAX_EPOCHS = 10, 20_000
STEP_EPOCHS = 10  # what one press of Step trains
OPTIMIZERS = {"sgd": "SGD", "adam": "Adam"}
PRETRAINED, FRESH = "pretrained", "fresh"
STARTS = {PRETRAINED: "Pretrained", FRESH: "Fresh init"}
SEED = 1  # the reference initialization

TICK_SECONDS = 0.2  # training time per tick while playing; the page redraws after each tick
TICK_BUDGET = 1.0  # ticks run back to back within one fragment run for about this long
TICK_INTERVAL = 0.1  # how often the page asks for the next run; requests arriving meanwhile are merged
TRAIN_DTYPE = np.float32  # twice as fast as float64 here, with the same accuracies (see design.md)
EVAL_EVERY = 10  # the Trainer records a history row every this many epochs
CHART_POINTS = 300  # the loss chart never draws more points than this
SPEED_WINDOW = 3.0  # seconds of ticks that epochs/s averages over

INPUT_SIZE = 64 * 64 * 3
CLASSES = ("non-cat", "cat")
DATA_ENV, WEIGHTS_ENV = "CATVNONCAT_DATA_DIR", "MICROGRAD_WEIGHTS"
REPO_ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)


def format_lr(lr: float) -> str:
    """0.0075 -> '0.0075', 1.0 -> '1', 0.00015 -> '0.00015' (never scientific notation)."""
    text = f"{lr:.6f}".rstrip("0").rstrip(".")
    return text or "0"


# --- loading, once per process ---------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Resources:
    """The shared, read-only things every session starts from. Either half may be missing."""

    model: Sequential | None  # the pretrained model; never trained, never converted
    meta: dict  # its metadata (epochs, lr, accuracies, ...); {} without a model
    weights_error: str | None  # why there is no pretrained model
    data: object | None  # CatVNonCat, or None
    data_error: str | None  # why there is no data set
    train_data: object | None = None  # the data's x/y arrays in TRAIN_DTYPE, shared by every Trainer
    weights_path: str = ""
    data_dir: str = ""

    @property
    def classes(self) -> tuple[str, str]:
        return tuple(self.data.classes) if self.data is not None else CLASSES

    @property
    def base_epochs(self) -> int:
        epochs = self.meta.get("epochs", 0)
        return epochs if isinstance(epochs, int) and epochs >= 0 else 0


def default_paths(environ=os.environ) -> tuple[Path, Path]:
    """(data dir, weights file): the repo's data/ and weights/cat_mlp.npz, unless the env vars
    CATVNONCAT_DATA_DIR / MICROGRAD_WEIGHTS say otherwise (the tests simulate missing files this way)."""
    data_dir = environ.get(DATA_ENV) or REPO_ROOT / "data"
    weights = environ.get(WEIGHTS_ENV) or REPO_ROOT / "weights" / "cat_mlp.npz"
    return Path(data_dir), Path(weights)


def files_stamp(*paths) -> tuple:
    """(mtime, size) of each path and of the files in each directory, so a cache keyed on it reloads
    after `make data` or `make weights` instead of remembering that the files were missing."""
    stamp = []
    for path in map(Path, paths):
        try:
            entries = sorted(path.iterdir()) if path.is_dir() else [path]
        except OSError:
            entries = [path]
        for entry in entries:
            try:
                st = entry.stat()
                stamp.append((str(entry), st.st_mtime_ns, st.st_size))
            except OSError:
                stamp.append((str(entry), None, None))
    return tuple(stamp)


def load_resources(data_dir=None, weights_path=None) -> Resources:
    """Load the pretrained model and the data set; a problem with either becomes a message, not an error."""
    default_data, default_weights = default_paths()
    data_dir = Path(data_dir) if data_dir is not None else default_data
    weights_path = Path(weights_path) if weights_path is not None else default_weights

    model, meta, weights_error = None, {}, None
    try:
        model, meta = load_weights(weights_path)
        check_architecture(model)
    except WeightsError as e:
        model, meta, weights_error = None, {}, str(e)
    except (OSError, ValueError) as e:  # e.g. a directory where the file should be
        model, meta, weights_error = None, {}, f"{weights_path.name} cannot be read: {e}"
    except Exception as e:  # never a traceback on the page; the log has the details
        log.exception("loading %s", weights_path)
        model, meta, weights_error = None, {}, f"{weights_path.name} cannot be used ({type(e).__name__})"

    data, data_error, train_data = None, None, None
    try:
        data = load_catvnoncat(data_dir)
        train_data = SimpleNamespace(**{
            name: _frozen(np.asarray(getattr(data, name), dtype=TRAIN_DTYPE))
            for name in ("x_train", "y_train", "x_test", "y_test")
        })
    except DatasetError as e:
        data_error = str(e)
    except Exception as e:
        log.exception("loading the data set from %s", data_dir)
        data, train_data, data_error = None, None, f"the data set in {data_dir} cannot be used ({e})"
    return Resources(model, meta, weights_error, data, data_error, train_data,
                     weights_path=str(weights_path), data_dir=str(data_dir))


def check_architecture(model: Sequential) -> None:
    """Raise WeightsError unless `model` maps a 64x64x3 image to one probability."""
    linears = [layer for layer in model.layers if isinstance(layer, Linear)]
    if not linears or linears[0].n_in != INPUT_SIZE or linears[-1].n_out != 1 or not isinstance(
            model.layers[-1], Sigmoid):
        raise WeightsError(f"the weight file holds a model ({model!r}) that does not take a 64x64 RGB "
                           f"image to one probability")


def clone_model(model: Sequential, dtype=None) -> Sequential:
    """A new model with the same layers and copies of the weights, optionally in another dtype."""
    clone = build(architecture(model))
    clone.astype(model.parameters()[0].dtype if dtype is None else dtype)
    clone.load_state_dict(model.state_dict())
    return clone


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


# --- what the page shows ---------------------------------------------------------------------------


def thin(records: list, max_points: int = CHART_POINTS) -> list:
    """At most `max_points` records, evenly spread, always keeping the first and the last."""
    n = len(records)
    if n <= max_points:
        return list(records)
    if max_points < 2:
        return [records[-1]] if max_points == 1 else []
    keep = np.unique(np.linspace(0, n - 1, max_points).round().astype(int))
    return [records[i] for i in keep]


def chart_data(records: list, max_points: int = CHART_POINTS) -> dict[str, list]:
    """Columns for a line chart of train and test loss against the epoch."""
    rows = thin(records, max_points)
    return {
        "epoch": [r.epoch for r in rows],
        "train loss": [r.train_loss for r in rows],
        "test loss": [r.test_loss for r in rows],
    }


TRAIN_COLOR, TEST_COLOR = "#D9652B", "#3B6EA8"


def loss_chart(chart: dict[str, list], target: int, height: int = 300) -> tuple[dict, dict]:
    """(data, Vega-Lite spec) for the loss chart: train and test curves, a dot on the latest value of
    each, and an x axis fixed from 0 to the target so the chart does not rescale while it grows."""
    epochs = chart.get("epoch", [])
    data = {
        "epoch": list(epochs) * 2,
        "loss": list(chart.get("train loss", [])) + list(chart.get("test loss", [])),
        "set": ["train"] * len(epochs) + ["test"] * len(epochs),
    }
    x_max = max([target, *epochs]) if epochs else target
    encoding = {
        "x": {"field": "epoch", "type": "quantitative", "title": "epoch (this run)",
              "scale": {"domain": [0, max(1, x_max)], "nice": False}, "axis": {"format": ",d"}},
        "y": {"field": "loss", "type": "quantitative", "title": "loss",
              "scale": {"zero": True}},
        "color": {"field": "set", "type": "nominal", "title": None,
                  "scale": {"domain": ["train", "test"], "range": [TRAIN_COLOR, TEST_COLOR]},
                  "legend": {"orient": "top", "direction": "horizontal",
                             "labelExpr": "datum.label + ' loss'"}},
        "tooltip": [{"field": "set"}, {"field": "epoch", "format": ",d"}, {"field": "loss", "format": ".4f"}],
    }
    spec = {
        "height": height,
        "encoding": encoding,
        "layer": [
            {"mark": {"type": "line", "strokeWidth": 2.5, "interpolate": "monotone"}},
            {"transform": [{"joinaggregate": [{"op": "max", "field": "epoch", "as": "last"}]},
                           {"filter": "datum.epoch == datum.last"}],
             "mark": {"type": "point", "filled": True, "size": 70, "opacity": 1}},
        ],
    }
    return data, spec


@dataclass(frozen=True)
class Metric:
    """One number on the page, formatted: label, value, delta (None: no delta shown) and its colouring."""

    label: str
    value: str
    delta: str | None = None
    delta_color: str = "normal"  # "inverse" when lower is better, "off" for a plain grey note
    help: str | None = None


def _signed(x: float, fmt: str) -> str:
    text = format(x, fmt)
    return text if text.startswith("-") else "+" + text


def metrics(current: Record, initial: Record | None, base_epochs: int = 0, target: int | None = None
            ) -> list[Metric]:
    """Epoch (out of `target`), losses and accuracies of `current`, with deltas since the run began."""
    since = initial is not None and current.epoch != initial.epoch
    epoch_help = ("Epochs trained in this run" + (f", on top of the {base_epochs:,} of the pretrained "
                                                  "weights" if base_epochs else "") + ".")

    def loss(label, now, then, what):
        delta = _signed(now - then, ".4f") if since else None
        return Metric(label, f"{now:.4f}", delta, "inverse",
                      f"Binary cross-entropy on the {what}; the delta is the change since the run began.")

    def acc(label, now, then, what):
        delta = _signed(100 * (now - then), ".1f") + " pts" if since else None
        return Metric(label, f"{100 * now:.1f}%", delta, "normal",
                      f"Share of the {what} classified correctly (P(cat) > 0.5).")

    start = initial or current
    return [
        Metric("Epoch", f"{current.epoch:,}", f"of {target:,}" if target else None, "off", epoch_help),
        loss("Train loss", current.train_loss, start.train_loss, "209 training images"),
        loss("Test loss", current.test_loss, start.test_loss, "50 test images"),
        acc("Train accuracy", current.train_acc, start.train_acc, "209 training images"),
        acc("Test accuracy", current.test_acc, start.test_acc, "50 test images"),
    ]


@dataclass(frozen=True)
class View:
    """Everything the live training section displays, computed in one go."""

    can_train: bool
    playing: bool
    epoch: int  # epochs trained in this run
    target: int
    progress: float  # 0..1 toward the target
    status: str  # one line: what is happening
    epochs_per_second: float | None
    metrics: list[Metric]
    chart: dict[str, list]
    warning: str | None
    play_enabled: bool
    pause_enabled: bool


class SpeedMeter:
    """Epochs per second over the last few seconds of ticks (wall clock, so drawing time counts)."""

    def __init__(self, window: float = SPEED_WINDOW):
        self.window = window
        self.marks: collections.deque = collections.deque()
        self.last_chunk: float | None = None

    def reset(self) -> None:
        self.marks.clear()

    def add(self, now: float, epoch: int, chunk_epochs: int, chunk_seconds: float) -> None:
        if chunk_epochs and chunk_seconds > 0:
            self.last_chunk = chunk_epochs / chunk_seconds
        self.marks.append((now, epoch))
        while len(self.marks) > 2 and now - self.marks[1][0] >= self.window:
            self.marks.popleft()

    @property
    def rate(self) -> float | None:
        if len(self.marks) >= 2:
            (t0, e0), (t1, e1) = self.marks[0], self.marks[-1]
            if t1 > t0 and e1 >= e0:
                return (e1 - e0) / (t1 - t0)
        return self.last_chunk


# --- the training session --------------------------------------------------------------------------


class TrainingSession:
    """One browser session's model, trainer and play state.

    The page calls `play()`, `pause()`, `step()`, `reset()`, `set_lr()`, `set_target()` from widget
    callbacks, iterates `ticks()` in its training fragment and draws `view()`. `lock` serializes
    training against readers on other threads (the download button builds its file on one).
    """

    def __init__(self, resources: Resources, *, start: str = PRETRAINED, optimizer: str = "sgd",
                 lr: float = DEFAULT_LR, target: int = DEFAULT_EPOCHS, dtype=TRAIN_DTYPE,
                 eval_every: int = EVAL_EVERY, clock=time.perf_counter):
        self.resources = resources
        self.dtype = dtype
        self.eval_every = eval_every
        self.clock = clock
        self.lock = threading.RLock()
        self.lr = float(lr)
        self.target = int(target)
        self.start = start
        self.optimizer = optimizer
        self.reset(start, optimizer)

    # ---------------------------------------------------------------- state
    @property
    def can_train(self) -> bool:
        return self.trainer is not None

    @property
    def epoch(self) -> int:
        return self.trainer.epoch if self.trainer else 0

    @property
    def base_epochs(self) -> int:
        """Epochs the starting weights had already been trained."""
        return self.resources.base_epochs if self.start == PRETRAINED else 0

    @property
    def finished(self) -> bool:
        return self.can_train and self.epoch >= self.target

    @property
    def has_pretrained(self) -> bool:
        return self.resources.model is not None

    # ---------------------------------------------------------------- controls
    def reset(self, start: str | None = None, optimizer: str | None = None) -> None:
        """Start over: the pretrained weights (or the reference init), a new optimizer, an empty history."""
        with self.lock:
            start = start or self.start
            if start not in STARTS:
                raise ValueError(f"start must be one of {sorted(STARTS)}, got {start!r}")
            if start == PRETRAINED and not self.has_pretrained:
                start = FRESH
            optimizer = optimizer or self.optimizer
            if optimizer not in OPTIMIZERS:
                raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}")
            self.start, self.optimizer = start, optimizer
            if start == PRETRAINED:
                self.model = clone_model(self.resources.model, self.dtype)
            else:
                self.model = cat_mlp(seed=SEED).astype(self.dtype)
            self.trainer = None
            # The shared arrays in the training dtype (no per-session copy), else the float64 originals.
            data = (self.resources.train_data if np.dtype(self.dtype) == np.dtype(TRAIN_DTYPE)
                    else self.resources.data)
            if data is not None:
                self.trainer = Trainer(self.model, data, lr=self.lr,
                                       optimizer=optimizer, dtype=self.dtype, eval_every=self.eval_every)
            self.playing = False
            self.warning: str | None = None
            self.meter = SpeedMeter()
            self.initial, _ = self._evaluate()
            self.current = self.initial

    def play(self) -> None:
        """Train in ticks until the target; nothing to do without data or once the target is reached."""
        if self.can_train and not self.finished:
            self.playing = True
            self.warning = None
            self.meter.reset()

    def pause(self) -> None:
        self.playing = False

    def step(self, epochs: int = STEP_EPOCHS) -> None:
        """Pause, then train `epochs` more epochs (the target does not limit a step)."""
        self.playing = False
        if self.can_train:
            self.warning = None
            self.meter.reset()
            self._train(epochs=epochs)

    def set_lr(self, lr: float) -> None:
        """Takes effect from the next chunk."""
        self.lr = float(lr)
        if self.trainer:
            self.trainer.lr = self.lr

    def set_target(self, epochs: int) -> None:
        self.target = int(epochs)

    def tick(self, seconds: float = TICK_SECONDS) -> bool:
        """While playing, train for about `seconds`, never past the target.

        Returns True when this tick stopped the playing (target reached, or the run broke down), so the
        page knows to redraw its controls.
        """
        if not self.playing:
            return False
        if not self.can_train or self.finished:
            self.playing = False
            return True
        self._train(epochs=self.target - self.epoch, seconds=seconds)
        if self.warning or self.finished:
            self.playing = False
            return True
        return False

    def ticks(self, budget: float = TICK_BUDGET, seconds: float = TICK_SECONDS):
        """Tick after tick while playing, for about `budget` seconds; yields after each tick whether
        it stopped the playing (the generator then ends).

        The page redraws after each tick, so one fragment run shows several ticks: Streamlit's fixed
        cost per run (~50-80 ms here) is paid once a second instead of once per 0.2 s tick.
        """
        deadline = self.clock() + budget
        while self.playing:
            stopped = self.tick(seconds)
            yield stopped
            if stopped or self.clock() >= deadline:
                return

    # ---------------------------------------------------------------- training
    def _train(self, epochs: int, seconds: float | None = None) -> None:
        with self.lock:
            t = self.trainer
            result = t.run(epochs=epochs, seconds=seconds)
            current, broken = self._evaluate()
            if broken and not result.diverged:
                # The chunk's last update broke the network, and the Trainer only sees that in the next
                # step's forward pass. Take that step now: it finds the same problem (same weights, same
                # test), trains nothing and rolls the update back.
                confirm = t.run(epochs=1)
                result = confirm if confirm.diverged else result
                current, _ = self._evaluate()
            if result.diverged:
                self.warning = result.message + (
                    " Adam from a fresh initialization kills this network even at small learning rates; "
                    "try SGD, or start from the pretrained weights."
                    if self.optimizer == "adam" and self.start == FRESH and "died" in result.message else "")
            self.current = current
            self.meter.add(self.clock(), self.epoch, max(result.epochs, 0), result.seconds)

    def _evaluate(self) -> tuple[Record, bool]:
        """Metrics of the current weights, and whether the Trainer's next step will refuse them."""
        if not self.trainer:
            return Record(0, math.nan, math.nan, math.nan, math.nan), False
        record, problem = self.trainer.inspect()
        return record, bool(problem)

    # ---------------------------------------------------------------- reading
    @property
    def history(self) -> list[Record]:
        """Every recorded row of this run, ending with the current weights."""
        rows = list(self.trainer.history) if self.trainer else []
        if not rows or rows[0].epoch != 0:
            rows.insert(0, self.initial)
        if rows[-1].epoch != self.current.epoch:
            rows.append(self.current)
        return rows

    def view(self, max_points: int = CHART_POINTS) -> View:
        epoch, target = self.epoch, self.target
        rate = self.meter.rate
        if not self.can_train:
            status = "Training needs the data set."
        elif self.warning:
            status = f"Stopped at epoch {epoch:,}."
        elif self.playing:
            status = f"Training… epoch {epoch:,} of {target:,}"
        elif self.finished:
            status = f"Done: {epoch:,} epochs (target {target:,}). Raise the target to train on."
        elif epoch == 0:
            status = f"Ready: press Play to train {target:,} epochs, or Step for {STEP_EPOCHS}."
        else:
            status = f"Paused at epoch {epoch:,} of {target:,}."
        return View(
            can_train=self.can_train,
            playing=self.playing,
            epoch=epoch,
            target=target,
            progress=min(1.0, epoch / target) if target > 0 else 1.0,
            status=status,
            epochs_per_second=rate,
            metrics=metrics(self.current, self.initial, self.base_epochs, target) if self.can_train else [],
            chart=chart_data(self.history, max_points) if self.can_train else {},
            warning=self.warning,
            play_enabled=self.can_train and not self.playing and not self.finished,
            pause_enabled=self.playing,
        )

    def predict_proba(self, x) -> np.ndarray:
        """P(cat) for each row of x, shape (m,), with the session's current weights."""
        with self.lock, no_grad():
            return self.model(np.asarray(x)).data.reshape(-1).astype(np.float64)

    def describe_start(self) -> str:
        """One line on where this run started and how it trains, for under the chart."""
        if self.start == PRETRAINED:
            epochs = self.resources.base_epochs
            start = "the pretrained weights" + (f" (already trained {epochs:,} epochs)" if epochs else "")
        else:
            start = f"a fresh reference initialization (seed {SEED})"
        text = (f"This run started from {start} and trains with {OPTIMIZERS[self.optimizer]} at learning "
                f"rate {format_lr(self.lr)}.")
        if self.start == PRETRAINED and self.epoch == 0 and self.can_train:
            text += " To watch the network learn from scratch, pick **Fresh init** in the sidebar."
        return text

    def weights_meta(self) -> dict:
        meta = {"epochs": self.base_epochs + self.epoch, "lr": self.lr, "optimizer": self.optimizer,
                "start": self.start, "seed": SEED}
        if self.can_train:
            c = self.current
            meta.update(train_loss=c.train_loss, test_loss=c.test_loss, train_accuracy=c.train_acc,
                        test_accuracy=c.test_acc)
        return meta

    def weights_bytes(self) -> bytes:
        """The session's current weights as a .npz file (loadable with model.weights.load_weights)."""
        with self.lock:
            return weights_bytes(self.model, **self.weights_meta())

    def weights_filename(self) -> str:
        return f"cat_mlp_{self.start}_{self.base_epochs + self.epoch}ep.npz"


# --- the "what happens on each tick" explainer -----------------------------------------------------


@dataclass(frozen=True)
class GraphSummary:
    """The computation graph of one training step, as the engine builds it."""

    nodes: int
    ops: dict  # op name -> count, in order of first appearance; "parameter" for the leaves
    parameters: int  # number of weights and biases


def parameter_count(model: Sequential) -> int:
    return int(sum(p.data.size for p in model.parameters()))


def graph_summary(model: Sequential | None = None, batch: int = 2) -> GraphSummary:
    """Build one step's graph (forward to the loss, as the Trainer does) and count its nodes by op."""
    model = model if model is not None else cat_mlp(seed=SEED)
    x = np.zeros((batch, model.layers[0].n_in))
    y = np.zeros((batch, 1))
    loss = bce_with_logits(model[:-1](x), y)
    ops: dict[str, int] = {}
    order = loss.topological_order()  # the order backward() walks (reversed)
    for node in order:
        name = node.op or "parameter"
        ops[name] = ops.get(name, 0) + 1
    return GraphSummary(nodes=len(order), ops=ops, parameters=parameter_count(model))


def explain_markdown(summary: GraphSummary, optimizer: str = "sgd") -> str:
    """Markdown for the explainer: forward builds the graph, backward walks it, the optimizer steps."""
    counts = ", ".join(f"{n} parameters (the leaves)" if op == "parameter" else f"{n} `{op}`"
                       for op, n in summary.ops.items())
    update = ("SGD moves each weight a small step against its gradient: `w -= lr * w.grad`."
              if optimizer == "sgd" else
              "Adam moves each weight against its gradient, scaled by running averages of the gradient "
              "and of its square, so every weight gets a step size of its own.")
    return f"""
While **Play** runs, the page trains in chunks of about {TICK_SECONDS:g} s and redraws between them.
Each epoch inside a chunk is one step over all 209 training images:

1. **Forward pass builds the graph.** `model(x)` pushes the (209, 12288) batch of pixels through four
   linear layers and three ReLUs; the loss is binary cross-entropy on the logits. Every operation
   returns a `Value` that remembers its operands and how to send a gradient back to them. One step's
   graph has **{summary.nodes} nodes**: {counts}. The pixels are constants: no gradient is computed for them.
2. **`loss.backward()` walks the graph in reverse topological order**: starting from d(loss)/d(loss) = 1,
   each node hands its gradient to its operands, so every one of the {summary.parameters:,} weights and
   biases ends up with its `.grad`.
3. **The optimizer steps.** {update} The graph is then dropped and freed.

Every {EVAL_EVERY} epochs the 50 test images go through the network too, without building a graph, to draw
the test curve. Training and test loss drifting apart is the model memorizing its 209 images.
""".strip()
