"""Full-batch training in chunks, so a caller (the app, the CLI) can draw between chunks.

One step is: forward on the 209 training images (the last Sigmoid folded into a stable
BCE-with-logits), `loss.backward()`, optimizer update. Every `eval_every` epochs the step also records
a row of history (train loss from that very forward pass, test loss and both accuracies from a
no-graph pass over the test set, which never touches the gradient) and, if its loss is the lowest so
far, keeps a copy of the weights. Rows come only from steps, so where chunks end changes nothing.

A step whose forward pass shows that the previous update went wrong is not taken; the weights are
rolled back to the kept copy (the best recorded epoch) and the chunk stops. "Wrong" is any of:
* the loss is infinite or NaN;
* the loss grew more than tenfold over the best so far (the stable loss never overflows, so this is how
  a blow-up shows; the reference run itself has a harmless twofold spike near epoch 1418);
* every logit is the same: a layer of ReLUs has died, the output no longer depends on the image and no
  gradient reaches the earlier layers again (what a learning rate of 0.02 or more does to this net).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from engine import Value, no_grad
from model.losses import bce_with_logits
from model.nn import Sequential, Sigmoid, is_cat
from model.optim import SGD, Adam

OPTIMIZERS = {"sgd": SGD, "adam": Adam}


@dataclass(frozen=True)
class Record:
    """Metrics of the weights after `epoch` updates."""

    epoch: int
    train_loss: float
    test_loss: float
    train_acc: float
    test_acc: float


@dataclass(frozen=True)
class ChunkResult:
    epochs: int          # epochs gained (-1 if the chunk at once undid the previous chunk's last step)
    seconds: float
    diverged: bool = False
    message: str = ""


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows where the prediction from P(cat) = sigmoid(logit) agrees with the 0/1 label."""
    with no_grad():
        p = Value(logits, requires_grad=False).sigmoid().data
    return float(np.mean(is_cat(p) == (labels > 0.5)))


class Trainer:
    """Trains `model` (a Sequential ending in Sigmoid) in place on a `load_catvnoncat()` dataset."""

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
        self.history: list[Record] = []
        self.best_loss, self.best_epoch = np.inf, 0
        self._backup = [np.empty_like(p.data) for p in self.optimizer.params]

    @property
    def lr(self) -> float:
        return self.optimizer.lr

    @lr.setter
    def lr(self, value: float) -> None:
        self.optimizer.lr = value  # takes effect from the next step

    def run(self, epochs: int | None = None, seconds: float | None = None) -> ChunkResult:
        """Train until `epochs` more epochs are done or `seconds` have passed, whichever comes first.

        A diverged step (see the module docstring) stops the chunk and rolls the weights back to the best
        recorded ones.
        """
        if epochs is None and seconds is None:
            raise ValueError("run() needs epochs=, seconds= or both")
        start = time.perf_counter()
        deadline = start + seconds if seconds is not None else float("inf")
        first = self.epoch
        while (epochs is None or self.epoch - first < epochs) and time.perf_counter() < deadline:
            problem = self._step()
            if problem:
                message = self._roll_back(problem)
                return ChunkResult(self.epoch - first, time.perf_counter() - start, True, message)
        return ChunkResult(self.epoch - first, time.perf_counter() - start)

    def _step(self) -> str:
        """One epoch of full-batch training; returns what went wrong instead, if anything (no update)."""
        z = self.logits(self.x_train)
        loss = bce_with_logits(z, self.y_train)
        train_loss = loss.item()
        problem = self.diagnose(train_loss, z.data)
        if problem:
            return problem
        if self.epoch % self.eval_every == 0:
            if train_loss < self.best_loss:
                self.best_loss, self.best_epoch = train_loss, self.epoch
                for saved, p in zip(self._backup, self.optimizer.params):
                    np.copyto(saved, p.data)
            if not self.history or self.history[-1].epoch != self.epoch:
                self._record(train_loss, accuracy(z.data, self.y_train))
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.epoch += 1
        return ""

    def diagnose(self, loss: float, logits: np.ndarray) -> str:
        """What is wrong with weights that give this training loss and these logits ("" if nothing)."""
        if not np.isfinite(loss):
            return "the loss became infinite or NaN"
        if loss > 10 * self.best_loss:
            return f"the loss jumped from {self.best_loss:.4f} to {loss:.4g}"
        if logits.size > 1 and logits.min() == logits.max():
            return "the network died: every image gets the same output (a layer of ReLUs outputs only zeros)"
        return ""

    def _roll_back(self, problem: str) -> str:
        """Restore the kept copy of the best recorded weights; the message for the user."""
        if not np.isfinite(self.best_loss):
            return f"Cannot train from these weights: {problem}."
        for saved, p in zip(self._backup, self.optimizer.params):
            np.copyto(p.data, saved)
        self.epoch = self.best_epoch
        self.history[:] = [r for r in self.history if r.epoch <= self.epoch]
        self.optimizer.reset()  # its moments came from the steps that went wrong
        return (f"Training diverged at learning rate {self.lr:g}: {problem}. "
                f"The weights of epoch {self.epoch}, with the lowest loss so far ({self.best_loss:.4f}), "
                "were kept; try a smaller learning rate.")

    def _record(self, train_loss: float, train_acc: float) -> None:
        test_loss, test_acc = self.evaluate(self.x_test, self.y_test)
        self.history.append(Record(self.epoch, train_loss, test_loss, train_acc, test_acc))

    def evaluate(self, x, y) -> tuple[float, float]:
        """(loss, accuracy) of the current weights on (x, y), without building a graph."""
        with no_grad():
            z = self.logits(x)
            return bce_with_logits(z, y).item(), accuracy(z.data, y)

    def evaluate_train(self) -> tuple[float, float]:
        return self.evaluate(self.x_train, self.y_train)

    def inspect(self) -> tuple[Record, str]:
        """A history row for the current weights, and what the next step would refuse in them ("" if
        nothing): a caller that shows the weights between chunks learns of a broken update at once."""
        with no_grad():
            z = self.logits(self.x_train)
            train_loss = bce_with_logits(z, self.y_train).item()
        test_loss, test_acc = self.evaluate(self.x_test, self.y_test)
        record = Record(self.epoch, train_loss, test_loss, accuracy(z.data, self.y_train), test_acc)
        return record, self.diagnose(train_loss, z.data)
