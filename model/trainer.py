"""Full-batch training in chunks, so a caller (the app, the CLI) can draw between chunks.

One step is: forward on the 209 training images (the last Sigmoid folded into a stable
BCE-with-logits), `loss.backward()`, optimizer update. Every `eval_every` epochs the step also records
a row of history (train loss from that very forward pass, test loss and both accuracies from a
no-graph pass over the test set, which never touches the gradient).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from engine import Value, no_grad
from model.losses import bce_with_logits
from model.nn import Sequential, Sigmoid
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
    epochs: int          # epochs trained in this chunk
    seconds: float
    diverged: bool = False
    message: str = ""


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows where P(cat) = sigmoid(logit) > 0.5 agrees with the 0/1 label."""
    with no_grad():
        p = Value(logits, requires_grad=False).sigmoid().data
    return float(np.mean((p > 0.5) == (labels > 0.5)))


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
        self._backup = [np.empty_like(p.data) for p in self.optimizer.params]

    @property
    def lr(self) -> float:
        return self.optimizer.lr

    @lr.setter
    def lr(self, value: float) -> None:
        self.optimizer.lr = value  # takes effect from the next step

    def run(self, epochs: int | None = None, seconds: float | None = None) -> ChunkResult:
        """Train until `epochs` more epochs are done or `seconds` have passed, whichever comes first.

        A non-finite loss stops the chunk and rolls the weights back to the last ones whose loss was
        finite (kept by a copy before each update: ~0.5% of a step).
        """
        if epochs is None and seconds is None:
            raise ValueError("run() needs epochs=, seconds= or both")
        start = time.perf_counter()
        deadline = start + seconds if seconds is not None else float("inf")
        done = 0
        while (epochs is None or done < epochs) and time.perf_counter() < deadline:
            if not self._step():
                return ChunkResult(done, time.perf_counter() - start, diverged=True, message=self._diverged())
            done += 1
        if self.epoch % self.eval_every == 0 and (not self.history or self.history[-1].epoch != self.epoch):
            self._record(*self.evaluate_train())
        return ChunkResult(done, time.perf_counter() - start)

    def _step(self) -> bool:
        """One epoch of full-batch training; False (and no update) if the loss is not finite."""
        z = self.logits(self.x_train)
        loss = bce_with_logits(z, self.y_train)
        train_loss = loss.item()
        if not np.isfinite(train_loss):
            return False
        if self.epoch % self.eval_every == 0:
            self._record(train_loss, accuracy(z.data, self.y_train))
        self.optimizer.zero_grad()
        loss.backward()
        for saved, p in zip(self._backup, self.optimizer.params):
            np.copyto(saved, p.data)
        self.optimizer.step()
        self.epoch += 1
        return True

    def _diverged(self) -> str:
        if self.epoch == 0:
            return "The loss is not finite for the starting weights; nothing was trained."
        for saved, p in zip(self._backup, self.optimizer.params):
            np.copyto(p.data, saved)
        self.epoch -= 1
        self.optimizer.reset()
        return (f"Training diverged at learning rate {self.lr:g}: the loss became infinite or NaN. "
                f"The weights of epoch {self.epoch}, the last with a finite loss, were kept; "
                "try a smaller learning rate.")

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
