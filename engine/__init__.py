"""micrograd-np's autograd engine: `Value` (an ndarray with a gradient), `no_grad()` and `stable_sigmoid()`."""
from engine.value import Value, no_grad, sigmoid_parts, stable_sigmoid, unbroadcast

__all__ = ["Value", "no_grad", "sigmoid_parts", "stable_sigmoid", "unbroadcast"]
