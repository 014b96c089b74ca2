"""One visitor's training run: play, pause, step and reset; training in ticks, each a turn of the process-wide
scheduler (ui/scheduler.py); and the page's redraw loop."""
from __future__ import annotations

import collections
import itertools
import math
import threading
import time
import weakref

import numpy as np

from model.cat import cat_mlp, predict_proba
from model.optim import OPTIMIZERS, format_lr
from model.trainer import ChunkResult, Divergence, PendingStep, Record, Trainer
from model.weights import clone_model, weights_bytes
from ui.live import CHART_REFRESH, View, live_view
from ui.photos import UploadCache
from ui.resources import TRAIN_DTYPE, Resources
from ui.scheduler import Full, Scheduler, shared
from ui.settings import (
    DEFAULT_EPOCHS,
    DEFAULT_LR,
    DEFAULT_LRS,
    DEFAULT_OPTIMIZER,
    DEFAULT_SEED,
    EVAL_EVERY,
    FRESH,
    PRETRAINED,
    STARTS,
    STEP_EPOCHS,
)

TICK_SECONDS = 0.2  # training time per tick while playing; the page redraws after each tick
TICK_BUDGET = 1.0  # ticks run back to back within one fragment run for about this long
TICK_INTERVAL = 0.1  # how often the page asks for the next run; requests arriving meanwhile are merged
TURN_WAIT = 0.25  # s a tick waits for its turn before it gives the page back to show the queue (and a Pause)
SPEED_WINDOW = 3.0  # seconds of ticks that epochs/s averages over
_WEIGHTS_VERSIONS = itertools.count(1)  # shared by all sessions, so a version never names two different models
_SESSION_KEYS = itertools.count(1)  # each session's name in the scheduler's queue
UNDONE_NOTE = " The chart draws the training loss of the undone steps dashed."
ADAM_HINT = (f" Adam moves every weight by about the learning rate at each step, so it needs a far smaller rate "
             f"than SGD here: {format_lr(DEFAULT_LRS['adam'])} trains from either start.")


def breakdown_warning(result: ChunkResult, optimizer: str, lr: float) -> str:
    """The Trainer's message about a breakdown, with where the chart shows it and, for Adam, a rate that works."""
    shot_up = result.stop in (Divergence.BLEW_UP, Divergence.NON_FINITE)  # a died run's loss need not have risen
    too_fast_for_adam = optimizer == "adam" and lr > DEFAULT_LRS["adam"]
    return result.message + (UNDONE_NOTE if shot_up else "") + (ADAM_HINT if too_fast_for_adam else "")


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


def new_run(resources: Resources, start: str, seed: int, optimizer: str, lr: float, dtype, eval_every: int):
    """(model, Trainer or None without the data set) for a run from `start`: a copy of the pretrained weights,
    or the fresh initialization from `seed`."""
    model = (clone_model(resources.model, dtype) if start == PRETRAINED else cat_mlp(seed=seed).astype(dtype))
    # The shared arrays in the training dtype (no per-session copy), else the float64 originals.
    data = resources.train_data if np.dtype(dtype) == np.dtype(TRAIN_DTYPE) else resources.data
    trainer = None if data is None else Trainer(model, data, lr=lr, optimizer=optimizer, dtype=dtype,
                                                eval_every=eval_every)
    return model, trainer


