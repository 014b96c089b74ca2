"""Central-difference gradient checking, in float64, with a non-uniform upstream gradient."""
import numpy as np

from engine import Value, no_grad

EPS, ATOL, RTOL = 1e-6, 1e-5, 1e-3


def _objective(out: Value) -> Value:
    """A scalar whose gradient w.r.t. `out` is 2(out + 1): different for every element, so a VJP that
    sums, transposes or broadcasts the wrong way cannot pass by accident (a plain .sum() would seed ones)."""
    return ((out + 1) ** 2).sum()


def check_grads(f, *arrays):
    """Assert that backprop through `f(*Values)` matches central differences for every input element."""
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    inputs = [Value(a.copy()) for a in arrays]
    out = f(*inputs)
    _objective(out).backward()

    for i, (x, a) in enumerate(zip(inputs, arrays)):
        assert x.grad.shape == a.shape, f"input {i}: grad shape {x.grad.shape} != data shape {a.shape}"
        numeric = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            numeric[idx] = (_loss_at(f, arrays, i, idx, +EPS) - _loss_at(f, arrays, i, idx, -EPS)) / (2 * EPS)
        np.testing.assert_allclose(x.grad, numeric, atol=ATOL, rtol=RTOL, err_msg=f"input {i}")
    return out


def _loss_at(f, arrays, i, idx, delta) -> float:
    moved = [a.copy() for a in arrays]
    moved[i][idx] += delta
    with no_grad():
        return _objective(f(*[Value(m) for m in moved])).item()
