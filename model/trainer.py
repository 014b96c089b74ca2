"""Full-batch training in chunks, so a caller (the page, the CLI) can draw between chunks. Every `eval_every`
epochs a step records a `Record` (losses, accuracies, layer health); the Trainer owns every divergence rule
(`Divergence`), rolls a broken chunk back to the best recorded weights and keeps what it undid in `rolled_back`.
"""
from __future__ import annotations

import enum
import math
import time
from dataclasses import dataclass

import numpy as np

from engine import Value, no_grad, stable_sigmoid
from model.cat import is_cat
from model.functional import bce_with_logits
from model.nn import Linear, ReLU, Sequential, Sigmoid
from model.optim import OPTIMIZERS, format_lr

BLOW_UP = 10  # a loss this many times the best so far is a blow-up (the reference run spikes twofold once)


class Divergence(enum.Enum):
    """Why training stopped on its own; the value is the sentence a person reads."""

    NON_FINITE = "the loss became infinite or NaN"
    BLEW_UP = "the loss jumped more than tenfold over the lowest so far"
    DIED = "the network died: every image gets the same output (a layer of ReLUs outputs only zeros)"


@dataclass(frozen=True)
class LayerHealth:
    """Per weight layer, at one recorded step: how big its gradient was, how much the update moved it, and
    (for layers followed by a ReLU) the share of units that output zero for every training image."""

    grad_norm: tuple[float, ...]  # ||dL/dW|| of each layer's weight matrix
    update_ratio: tuple[float, ...]  # ||update|| / ||weights|| of each layer's weight matrix
    dead_share: tuple[float, ...]  # one per ReLU layer
    # Weights found broken get only `dead_share`: no step was taken from them, so there is no gradient.


def dead_share(relu_output: np.ndarray) -> float:
    """Share of a ReLU layer's units that output 0 for every image of the batch: they pass no gradient
    back, so nothing before them can learn through them; a layer that is 100% dead gives every image the
    same output."""
    return float(np.mean(~(relu_output > 0).any(axis=0)))


@dataclass(frozen=True)
class Record:
    """Metrics of the weights after `epoch` updates."""

    epoch: int
    train_loss: float
    test_loss: float
    train_acc: float
    test_acc: float
    health: LayerHealth | None = None  # from the step taken at this epoch; None for a no-step evaluation

    @classmethod
    def broken(cls, epoch: int, train_loss: float, logits: np.ndarray, labels: np.ndarray, relu_outputs) -> Record:
        """Broken weights, for `Trainer.rolled_back` to show: the test columns NaN (never evaluated)."""
        health = LayerHealth((), (), tuple(map(dead_share, relu_outputs)))
        return cls(epoch, train_loss, np.nan, accuracy(logits, labels), np.nan, health)


@dataclass(frozen=True)
class ChunkResult:
    """What one `run()` did: epochs gained (negative after a roll-back), time, and the weights it left."""

    epochs: int
    seconds: float
    current: Record  # the weights the chunk left (after any roll-back)
    stop: Divergence | None = None
    message: str = ""  # for a person, when `stop` is set

    @property
    def diverged(self) -> bool:
        return self.stop is not None


@dataclass(frozen=True, eq=False)
class PendingStep:
    """A training step after its forward pass (`Trainer.forward()`): the loss graph, waiting for backward."""

    trainer: Trainer
    weights_version: int  # the Trainer's weights_version it was built from
    loss: Value  # mean BCE over the training images: the root of the graph backward walks
    logits: Value  # the last layer's output, before the Sigmoid
    relu_outputs: list  # each ReLU's output, kept when this step records layer health
    recording: bool  # whether this step records a history row

    def backward_steps(self):
        """The step's backward pass one node at a time (`Value.backward_steps()`), from zeroed parameter
        gradients, so it leaves exactly this step's gradients. Zeroed only now: until a walk starts, the
        parameters keep the last step's gradients (the page draws them)."""
        self.trainer.optimizer.zero_grad()
        self.trainer.gradient_epoch = self.trainer.epoch  # a walk's gradients: of this step, not yet applied
        return self.loss.backward_steps()


