"""The cat task in one place: the images it takes, its two classes, its network, its decision rule and the
course's reference training recipe."""
from __future__ import annotations

import numpy as np

from engine import no_grad
from model.nn import Linear, Module, ReLU, Sequential, Sigmoid

IMAGE_SHAPE = (64, 64, 3)  # RGB photos, 64x64, as in the course's data set
INPUT_SIZE = int(np.prod(IMAGE_SHAPE))  # 12288 pixel values per image
CLASSES = ("non-cat", "cat")  # label 0, label 1
DIMS = (INPUT_SIZE, 20, 7, 5, 1)  # the course's four-layer model

# The course's reference run: full-batch SGD from the seed-1 initialization (README, "Reference numbers").
REFERENCE_OPTIMIZER = "sgd"  # a name in model.optim.OPTIMIZERS
REFERENCE_LR = 0.0075
REFERENCE_SEED = 1
REFERENCE_EPOCHS = 2500


def cat_mlp(dims=DIMS, seed: int | None = REFERENCE_SEED) -> Sequential:
    """(Linear, ReLU) x (L-1), then Linear, Sigmoid, initialized exactly as the course does.

    The course calls `np.random.seed(seed)` then draws `randn(n_out, n_in) / sqrt(n_in)` layer by layer; we
    draw the same stream from a RandomState of our own, since other sessions' threads share the global one.
    """
    rng = np.random.RandomState(seed)
    layers = []
    for n_in, n_out in zip(dims[:-1], dims[1:]):
        layers += [Linear(n_in, n_out, rng), ReLU()]
    layers[-1] = Sigmoid()
    return Sequential(*layers)


def is_cat(p_cat):
    """The decision rule, kept in this one place: P(cat) > 0.5, as the course decides."""
    return np.asarray(p_cat) > 0.5


def predict_proba(model: Module, x) -> np.ndarray:
    """P(cat) for each row of x, shape (m, 1), without building a graph."""
    with no_grad():
        return model(x).data


def predict(model: Module, x) -> np.ndarray:
    """Labels (1.0 = cat) for each row of x, shape (m, 1)."""
    return is_cat(predict_proba(model, x)).astype(float)


def fits_the_task(model: Sequential) -> bool:
    """Whether `model` maps one flattened 64x64 RGB image to one probability, as the page needs."""
    linears = model.linears()
    return bool(linears) and linears[0].n_in == INPUT_SIZE and linears[-1].n_out == 1 and isinstance(
        model.layers[-1], Sigmoid)
