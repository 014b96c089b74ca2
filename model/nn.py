"""Layers in PyTorch's conventions: inputs are (batch, features), `Linear` holds weight (out, in).

To add a layer: subclass Module, then list it in LAYERS so weight files can name and rebuild it.
"""
from __future__ import annotations

import numpy as np

from engine import Value
from model.functional import linear


class Module:
    """Something with parameters that maps a Value to a Value."""

    def __call__(self, x) -> Value:
        """Run the layer; an ndarray input is a constant, so no gradient is ever computed for it."""
        return self.forward(x if isinstance(x, Value) else Value(x, requires_grad=False))

    def forward(self, x: Value) -> Value:
        raise NotImplementedError

    def named_parameters(self) -> list[tuple[str, Value]]:
        return []

    def parameters(self) -> list[Value]:
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None  # reads as zeros; the next backward assigns instead of adding to zeros

    def state_dict(self) -> dict[str, np.ndarray]:
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict) -> None:
        """Copy arrays into the parameters; names and shapes must match exactly (nothing is half-loaded)."""
        params = dict(self.named_parameters())
        if set(state) != set(params):
            missing, extra = sorted(set(params) - set(state)), sorted(set(state) - set(params))
            raise ValueError(f"state dict does not fit the model: missing {missing}, unexpected {extra}")
        for name, p in params.items():
            if np.shape(state[name]) != p.data.shape:
                raise ValueError(f"{name}: expected shape {p.data.shape}, got {np.shape(state[name])}")
        for name, p in params.items():
            p.data = np.array(state[name], dtype=p.data.dtype)
            p.grad = None

    def astype(self, dtype) -> Module:
        """Convert every parameter to `dtype` (float32 trains about twice as fast), in place."""
        for p in self.parameters():
            p.data = p.data.astype(dtype)
            p.grad = None
        return self


class Linear(Module):
    """y = x @ weight.T + bias, with weight (n_out, n_in) drawn as randn / sqrt(n_in) (the course's init)."""

    def __init__(self, n_in: int, n_out: int, rng: np.random.RandomState | None = None):
        rng = np.random.RandomState() if rng is None else rng
        self.weight = Value(rng.standard_normal((n_out, n_in)) / np.sqrt(n_in))
        self.bias = Value(np.zeros(n_out))

    @property
    def n_in(self) -> int:
        return self.weight.shape[1]

    @property
    def n_out(self) -> int:
        return self.weight.shape[0]

    def forward(self, x: Value) -> Value:
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise ValueError(f"Linear({self.n_in}, {self.n_out}): expected input (batch, {self.n_in}), got {x.shape}")
        return linear(x, self.weight, self.bias)

    def named_parameters(self):
        return [("weight", self.weight), ("bias", self.bias)]

    def __repr__(self) -> str:
        return f"Linear({self.n_in}, {self.n_out})"


class ReLU(Module):
    def forward(self, x: Value) -> Value:
        return x.relu()

    def __repr__(self) -> str:
        return "ReLU()"


class Sigmoid(Module):
    def forward(self, x: Value) -> Value:
        return x.sigmoid()

    def __repr__(self) -> str:
        return "Sigmoid()"


class Sequential(Module):
    """Layers applied in order; slicing gives a Sequential sharing the same layers (`model[:-1]`)."""

    def __init__(self, *layers: Module):
        self.layers = list(layers)

    def forward(self, x: Value) -> Value:
        for layer in self.layers:
            x = layer(x)
        return x

    def named_parameters(self):
        return [(f"{i}.{name}", p) for i, layer in enumerate(self.layers) for name, p in layer.named_parameters()]

    def linears(self) -> list[Linear]:
        """The layers with weights, input side first (the activations between them have none)."""
        return [layer for layer in self.layers if isinstance(layer, Linear)]

    def __getitem__(self, index):
        return Sequential(*self.layers[index]) if isinstance(index, slice) else self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)

    def __repr__(self) -> str:
        return "Sequential(" + ", ".join(map(repr, self.layers)) + ")"


# Every layer a weight file may name, by the name it is stored under (model/weights.py builds from this).
LAYERS = {layer.__name__: layer for layer in (Linear, ReLU, Sigmoid)}
