"""Fused ops with their own VJPs: one graph node where the composed version would take several.

`linear` keeps its own VJP so no transposed copy of W and no gradient for the constant input batch is ever
made; `bce_with_logits` so the loss is exact for any finite logit and its gradient is simply (p - y) / m.
"""
import numpy as np

from engine import Value, sigmoid_parts, unbroadcast


def linear(x: Value, weight: Value, bias: Value) -> Value:
    """x @ weight.T + bias as one node, with the textbook gradients: dx = g @ W, dW = g.T @ x, db = sum(g)."""
    X, W, bias_shape = x.data, weight.data, bias.data.shape
    return Value.from_op(
        "linear", X @ W.T + bias.data,
        (x, lambda g: g @ W),
        (weight, lambda g: g.T @ X),
        (bias, lambda g: unbroadcast(g, bias_shape)),  # the bias was broadcast over the batch: sum it back
    )


def bce_with_logits(logits: Value, targets) -> Value:
    """Mean binary cross-entropy of sigmoid(logits) against 0/1 targets, as one stable node.

    softplus(z) - y z = max(z, 0) - y z + log1p(e^-|z|) is exact even for logits of +-1000.
    """
    z = logits.data
    y = targets.data if isinstance(targets, Value) else np.asarray(targets, dtype=z.dtype)
    if y.shape != z.shape:
        raise ValueError(f"bce_with_logits: logits {z.shape} and targets {y.shape} differ in shape")
    m = z.shape[0] if z.ndim else 1
    p, e, _ = sigmoid_parts(z)  # e = e^-|z|: one exponential for the loss and its gradient
    with np.errstate(under="ignore"):
        loss = (np.maximum(z, 0) - y * z + np.log1p(e)).sum() / m
    return Value.from_op("bce_with_logits", loss, (logits, lambda g: g * (p - y) / m))


def binary_cross_entropy(probabilities: Value, targets, eps: float = 1e-12) -> Value:
    """Mean BCE of probabilities in [0, 1], composed from primitives; clipped to [eps, 1 - eps] to stay finite."""
    p = probabilities.clip(eps, 1 - eps)
    y = targets.data if isinstance(targets, Value) else targets
    m = p.shape[0] if p.ndim else 1
    return -(y * p.log() + (1 - y) * (1 - p).log()).sum() / m