def keep_record(history: list, record: Record) -> None:
    """Append `record`; the first step after a roll-back replaces the record at its epoch instead, which held the
    update of the step that was undone."""
    if history and history[-1].epoch == record.epoch:
        history[-1] = record
    else:
        history.append(record)


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows where the prediction from P(cat) = sigmoid(logit) agrees with the 0/1 label."""
    return float(np.mean(is_cat(stable_sigmoid(logits)) == (labels > 0.5)))


def diagnose(loss: float, logits: np.ndarray, best_loss: float) -> Divergence | None:
    """What is wrong with weights that give this training loss and these logits (None if nothing)."""
    if not math.isfinite(loss):
        return Divergence.NON_FINITE
    if loss > BLOW_UP * best_loss:
        return Divergence.BLEW_UP
    if logits.size > 1 and logits.min() == logits.max():
        return Divergence.DIED
    return None


def forward_through(layers, x) -> tuple[Value, list[np.ndarray]]:
    """`x` through `layers` (the same graph as a Sequential builds), and each ReLU's output (kept for free:
    the graph holds those arrays anyway, as inputs of the next layer)."""
    out, relu_outputs = Value(x, requires_grad=False), []
    for layer in layers:
        out = layer(out)
        if isinstance(layer, ReLU):
            relu_outputs.append(out.data)
    return out, relu_outputs


def layer_health(linears: list[Linear], norms_before: list[float], update_norms: dict, relu_outputs: list
                 ) -> LayerHealth:
    """Layer health from the step just taken (its gradients, its update, its ReLUs): no extra pass."""
    grad_norm = tuple(float(np.linalg.norm(layer.weight.grad)) for layer in linears)
    update_ratio = tuple(update_norms[id(layer.weight)] / max(before, 1e-30)  # update_norms: by id(parameter)
                         for layer, before in zip(linears, norms_before))
    return LayerHealth(grad_norm, update_ratio, tuple(map(dead_share, relu_outputs)))


def evaluate(logits: Sequential, x, y) -> tuple[float, float]:
    """(loss, accuracy) of the model `logits` (no Sigmoid) on (x, y), without building a graph."""
    with no_grad():
        z = logits(x)
        return bce_with_logits(z, y).item(), accuracy(z.data, y)


def diverged_message(lr: float, stop: Divergence, kept_epoch: int, kept_loss: float,
                     broken: Record | None = None) -> str:
    """What a person reads after a roll-back to the weights of `kept_epoch`; `broken`, the weights found broken,
    says how far the loss went."""
    seen = ""
    if stop is Divergence.BLEW_UP and broken is not None:
        seen = f" (to {broken.train_loss:,.4g} at epoch {broken.epoch:,})"
    return (f"Training diverged at learning rate {format_lr(lr)}: {stop.value}{seen}. The weights of epoch "
            f"{kept_epoch}, with the lowest loss so far ({kept_loss:.4f}), were kept; try a smaller learning rate.")


class Checkpoint:
    """A copy of the weights at the recorded epoch with the lowest training loss: what a roll-back restores."""

    def __init__(self, params):
        self.params, self.loss, self.epoch = params, np.inf, 0
        self._copies = [np.empty_like(p.data) for p in params]

    def offer(self, epoch: int, loss: float) -> None:
        """Keep the current weights if `loss` is the lowest so far."""
        if loss < self.loss:
            self.loss, self.epoch = loss, epoch
            for saved, p in zip(self._copies, self.params):
                np.copyto(saved, p.data)

    def restore(self) -> None:
        for saved, p in zip(self._copies, self.params):
            np.copyto(p.data, saved)


class Trainer:
    """Trains `model` (a Sequential ending in Sigmoid) in place on a `load_catvnoncat()` data set."""

    def __init__(self, model: Sequential, data, lr: float, optimizer: str = "sgd",
                 dtype=np.float64, eval_every: int = 10):
        if not isinstance(model[-1], Sigmoid):
            raise ValueError("Trainer needs a model whose last layer is Sigmoid (it trains on the logits)")
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}")
        self.model = model.astype(dtype)
        self.logits = model[:-1]  # same layers, without the Sigmoid
        self.x_train, self.y_train = (np.asarray(a, dtype=dtype) for a in (data.x_train, data.y_train))
        self.x_test, self.y_test = (np.asarray(a, dtype=dtype) for a in (data.x_test, data.y_test))
        self.optimizer_name = optimizer
        self.optimizer = OPTIMIZERS[optimizer](model.parameters(), lr=lr)
        self.eval_every = eval_every
        self.epoch = 0
        self.weights_version = 0  # goes up whenever the weights change (update, roll-back): see is_current
        self.gradient_epoch: int | None = None  # the epoch whose weights the last backward pass saw (its .grad)
        self.history: list[Record] = []
        self.rolled_back: list[Record] = []  # what the last chunk's roll-back undid, ending with the broken weights
        self.best = Checkpoint(self.optimizer.params)
        self._linears = model.linears()
        self._ahead: PendingStep | None = None  # the next step's forward, built by the last chunk's check
        self._test_at: tuple[int, tuple[float, float]] | None = None  # (weights_version, test loss and accuracy)

    lr = property(lambda self: self.optimizer.lr, lambda self, value: setattr(self.optimizer, "lr", value),
                  doc="The optimizer's learning rate; a new one takes effect from the next step.")

    # ---------------------------------------------------------------- training
    def run(self, epochs: int | None = None, seconds: float | None = None) -> ChunkResult:
        """Train until `epochs` more epochs are done or `seconds` have passed, whichever comes first; the chunk
        ends by checking the weights it leaves, so a broken last update is rolled back here too."""
        if epochs is None and seconds is None:
            raise ValueError("run() needs epochs=, seconds= or both")
        start = time.perf_counter()
        deadline = start + seconds if seconds is not None else float("inf")
        first = self.epoch
        stop, self.rolled_back = None, []
        while (epochs is None or self.epoch - first < epochs) and time.perf_counter() < deadline:
            stop = self.apply(self._next_step())
            if stop:
                break
        return self._end_chunk(stop, start, first)

    def _next_step(self) -> PendingStep:
        """The next step's forward half: the one the last chunk's check built, while the weights are still those."""
        ahead, self._ahead = self._ahead, None
        return ahead if ahead is not None and self.is_current(ahead) else self.forward()

    def run_step(self, pending: PendingStep, backward: bool = True) -> ChunkResult:
        """Apply one pending step (see `apply`) as a chunk of one epoch: checked and rolled back as `run()` is."""
        start, first = time.perf_counter(), self.epoch
        self.rolled_back = []
        return self._end_chunk(self.apply(pending, backward), start, first)

    def _end_chunk(self, stop: Divergence | None, start: float, first: int) -> ChunkResult:
        if not stop:
            ahead, current = self._look_ahead()  # the check costs no training-set pass of its own
            stop = diagnose(current.train_loss, ahead.logits.data, self.best.loss)
            if stop:
                self.rolled_back = [Record.broken(self.epoch, current.train_loss, ahead.logits.data, self.y_train,
                                                  ahead.relu_outputs)]
        message = self._roll_back(stop) if stop else ""
        if stop:
            current = self.inspect()
        return ChunkResult(self.epoch - first, time.perf_counter() - start, current, stop, message)

    # ---------------------------------------------------------------- one step, in two halves
    # A step of `run()` is `apply(forward())`. The page's backprop stepper walks the pending step's backward pass
    # node by node in between, then applies it with backward=False: one code path for both.
    def forward(self) -> PendingStep:
        """The forward half of the next step: the loss of the current weights as a graph (its backward pass:
        `apply()`, or node by node with `PendingStep.backward_steps()`)."""
        recording = self.epoch % self.eval_every == 0
        z, relu_outputs = forward_through(self.logits.layers, self.x_train)
        loss = bce_with_logits(z, self.y_train)
        return PendingStep(self, self.weights_version, loss, z, relu_outputs, recording)

    def is_current(self, pending: PendingStep) -> bool:
        """Whether `pending` was built by this Trainer from the weights it holds now."""
        return pending.trainer is self and pending.weights_version == self.weights_version

    def apply(self, pending: PendingStep, backward: bool = True) -> Divergence | None:
        """The rest of the step: check the loss, record, backward (unless `backward=False`: the pending
        loss's backward pass has already run to the end), the optimizer's update, epoch + 1.

        Returns what is wrong with the weights instead, if anything (then nothing is updated)."""
        if not self.is_current(pending):
            raise ValueError("this step was built from weights that have changed since; call forward() again")
        z, train_loss = pending.logits, pending.loss.item()
        problem = diagnose(train_loss, z.data, self.best.loss)
        if problem:
            self.rolled_back = [Record.broken(self.epoch, train_loss, z.data, self.y_train, pending.relu_outputs)]
            return problem
        if pending.recording:
            self.best.offer(self.epoch, train_loss)
            test_loss, test_acc = self._test_now()  # before the update: this epoch's
            norms_before = [float(np.linalg.norm(layer.weight.data)) for layer in self._linears]
        if backward:
            self.optimizer.zero_grad()  # flush the last step's gradients (or a half-walked pass's partial sums)
            pending.loss.backward()
        self.gradient_epoch = self.epoch
        update_norms = self.optimizer.step(measure=pending.recording)  # the optimizer's own: no copy of W
        self.weights_version += 1
        if pending.recording:
            updates = dict(zip(map(id, self.optimizer.params), update_norms))
            health = layer_health(self._linears, norms_before, updates, pending.relu_outputs)
            keep_record(self.history, Record(self.epoch, train_loss, test_loss, accuracy(z.data, self.y_train),
                                             test_acc, health))
        self.epoch += 1
        return None

    def _roll_back(self, stop: Divergence) -> str:
        """Restore the kept copy of the best recorded weights; the message for the user."""
        self.optimizer.zero_grad()  # the last step's gradients belong to weights that are being thrown away
        if not np.isfinite(self.best.loss):
            return f"Cannot train from these weights: {stop.value}."
        self.best.restore()
        self.epoch = self.best.epoch
        self.weights_version += 1
        self.rolled_back[:0] = [r for r in self.history if r.epoch > self.epoch]
        self.history[:] = [r for r in self.history if r.epoch <= self.epoch]
        self.optimizer.reset()  # its moments came from the steps that went wrong
        return diverged_message(self.lr, stop, self.epoch, self.best.loss, self.rolled_back[-1])  # ends with the broken

    # ---------------------------------------------------------------- evaluation
    def evaluate(self, x, y) -> tuple[float, float]:
        """(loss, accuracy) of the current weights on (x, y), without building a graph."""
        return evaluate(self.logits, x, y)

    def _test_now(self) -> tuple[float, float]:
        """(loss, accuracy) on the test set at the current weights, computed once per weights version."""
        if self._test_at is None or self._test_at[0] != self.weights_version:
            self._test_at = (self.weights_version, self.evaluate(self.x_test, self.y_test))
        return self._test_at[1]

    def evaluate_train(self) -> tuple[float, float]:
        return self.evaluate(self.x_train, self.y_train)

    def inspect(self) -> Record:
        """A Record of the current weights, without a step (so without layer health)."""
        return self._look_ahead()[1]

    def _look_ahead(self) -> tuple[PendingStep, Record]:
        """The next step's forward pass, kept for the next chunk to start from, and a Record of the weights it sees."""
        ahead = self._ahead = self._next_step()
        test_loss, test_acc = self._test_now()
        train_acc = accuracy(ahead.logits.data, self.y_train)
        return ahead, Record(self.epoch, ahead.loss.item(), test_loss, train_acc, test_acc)
