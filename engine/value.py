"""A scalar-free autograd engine: every `Value` holds a whole NumPy array.

Each op computes its result with NumPy and records, for every operand that needs a gradient, a
vector-Jacobian product (VJP): a small function from the gradient of the result to the gradient of
that operand. `backward()` visits the graph in reverse topological order (the reverse of the order the
nodes were made in) and feeds each node's gradient through its VJPs. Two rules keep it correct and fast:

* Broadcasting: a VJP returns a gradient of the *result's* shape; `unbroadcast` (the one place that
  knows about broadcasting) sums it back to the operand's own shape.
* No wasted work: VJPs are stored per operand and only operands with `requires_grad` keep theirs, so
  a constant input (the 12288-wide images) never has a gradient computed.

VJP closures capture arrays, never the result `Value`, so a graph has no reference cycles and is
freed by reference counting as soon as the loss goes out of scope.

A parameter's big zeroed gradient is replaced by the new share rather than added into (`_zeroed`), and
any other sum is taken in place only in an array that nothing else references (`_sole_holder`): no
array a user or another node holds ever changes under them. No two leaves share a gradient's memory
(`_own_memory`), so a user may change one parameter's `.grad` in place.
"""
from __future__ import annotations

import collections
import contextlib
import contextvars
import functools
import itertools
import operator
import sys
from numbers import Real

import numpy as np

_grad_enabled = contextvars.ContextVar("grad_enabled", default=True)
_births = itertools.count()  # every node's birth number: an op's operands are always older than its result


@contextlib.contextmanager
def no_grad():
    """Build no graph inside this block (evaluation, optimizer updates).

    A context variable rather than a global: Streamlit runs every session in its own thread, and one
    visitor's evaluation must not switch off another visitor's training.
    """
    token = _grad_enabled.set(False)
    try:
        yield
    finally:
        _grad_enabled.reset(token)


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum `grad` down to `shape`: over leading axes broadcasting added, and over axes that were 1."""
    if grad.shape == shape:
        return grad
    if grad.ndim == 2 and grad.shape[1:] == shape:  # a bias's batch of rows: one BLAS call, ~3x np.sum's speed
        return _ones(len(grad), grad.dtype) @ grad
    lead = grad.ndim - len(shape)
    if lead < 0 or any(n != 1 and n != m for n, m in zip(shape, grad.shape[lead:])):
        raise ValueError(f"unbroadcast: a gradient of shape {grad.shape} cannot belong to an operand of shape {shape}")
    axes = (*range(lead), *[lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1])
    return np.add.reduce(grad, axis=axes, keepdims=True).reshape(shape)  # keepdims: an array even for ()


@functools.lru_cache(maxsize=16)
def _ones(n: int, dtype: np.dtype) -> np.ndarray:
    """A read-only vector of n ones: summing rows as `ones @ rows` (one per batch size and dtype in use)."""
    ones = np.ones(n, dtype)
    ones.flags.writeable = False
    return ones


def stable_sigmoid(a: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-a) for any finite a: built from e^-|a|, so nothing overflows (underflow to 0 is harmless)."""
    return sigmoid_parts(a)[0]


