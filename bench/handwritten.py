"""The reference the engine is judged against: the course's L-layer MLP in plain NumPy.

Same layout and conventions as `model.nn` (inputs (batch, features), W (n_out, n_in), b (n_out,),
Z = A @ W.T + b), so both do exactly the same arithmetic. It does only what a careful person would
write by hand: no graph, no gradient for the input images, and an in-place SGD update.
"""
from __future__ import annotations

import numpy as np


def params_from_state(state: dict, dtype=np.float64) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(W, b), ...] copied out of a `Sequential.state_dict()` ("0.weight", "0.bias", "2.weight", ...)."""
    layers = sorted({int(name.split(".")[0]) for name in state})
    return [(np.array(state[f"{i}.weight"], dtype=dtype), np.array(state[f"{i}.bias"], dtype=dtype))
            for i in layers]


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def forward(params, X: np.ndarray) -> tuple[np.ndarray, list]:
    """Probabilities (m, 1) and the activations each layer saw (for backward): ReLU layers, then sigmoid."""
    A, inputs = X, []
    for i, (W, b) in enumerate(params):
        inputs.append(A)
        Z = A @ W.T + b
        A = np.maximum(Z, 0) if i < len(params) - 1 else sigmoid(Z)
    return A, inputs


def cost(A: np.ndarray, Y: np.ndarray) -> float:
    """Binary cross-entropy, mean over the batch (the course's formula)."""
    return float(-np.mean(Y * np.log(A) + (1 - Y) * np.log(1 - A)))


def step(params, X: np.ndarray, Y: np.ndarray, lr: float) -> float:
    """One full-batch gradient-descent step, in place; returns the cost before the update."""
    A, inputs = forward(params, X)
    J = cost(A, Y)
    dZ = (A - Y) / X.shape[0]  # sigmoid + BCE together
    for i in reversed(range(len(params))):
        W, b = params[i]
        A_prev = inputs[i]
        dW, db = dZ.T @ A_prev, dZ.sum(axis=0)
        if i > 0:  # the input images need no gradient
            dZ = (dZ @ W) * (A_prev > 0)  # A_prev = relu(Z_prev): its mask is the ReLU derivative
        W -= lr * dW
        b -= lr * db
    return J


def predict_proba(params, X: np.ndarray) -> np.ndarray:
    return forward(params, X)[0]
