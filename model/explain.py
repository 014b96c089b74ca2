"""What the model looks at: the gradient of its logit with respect to the pixels, by the engine's own backward.

A saliency map answers "which pixels would change the verdict most if they changed a little?". It is the same
backward pass as training, run from the logit instead of the loss, and into the input instead of the weights.
"""
from __future__ import annotations

import numpy as np

from engine import Value
from model.nn import Sequential, Sigmoid
from model.weights import clone_model


def saliency(model: Sequential, x) -> np.ndarray:
    """d logit / d pixels for every image (row) of x, shape (m, n_in): an array of x's shape, in the model's dtype.

    The logit is the input of the final Sigmoid. The backward pass runs through a frozen copy of the model (its
    weights need no gradient), so the model's own parameters and their `.grad` are never touched.
    """
    if not isinstance(model, Sequential) or not model.layers or not isinstance(model[-1], Sigmoid):
        raise ValueError("saliency needs a Sequential model that ends in Sigmoid (its input is the logit)")
    frozen = clone_model(model)
    for p in frozen.parameters():
        p.requires_grad = False  # no gradient work for the weights: only the pixels get one
    dtype = frozen.parameters()[0].dtype if frozen.parameters() else np.float64
    pixels = Value(np.asarray(x, dtype=dtype))  # requires_grad=True: this is what we differentiate by
    if pixels.ndim != 2:
        raise ValueError(f"saliency: x must be (images, pixels), got shape {pixels.shape}")
    logits = frozen[:-1](pixels)
    # Each image's logit depends on its own pixels only (an MLP mixes no rows), so the gradient of their
    # sum holds, row by row, every image's own d logit / d pixels: one backward pass for the whole batch.
    logits.sum().backward()
    return pixels.grad
