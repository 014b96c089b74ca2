"""micrograd-np's autograd engine: `Value` (an ndarray with a gradient), `no_grad()`, the one stable sigmoid
(`stable_sigmoid`, and `sigmoid_parts` for ops that reuse its exponential) and `unbroadcast`."""
from engine.value import Value, no_grad, sigmoid_parts, stable_sigmoid, unbroadcast

__all__ = ["Value", "no_grad", "sigmoid_parts", "stable_sigmoid", "unbroadcast"]