class TrainingSession:
    """One browser session's model, Trainer and play state: the page's callbacks call the controls, its
    live fragment runs `play_loop()`. `lock` serializes training against readers on other threads;
    `weights_version` changes whenever the weights may have, so pictures of them can be cached under it."""

    def __init__(self, resources: Resources, *, start: str = PRETRAINED, optimizer: str = DEFAULT_OPTIMIZER,
                 lr: float = DEFAULT_LR, target: int = DEFAULT_EPOCHS, seed: int = DEFAULT_SEED,
                 dtype=TRAIN_DTYPE, eval_every: int = EVAL_EVERY, clock=time.perf_counter,
                 scheduler: Scheduler | None = None):
        self.resources, self.dtype, self.eval_every, self.clock = resources, dtype, eval_every, clock
        self.lock = threading.RLock()
        self.scheduler, self.key = scheduler or shared(), next(_SESSION_KEYS)
        weakref.finalize(self, self.scheduler.leave, self.key)  # a session dropped with its tab leaves the queue
        self.lr, self.target, self.seed = float(lr), int(target), int(seed)
        self.start, self.optimizer = start, optimizer
        self.reset(start, optimizer)

    # ---------------------------------------------------------------- state
    can_train = property(lambda self: self.trainer is not None, doc="Whether there is data to train on.")

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
    def reset(self, start: str | None = None, optimizer: str | None = None, seed: int | None = None) -> None:
        """Start over: the pretrained weights (or a fresh init), a new optimizer, an empty history."""
        start, optimizer = start or self.start, optimizer or self.optimizer
        if start not in STARTS:
            raise ValueError(f"start must be one of {sorted(STARTS)}, got {start!r}")
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}")
        with self.lock:
            if start == PRETRAINED and not self.has_pretrained:
                start = FRESH
            self.start, self.optimizer = start, optimizer
            self.seed = self.seed if seed is None else int(seed)
            self.model, self.trainer = new_run(self.resources, start, self.seed, optimizer, self.lr, self.dtype,
                                               self.eval_every)
            self.pause(by_visitor=False)
            self.warning, self.meter = None, SpeedMeter()
            self.initial = self.trainer.inspect() if self.trainer else Record(0, *[math.nan] * 4)
            self.current = self.initial
            self.weights_version = next(_WEIGHTS_VERSIONS)

    def play(self) -> None:
        """Train in ticks until the target (without data or past it: nothing; a warning if the server is full)."""
        if self.can_train and not self.finished:
            try:
                self.scheduler.join(self.key)
            except Full as full:
                self.warning = str(full)
                return
            self.playing, self.warning = True, None
            self.meter.reset()

    def pause(self, by_visitor: bool = True) -> None:
        """Stop playing, once the chunk training now (it holds the lock) ends; only the visitor's Pause says Paused."""
        self.paused = by_visitor and (self.playing or self.paused)  # a second click leaves it paused
        self.playing = False  # before the lock, so no new chunk starts while we wait
        with self.lock:
            self.queued_behind = 0  # visitors ahead of this one when its last tick waited for a turn
            self.scheduler.leave(self.key)  # its place goes to the visitors still playing

    def step(self, epochs: int = STEP_EPOCHS) -> None:
        """Pause, then train `epochs` more epochs (the target does not limit a step; a click is never queued)."""
        self.pause(by_visitor=False)
        if self.can_train:
            self.warning = None
            self.meter.reset()
            self.train_chunk(epochs=epochs)

    def set_lr(self, lr: float) -> None:
        self.lr = float(lr)
        if self.trainer:
            self.trainer.lr = self.lr  # takes effect from the next chunk

    def set_target(self, epochs: int) -> None:
        self.target = int(epochs)

    # ---------------------------------------------------------------- training
    def train_chunk(self, epochs: int, seconds: float | None = None) -> ChunkResult:
        """Train `epochs` epochs, or for `seconds` if that comes first (ticks call this during their turn)."""
        with self.lock:
            self._take(chunk := self.trainer.run(epochs=epochs, seconds=seconds))
            return chunk

    def _take(self, result: ChunkResult) -> None:
        """Show what a chunk of training did: its weights' metrics, any warning, the speed."""
        with self.lock:
            self.current = result.current
            self.weights_version = next(_WEIGHTS_VERSIONS)
            if result.diverged:
                self.warning = breakdown_warning(result, self.optimizer, self.lr)
            self.meter.add(self.clock(), self.epoch, max(result.epochs, 0), result.seconds)

    # ---------------------------------------------------------------- the backprop stepper (ui/backprop.py)
    def forward_step(self) -> PendingStep | None:
        """The next training step of the current weights, up to its backward pass (None without data)."""
        with self.lock:
            return self.trainer.forward() if self.trainer else None

    def is_current(self, pending: PendingStep) -> bool:
        """Whether `pending` still belongs to this session's weights (no training, update or reset since)."""
        return self.trainer is not None and self.trainer.is_current(pending)

    def apply_step(self, pending: PendingStep) -> bool:
        """Pause, then apply `pending` (its backward pass already run) as one epoch; False if the weights changed."""
        with self.lock:
            if not self.is_current(pending):
                return False
            self.pause(by_visitor=False)
            self.warning = None
            self.meter.reset()
            self._take(self.trainer.run_step(pending, backward=False))
            return True

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

    def view(self) -> View:
        return live_view(self)

    def p_cat(self, x) -> np.ndarray:
        """P(cat) for each row of x, shape (m,), with the session's current weights."""
        with self.lock:  # a chunk may be updating the weights on another thread
            return predict_proba(self.model, np.asarray(x)).reshape(-1).astype(np.float64)