def sigmoid_parts(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """sigmoid(a), e = e^-|a| and 1 + e: the sigmoid's VJP, softplus and the logits' BCE reuse the exponential."""
    with np.errstate(under="ignore"):
        e = np.exp(-np.abs(a))
        one_plus_e = 1 + e
        # the numerator exp(min(a, 0)) is 1 for a >= 0 and e for a < 0, bit for bit, and quicker than a where()
        return np.exp(np.minimum(a, 0)) / one_plus_e, e, one_plus_e


def _as_array(data, dtype=None) -> np.ndarray:
    """Validated float array: float64 unless `dtype` is given or `data` is a float32 array already."""
    if dtype is None:
        dtype = np.float32 if isinstance(data, np.ndarray) and data.dtype == np.float32 else np.float64
    probe = data if isinstance(data, np.ndarray) else np.asarray(data)
    if probe.dtype.kind not in "biuf":
        raise TypeError(f"Value needs numeric data, got {probe.dtype} ({type(data).__name__})")
    return np.asarray(probe, dtype=dtype)


_FLOATS = (np.float32, np.float64)  # the dtypes a Value's data can have


def _operand(x):
    """The raw operand of a binary op: a Value's array, a Python number as-is, anything else as an array.

    Python numbers stay Python numbers so NumPy treats them as weakly typed: float32 * 2 stays float32.
    """
    if isinstance(x, Value):
        return x.data
    if type(x) is float or type(x) is int:  # the common numbers before the (slow) abstract Real check
        return x
    if type(x) is np.ndarray and x.dtype.type in _FLOATS:  # already what `_as_array` would make
        return x
    if isinstance(x, Real) and not isinstance(x, np.ndarray):
        return x
    return _as_array(x)


def _binary_op(name: str, fn, a, b):
    """`fn(a, b)` for a binary NumPy function; a shape mismatch names the op and both shapes."""
    try:
        return fn(a, b)
    except ValueError:
        raise ValueError(f"{name}: shapes {np.shape(a)} and {np.shape(b)} do not broadcast") from None


def _pass_on(g):
    """The VJP of add (and of sub's first operand): the gradient passes through unchanged."""
    return g


def _reverse_axes(g):
    """The VJP of `.T`: reversing all axes again undoes it."""
    return g.T


def _spread(g, shape: tuple, axis, keepdims: bool) -> np.ndarray:
    """The VJP of a sum over `axis`: every element that went into the sum gets the result's gradient g.

    A writable array of `shape` (not a broadcast view), so backward may add the next share into it.
    """
    full = np.empty(shape, dtype=g.dtype)
    if axis is None and not keepdims:  # the sum of everything: g is one number, and fill is the quickest way in
        full.fill(g)
    else:
        full[...] = g if keepdims else np.expand_dims(g, axis)  # g with the summed axes back in place
    return full


class Value:
    """An ndarray-valued node of the computation graph, with its gradient."""

    __slots__ = ("data", "_grad", "requires_grad", "_parents", "_op", "_birth", "__weakref__")
    __array_ufunc__ = None  # make `ndarray + Value` call Value.__radd__ instead of looping in NumPy

    def __init__(self, data, requires_grad: bool = True, dtype=None):
        self.data = _as_array(data.data if isinstance(data, Value) else data, dtype)
        self._grad = None
        self.requires_grad = bool(requires_grad)
        self._parents = ()  # ((parent, vjp), ...) for parents that need a gradient
        self._op = ""
        self._birth = next(_births)

    @classmethod
    def from_op(cls, op: str, data, *edges) -> Value:
        """A result node: `data` computed by op `op`, and `(operand, vjp)` edges for its operands.

        Operands that are not Values, or need no gradient, are dropped here; so is the whole graph under
        `no_grad()`. Fused ops outside this module (a linear layer, a loss) are built with this.
        """
        out = cls.__new__(cls)
        out.data = data if type(data) is np.ndarray else np.asarray(data)
        out._grad = None
        out._op = op
        out._birth = next(_births)
        parents = ()
        if _grad_enabled.get():
            for edge in edges:  # a loop, not a comprehension: this runs for every node of every step
                operand = edge[0]
                # the exact type first: isinstance's subclass check is the slower test, needed only for the rest
                if (type(operand) is Value or isinstance(operand, Value)) and operand.requires_grad:
                    parents += (edge,)
        out._parents = parents
        out.requires_grad = parents != ()
        return out

    # ---------------------------------------------------------------- attributes
    @property
    def grad(self) -> np.ndarray:
        """d(output)/d(self) after `backward()`; zeros before. Stored lazily to skip zero-filling.

        Assign None, or an array of data's shape, to reset it. Backward adds into the array in place
        only while nothing but this Value refers to it; an array you keep a reference to is never changed.
        """
        if self._grad is None:
            return np.zeros_like(self.data)
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            value = np.asarray(value, dtype=self.data.dtype)
            if value.shape != self.data.shape:
                raise ValueError(f"grad: shape {value.shape} does not match the data's {self.data.shape}")
        self._grad = value

    @property
    def op(self) -> str:
        """The name of the op that made this node ("matmul", "add", ...); "" for a leaf."""
        return self._op

    @property
    def parents(self) -> tuple:
        """The operands that receive a gradient from this node; () for leaves and constants."""
        return tuple(parent for parent, _ in self._parents)

    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    dtype = property(lambda self: self.data.dtype)

    @property
    def T(self):
        """All axes reversed: a permutation that is its own inverse, so the VJP reverses them back."""
        return Value.from_op("transpose", self.data.T, (self, _reverse_axes))

    def item(self) -> float:
        return self.data.item()

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"

    # ---------------------------------------------------------------- arithmetic
    def __add__(self, other):
        a, b = self.data, _operand(other)
        return Value.from_op("add", _binary_op("add", np.add, a, b), (self, _pass_on), (other, _pass_on))

    # sub and div keep their own VJPs instead of a + (-b) and a * b**-1: one node, a shape error that
    # names the op the user wrote, and a / b rounds once where a * b**-1 rounds twice.
    def __sub__(self, other):
        a, b = self.data, _operand(other)
        return Value.from_op("sub", _binary_op("sub", np.subtract, a, b), (self, _pass_on), (other, np.negative))

    def __rsub__(self, other):
        a, b = _operand(other), self.data
        return Value.from_op("sub", _binary_op("sub", np.subtract, a, b), (self, np.negative))

    def __mul__(self, other):
        a, b = self.data, _operand(other)
        return Value.from_op("mul", _binary_op("mul", np.multiply, a, b),
                             (self, lambda g: g * b), (other, lambda g: g * a))

    def __truediv__(self, other):
        a, b = self.data, _operand(other)
        out = _binary_op("div", np.divide, a, b)
        return Value.from_op("div", out, (self, lambda g: g / b), (other, lambda g: -g * out / b))

    def __rtruediv__(self, other):
        a, b = _operand(other), self.data
        out = _binary_op("div", np.divide, a, b)
        return Value.from_op("div", out, (self, lambda g: -g * out / b))

    __radd__ = __add__
    __rmul__ = __mul__

    def __neg__(self):  # its own op: np.negative is exact and its VJP is np.negative again, no closure
        return Value.from_op("neg", np.negative(self.data), (self, np.negative))

    def __pow__(self, p):
        if isinstance(p, Value) or not isinstance(p, Real):
            raise TypeError(f"pow: the exponent must be a number, got {type(p).__name__}")
        a = self.data
        return Value.from_op("pow", a**p, (self, lambda g: g * p * a ** (p - 1)))

    def __matmul__(self, other):
        other = other if isinstance(other, Value) else Value(other, requires_grad=False)
        a, b = self.data, other.data
        if a.ndim not in (1, 2) or b.ndim not in (1, 2) or a.shape[-1] != b.shape[0]:
            raise ValueError(f"matmul: {a.shape} @ {b.shape}")
        if a.ndim == 1:  # a row vector, as NumPy reads it, and the row axis dropped again
            return (self.reshape(1, -1) @ other).reshape(b.shape[1:])
        if b.ndim == 1:  # a column vector
            return (self @ other.reshape(-1, 1)).reshape(a.shape[:-1])
        # For `x @ W.T` (b a transposed view of W) compute b's gradient as (g.T @ a).T: then W's
        # gradient comes out laid out like W, and the optimizer's `W -= lr * grad` does not stride.
        layout = b.flags  # one flags object: each `.flags` makes a new one
        b_transposed = layout.f_contiguous and not layout.c_contiguous
        return Value.from_op(
            "matmul", a @ b,
            (self, lambda g: g @ b.T),
            (other, (lambda g: (g.T @ a).T) if b_transposed else (lambda g: a.T @ g)),
        )

    def __rmatmul__(self, other):
        return Value(other, requires_grad=False) @ self

    # ---------------------------------------------------------------- reductions
    def sum(self, axis=None, keepdims: bool = False):
        a = self.data
        return Value.from_op("sum", np.add.reduce(a, axis=axis, keepdims=keepdims),
                             (self, lambda g: _spread(g, a.shape, axis, keepdims)))

    def mean(self, axis=None, keepdims: bool = False):
        """The sum over `axis` divided by the count; its own op rather than sum * (1/n): one node, one rounding."""
        a = self.data
        total = np.add.reduce(a, axis=axis, keepdims=keepdims)
        n = a.size // total.size if total.size else 1  # how many elements each result averages
        return Value.from_op("mean", total / n, (self, lambda g: _spread(g / n, a.shape, axis, keepdims)))

    # ---------------------------------------------------------------- elementwise
    def exp(self):
        out = np.exp(self.data)
        return Value.from_op("exp", out, (self, lambda g: g * out))

    def log(self):
        """Natural log; log(0) is -inf as in NumPy (losses clip or use logits instead)."""
        a = self.data
        return Value.from_op("log", np.log(a), (self, lambda g: g / a))

    def tanh(self):
        """tanh(x), its own op: from exp, (e^2x - 1) / (e^2x + 1) would overflow for x > 354."""
        t = np.tanh(self.data)
        return Value.from_op("tanh", t, (self, lambda g: g * (1 - t * t)))

    def sigmoid(self):
        """1 / (1 + e^-x) by `stable_sigmoid`; its own op, since built from exp it would overflow below -709."""
        s, e, one_plus_e = sigmoid_parts(self.data)

        # s(1 - s) as e / (1 + e)^2, precise in both tails; it cannot underflow (it is e itself when
        # 1 + e rounds to 1, else above eps / 8), so unlike the forward pass it needs no errstate
        def vjp(g):
            return g * (e / one_plus_e**2)

        return Value.from_op("sigmoid", s, (self, vjp))

    def softplus(self):
        """log(1 + e^x) = max(x, 0) + log1p(e^-|x|): exact for large |x|; its derivative is sigmoid."""
        a = self.data
        s, e, _ = sigmoid_parts(a)
        with np.errstate(under="ignore"):
            out = np.maximum(a, 0) + np.log1p(e)
        return Value.from_op("softplus", out, (self, lambda g: g * s))

    def relu(self):
        """max(x, 0). At exactly 0 we use the subgradient 0, as PyTorch does.

        The gradient's mask is sign(out): 1 where x > 0, 0 elsewhere (NaN where x is NaN), and a float, so
        g * mask needs no cast from bool, the slowest part of `g * (x > 0)`.
        """
        out = np.maximum(self.data, 0)
        return Value.from_op("relu", out, (self, lambda g: g * np.sign(out)))

    def clip(self, lo=None, hi=None):
        """Clamp to [lo, hi]; the gradient passes where lo <= x <= hi (boundaries included).

        Its own op: as lo + relu(x - lo) - relu(x - hi) it would pass no gradient at x = lo.
        """
        a = self.data
        keep = np.ones(a.shape, dtype=bool)
        if lo is not None:
            keep &= a >= lo
        if hi is not None:
            keep &= a <= hi
        return Value.from_op("clip", np.clip(a, lo, hi), (self, lambda g: g * keep))

    # ---------------------------------------------------------------- shape
    def reshape(self, *shape):
        a = self.data
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        try:
            out = a.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape {a.shape} into {tuple(shape)}") from None
        return Value.from_op("reshape", out, (self, lambda g: g.reshape(a.shape)))

    def transpose(self, *axes):
        a = self.data
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = axes[0]
        if not axes:
            return self.T
        axes = tuple(axes)
        try:
            out = a.transpose(axes)
        except ValueError:
            raise ValueError(f"transpose: axes {axes} do not fit shape {a.shape}") from None
        axes = tuple(axis % a.ndim for axis in axes)  # -1 is the last axis, as NumPy reads it
        inverse = tuple(sorted(range(len(axes)), key=axes.__getitem__))
        return Value.from_op("transpose", out, (self, lambda g: g.transpose(inverse)))

    def __getitem__(self, index):
        """Basic and integer-array indexing; repeated indices accumulate their gradients."""
        a = self.data
        index = index.data if isinstance(index, Value) else index

        def vjp(g):
            full = np.zeros_like(a, dtype=g.dtype)
            np.add.at(full, index, g)
            return full

        return Value.from_op("getitem", a[index], (self, vjp))

    # ---------------------------------------------------------------- backward
    def _seed_gradient(self, grad) -> np.ndarray:
        """The gradient backward starts from: 1 for a size-1 output, else the caller's, checked."""
        if not self.requires_grad:
            raise RuntimeError(
                "backward: this Value is not part of a graph (built under no_grad() or from "
                "values with requires_grad=False)"
            )
        if grad is None:
            if self.data.size != 1:
                raise ValueError(
                    f"backward: output has shape {self.data.shape}; pass grad= of that shape "
                    "(or reduce it with .sum() or .mean() first)"
                )
            # not np.ones_like, a Python function: 0.4 us against 0.9 hot, and cold at every backward's start
            grad = np.empty_like(self.data)
            grad.fill(1)
        else:
            grad = np.array(grad, dtype=self.data.dtype)
            if grad.shape != self.data.shape:
                raise ValueError(f"backward: grad has shape {grad.shape}, output has {self.data.shape}")
        return grad

    def backward(self, grad=None) -> None:
        """Fill `.grad` of every node this one depends on, by reverse-mode differentiation.

        Leaves accumulate across calls (zero them between steps); intermediate gradients are recomputed.
        This is `backward_steps()` run to the end: one code path for the page's stepper and for training.
        """
        collections.deque(self.backward_steps(grad), maxlen=0)  # run the walk to its end, keeping nothing

    def backward_steps(self, grad=None):
        """`backward()` one node at a time: yields each node of `topological_order()` in reverse (self
        first), right after its gradient, now complete, has been passed on to its parents."""
        seed = self._seed_gradient(grad)  # errors are raised at the call, not at the first next()
        return self._walk_backward(seed)

    def _walk_backward(self, grad):
        order = self.topological_order()
        for node in order:
            if node._parents:
                node._grad = None  # intermediate gradients are recomputed, never accumulated
        leaf_memory = set()  # the arrays leaves' gradients live in: no two leaves may share one
        _accumulate(self, grad, leaf_memory)
        for node in reversed(order):
            g = node._grad
            for parent, vjp in node._parents:
                _accumulate(parent, vjp(g), leaf_memory)
            yield node

    def topological_order(self) -> list:
        """Every node this one depends on that needs a gradient, operands before results, self last.

        An op's operands always exist before its result, so the nodes sorted by birth are in such an
        order: the order the graph was built in. Iterative, so a chain of 100,000 ops is fine.
        """
        order, seen = [self], {self}
        see, keep = seen.add, order.append  # bound once: this runs for every node of every step
        for node in order:  # the list grows as we go: every node found is visited once, in the same loop
            for parent, _ in node._parents:
                if parent not in seen:
                    see(parent)
                    keep(parent)
        order.sort(key=_birth_of)
        return order


_birth_of = operator.attrgetter("_birth")


def _accumulate(node: Value, grad, leaf_memory: set) -> None:
    """Add `grad` into `node._grad`, reduced to the node's shape and dtype; the first one is assigned.

    A leaf's big zeroed gradient is replaced (`_zeroed`), by a copy if another leaf holds that memory
    (`_own_memory`); otherwise the sum is made in place when `node` is the sole holder of its gradient,
    else as a new array that leaves the old one as others saw it.
    The zeroed buffer lives until its replacement exists: dropped any earlier, glibc hands a float64
    W1's 2 MB back to the OS and the share faults it in again (~970 page faults a step, +35%).
    """
    data = node.data
    if type(grad) is not np.ndarray:
        grad = np.asarray(grad)  # a NumPy scalar, from an op on 0-d arrays
    if grad.shape != data.shape:
        grad = unbroadcast(grad, data.shape)
    if grad.dtype is not data.dtype and grad.dtype != data.dtype:  # built-in dtypes are singletons: `is` is quick
        grad = grad.astype(data.dtype)
    if node._grad is None:
        node._grad = grad if node._parents else _own_memory(grad, leaf_memory)
    elif not node._parents and _zeroed(node._grad):
        node._grad = _own_memory(grad, leaf_memory)  # 0 + g is g: a parameter's zeroed gradient is replaced
    elif _sole_holder(node):
        np.add(node._grad, grad, out=node._grad)
    else:
        node._grad = np.asarray(node._grad + grad)  # asarray: NumPy sums 0-d arrays to a scalar


def _own_memory(grad: np.ndarray, leaf_memory: set) -> np.ndarray:
    """`grad`, or a copy if another leaf's gradient already lives in its memory: add hands both operands
    the same g, and `a.grad[...] = 0` must not also clear `b.grad`. Leaves then own their gradients."""
    memory = id(grad if grad.base is None else grad.base)  # a view's base is the array that owns the memory
    if memory in leaf_memory:
        return grad.copy()
    leaf_memory.add(memory)
    return grad


_SCAN_FROM_BYTES = 1 << 16  # below this a NumPy call costs more than the pass over memory it saves


def _zeroed(a: np.ndarray) -> bool:
    """True if a big gradient is all +0.0, as `p.grad[...] = 0` or `p.grad = np.zeros_like(p.data)` leave it.

    One read of the raw bytes instead of an add's two reads and a write. Replacing it by g rather than
    adding keeps g's -0.0 as -0.0 (0.0 + -0.0 is 0.0), just as `p.grad = None` does.
    """
    if a.nbytes < _SCAN_FROM_BYTES or not a.flags.c_contiguous or a.item(0) != 0:  # a real sum: no pass
        return False
    return not a.reshape(-1).view(np.uint8).max()


def _sole_holder(node: Value) -> bool:
    """True if nothing but `node` refers to its gradient's memory: not the user, another node, or a view.

    A VJP may hand the same array to two nodes (add passes g on unchanged), and a user may keep the
    array they assigned; both show in CPython's reference count, as PyTorch's use_count does for it.
    """
    # 2 references: node's own slot and getrefcount's argument. Never bind node._grad to a local
    # before this call: the local would count too (harmless: the answer would just be False).
    if sys.getrefcount(node._grad) != 2:
        return False
    flags = node._grad.flags
    return flags.owndata and flags.writeable
