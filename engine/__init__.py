"""micrograd-np's autograd engine: `Value`, an ndarray with a gradient, and `no_grad()`."""
from engine.value import Value, no_grad, stable_sigmoid

__all__ = ["Value", "no_grad", "stable_sigmoid"]