def download_bytes(training: TrainingSession) -> bytes:
    """The session's current weights as a .npz file (loadable with model.weights.load_weights)."""
    with training.lock:  # the download button builds the file on another thread, maybe mid-chunk
        return weights_bytes(training.model, **weights_metadata(training))


def weights_filename(training: TrainingSession) -> str:
    return f"cat_mlp_{training.start}_{training.base_epochs + training.epoch}ep.npz"


def weights_metadata(training: TrainingSession) -> dict:
    """What a downloaded weight file says about how its weights came to be."""
    meta = {"epochs": training.base_epochs + training.epoch, "lr": training.lr, "optimizer": training.optimizer,
            "start": training.start, "seed": training.seed}
    if training.can_train:
        current = training.current
        meta.update(train_loss=current.train_loss, test_loss=current.test_loss, train_accuracy=current.train_acc,
                    test_accuracy=current.test_acc)
    return meta


def tick(training: TrainingSession, seconds: float = TICK_SECONDS, wait: float = TURN_WAIT) -> bool:
    """While playing, one turn of the scheduler's (waiting up to `wait` s for it): train for about `seconds`, never
    past the target. True when this tick stopped the playing (target reached, or the run broke down), so the page
    redraws its controls."""
    if not training.playing:
        return False
    if training.can_train and not training.finished:
        try:
            with training.scheduler.turn(training.key, wait=wait) as turn:
                training.queued_behind = 0 if turn else turn.ahead
                if turn and training.playing:  # a Pause may have come (from the page's thread) while this tick waited
                    chunk = training.train_chunk(epochs=training.target - training.epoch, seconds=seconds)
                    turn.trained(chunk.epochs, chunk.seconds)  # how the scheduler picks the BLAS thread count
        except Full as full:  # dropped as gone (a throttled background tab) and every place taken since
            training.warning = str(full)
    if training.warning or not training.can_train or training.finished:
        training.pause(by_visitor=False)
        return True
    return False


def ticks(training: TrainingSession, budget: float = TICK_BUDGET, seconds: float = TICK_SECONDS,
          wait: float = TURN_WAIT):
    """Tick after tick while playing, for about `budget` seconds (0: one tick); yields after each tick whether it
    stopped the playing. One fragment run shows several ticks: Streamlit's fixed cost per run (~50-80 ms here) is
    paid once a second instead of once per tick."""
    deadline = training.clock() + budget
    while training.playing:
        stopped = tick(training, seconds, wait)
        yield stopped
        if stopped or training.clock() >= deadline:
            return


def play_loop(training: TrainingSession, redraw_metrics, redraw_chart, chart_every: float = CHART_REFRESH,
              clock=time.monotonic, ticking=ticks) -> bool:
    """The page's live fragment: tick after tick while playing, redrawing the metrics after each tick and the
    chart every `chart_every` s; True when playing stopped (the page reruns to redraw its controls). `ticking` is
    `ticks`, or a stand-in in tests."""
    chart_drawn = clock()  # the caller drew everything just before the loop
    for stopped in ticking(training):
        if stopped:
            return True
        redraw_metrics()
        if clock() - chart_drawn >= chart_every:
            redraw_chart()
            chart_drawn = clock()
    return False


def page_defaults(resources: Resources) -> dict:
    """The page's settings before the visitor changes any."""
    return {"lr": DEFAULT_LR, "epochs": DEFAULT_EPOCHS, "optimizer": DEFAULT_OPTIMIZER, "seed": DEFAULT_SEED,
            "start": PRETRAINED if resources.model is not None else FRESH,
            "grid_split": "test", "mistakes_only": False, "fit": "crop"}


def training_for(state, resources: Resources) -> TrainingSession:
    """This visitor's session, kept in `state` (the page's session state): made on first use with the page's
    settings, remade when the shared files changed (after `make data`, say)."""
    for name, value in page_defaults(resources).items():
        state.setdefault(name, value)
    if resources.model is None:
        state["start"] = FRESH
    training = state.get("training")
    if training is None or training.resources is not resources:
        training = TrainingSession(resources, start=state["start"], optimizer=state["optimizer"], lr=state["lr"],
                                   target=state["epochs"], seed=state["seed"])
        state["training"], state["uploads"] = training, UploadCache()
    return training
