"""The behaviours of Value a user relies on, beyond the gradient of each op."""
import gc
import tracemalloc
import weakref

import numpy as np
import pytest

from engine import Value, no_grad, stable_sigmoid, unbroadcast


# ---------------------------------------------------------------- the seed's examples
@pytest.mark.parametrize(
    "expr, expected",
    [
        (lambda: Value(1) + 2, 3.0),
        (lambda: Value([1, 2, 3]) + 2, [3.0, 4.0, 5.0]),
        (lambda: Value([1, 2, 3]) * 2, [2.0, 4.0, 6.0]),
        (lambda: Value(2.0) * Value(3.0), 6.0),
        (lambda: Value(10) ** 2, 100.0),
        (lambda: -Value(10), -10.0),
    ],
)
def test_seed_examples(expr, expected):
    out = expr()
    np.testing.assert_array_equal(out.data, expected)
    assert out.data.dtype == np.float64


def test_repr_is_readable():
    assert repr(Value([1, 2, 3]) + 2) == "Value(data=[3. 4. 5.], grad=[0. 0. 0.])"


# ---------------------------------------------------------------- construction and dtypes
def test_data_is_float64_by_default_and_float32_is_kept():
    assert Value(3).dtype == np.float64
    assert Value(np.arange(3)).dtype == np.float64
    assert Value(np.ones(2, np.float32)).dtype == np.float32
    assert Value([1, 2], dtype=np.float32).dtype == np.float32


def test_float32_stays_float32_through_python_numbers():
    x = Value(np.ones((2, 2), np.float32))
    out = ((x * 2 + 1) / 3 - 0.5) ** 2
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float32


def test_mixed_dtypes_follow_numpy_promotion():
    out = Value(np.ones(2, np.float32)) + Value(np.ones(2))
    assert out.dtype == np.float64


@pytest.mark.parametrize("bad", ["abc", ["a", "b"], None, {"x": 1}, np.array(["1"]), object()])
def test_non_numeric_data_is_a_type_error(bad):
    with pytest.raises(TypeError, match="numeric"):
        Value(bad)


def test_attributes():
    x = Value(np.arange(6.0).reshape(2, 3))
    assert x.shape == (2, 3) and x.ndim == 2 and x.T.shape == (3, 2)
    assert Value(2.5).item() == 2.5
    np.testing.assert_array_equal(x.grad, np.zeros((2, 3)))
    x.grad = np.ones((2, 3))
    np.testing.assert_array_equal(x.grad, np.ones((2, 3)))


def test_ndarray_on_the_left_returns_a_value():
    x = Value([1.0, 2.0])
    for out in (np.ones(2) + x, np.ones(2) - x, np.ones(2) * x, np.ones(2) / x, np.eye(2) @ x):
        assert isinstance(out, Value)
    np.testing.assert_array_equal((np.array([5.0, 5.0]) - x).data, [4.0, 3.0])


# ---------------------------------------------------------------- backward semantics
def test_node_used_twice_sums_both_paths():
    a = Value(3.0)
    (a * a).backward()
    assert a.grad == 6.0


def test_diamond():
    a = Value(1.0)
    b = 2 * a
    c = b + b
    c.backward()
    assert a.grad == 4.0
    assert b.grad == 2.0


def test_leaf_gradients_accumulate_across_backward_calls():
    a = Value([1.0, 2.0])
    (a * 3).sum().backward()
    (a * a).sum().backward()
    np.testing.assert_array_equal(a.grad, [3 + 2, 3 + 4])


def test_backward_twice_on_one_graph_accumulates_only_in_leaves():
    a = Value(2.0)
    loss = (a * a).exp()
    loss.backward()
    first = a.grad.copy()
    loss.backward()
    np.testing.assert_allclose(a.grad, 2 * first)


def test_every_node_gets_a_grad_of_its_own_shape():
    x = Value(np.ones((4, 3)))
    w = Value(np.ones((2, 3)))
    b = Value(np.zeros(2))
    hidden = x @ w.T + b
    out = hidden.relu().sigmoid().mean(axis=0)
    loss = out.sum()
    loss.backward()
    for v in (x, w, b, hidden, out, loss):
        assert v.grad.shape == v.data.shape


def test_non_scalar_output_needs_an_explicit_grad():
    y = Value(np.ones((2, 3))) * 2
    with pytest.raises(ValueError, match=r"shape \(2, 3\).*grad="):
        y.backward()
    with pytest.raises(ValueError, match="grad has shape"):
        y.backward(np.ones(3))
    y.backward(np.full((2, 3), 0.5))


def test_size_one_output_is_seeded_with_one():
    x = Value([[2.0]])
    (x * 3).backward()
    assert x.grad.shape == (1, 1) and x.grad[0, 0] == 3.0


def test_a_chain_of_100000_ops():
    x = Value(1.0)
    y = x
    for _ in range(100_000):
        y = y * 1.0 + 0.0
    y.backward()
    assert x.grad == 1.0
    del y  # freeing a 200,000-node chain must not overflow the C stack either


def test_relu_subgradient_at_zero_is_zero():
    """At exactly 0 relu is not differentiable; like PyTorch we pass no gradient there."""
    x = Value([-1.0, 0.0, 1.0])
    x.relu().sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 1.0])


@pytest.mark.parametrize("op", ["sigmoid", "softplus"])
def test_sigmoid_and_softplus_are_stable_at_1000(op):
    with np.errstate(all="raise"):
        x = Value([-1000.0, -50.0, 0.0, 50.0, 1000.0])
        out = getattr(x, op)()
        out.mean().backward()
    if op == "sigmoid":
        np.testing.assert_allclose(out.data, [0.0, np.exp(-50), 0.5, 1.0, 1.0], rtol=1e-12)
        np.testing.assert_allclose(x.grad, [0.0, np.exp(-50) / 5, 0.05, np.exp(-50) / 5, 0.0], rtol=1e-9)
    else:
        np.testing.assert_allclose(out.data, [0.0, np.exp(-50), np.log(2), 50.0, 1000.0], rtol=1e-12)
        np.testing.assert_allclose(x.grad, [0.0, np.exp(-50) / 5, 0.1, 0.2, 0.2], rtol=1e-9)


def test_log_of_zero_is_minus_infinity_like_numpy():
    with np.errstate(divide="ignore"):
        assert Value(0.0).log().item() == -np.inf


def test_clip_passes_gradient_inside_and_on_the_bounds():
    x = Value([-2.0, -1.0, 0.0, 1.0, 2.0])
    out = x.clip(-1, 1)
    out.sum().backward()
    np.testing.assert_array_equal(out.data, [-1, -1, 0, 1, 1])
    np.testing.assert_array_equal(x.grad, [0, 1, 1, 1, 0])


# ---------------------------------------------------------------- no_grad and constants
def test_no_grad_builds_no_graph():
    w = Value(np.ones(3))
    with no_grad():
        out = (w * 2).sum()
    assert not out.requires_grad
    with pytest.raises(RuntimeError, match="no_grad"):
        out.backward()
    assert (w * 2).requires_grad  # switched back on after the block


def test_no_grad_is_restored_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with no_grad():
            _ = 1 / 0
    assert (Value(1.0) * 2).requires_grad


def test_constants_get_no_gradient_work():
    """Gradient w.r.t. a requires_grad=False input (the 12288-wide images) is never computed."""
    x = Value(np.ones((4, 5)), requires_grad=False)
    w = Value(np.ones((3, 5)))
    out = x @ w.T
    assert len(out.parents) == 1  # only w.T keeps an edge; x has none
    loss = out.sum()
    assert all(node is not x for node in loss.topological_order())
    loss.backward()
    np.testing.assert_array_equal(w.grad, np.full((3, 5), 4.0))


def test_an_op_on_constants_only_is_not_differentiable():
    assert not (Value(1.0, requires_grad=False) * 2).requires_grad


# ---------------------------------------------------------------- memory
def test_a_graph_is_freed_by_reference_counting():
    gc.disable()
    try:
        w = Value(np.ones((3, 3)))
        loss = ((w @ w).relu().sigmoid() * 2).mean()
        probe = weakref.ref(loss)
        loss.backward()
        del loss
        assert probe() is None, "the graph has a reference cycle"
    finally:
        gc.enable()


def test_memory_stays_flat_over_10000_steps():
    rng = np.random.default_rng(0)
    x = Value(rng.normal(size=(16, 8)), requires_grad=False)
    w = Value(rng.normal(size=(4, 8)) * 0.1)
    b = Value(np.zeros(4))

    def step():
        loss = ((x @ w.T + b).relu() ** 2).mean()
        loss.backward()
        w.data -= 0.01 * w.grad
        w.grad = None

    gc.disable()
    try:
        for _ in range(100):
            step()
        tracemalloc.start()
        for _ in range(10_000):
            step()
        current, _peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        gc.enable()
    assert current < 100_000, f"{current} bytes still held after 10,000 steps"


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "expr, message",
    [
        (lambda: Value(np.ones((3, 4))) @ Value(np.ones((5, 1))), r"matmul: \(3, 4\) @ \(5, 1\)"),
        (lambda: Value(np.ones((2, 2, 2))) @ Value(np.ones((2, 2))), r"matmul: \(2, 2, 2\) @ \(2, 2\)"),
        (lambda: Value(np.ones((3, 4))) + Value(np.ones(5)), r"add: shapes \(3, 4\) and \(5,\)"),
        (lambda: Value(np.ones(3)) - np.ones(2), r"sub: shapes \(3,\) and \(2,\)"),
        (lambda: Value(np.ones(3)) * np.ones(2), r"mul: shapes \(3,\) and \(2,\)"),
        (lambda: 1 / Value(np.ones((2, 3))) / np.ones(4), r"div: shapes \(2, 3\) and \(4,\)"),
        (lambda: Value(np.ones(6)).reshape(4, 2), r"reshape: cannot reshape \(6,\) into \(4, 2\)"),
        (lambda: Value(np.ones((2, 3))).transpose(0, 0), r"transpose: axes \(0, 0\)"),
    ],
)
def test_errors_name_the_op_and_the_shapes(expr, message):
    with pytest.raises(ValueError, match=message):
        expr()


def test_pow_needs_a_number_exponent():
    with pytest.raises(TypeError, match="pow"):
        Value(2.0) ** Value(3.0)


# ---------------------------------------------------------------- the stable sigmoid
def test_stable_sigmoid_is_exact_in_both_tails_and_quiet_at_1000():
    x = np.array([-1000.0, -745.0, -50.0, -1.0, 0.0, 1.0, 50.0, 1000.0])
    with np.errstate(all="raise"):
        p = stable_sigmoid(x)
    np.testing.assert_allclose(p[2:-1], 1 / (1 + np.exp(-x[2:-1])), rtol=1e-15)
    assert p[0] == 0.0 and p[-1] == 1.0 and 0 < p[1] < 1e-300  # e^-745 is the last subnormal above 0
    assert stable_sigmoid(np.float32([-3.0, 3.0])).dtype == np.float32


def test_value_sigmoid_is_stable_sigmoid_bit_for_bit():
    x = np.random.default_rng(0).normal(scale=20, size=50)
    assert np.array_equal(Value(x).sigmoid().data, stable_sigmoid(x))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("grad_shape, shape", [
    ((209, 20), (20,)), ((209, 1), (1,)), ((3, 4, 5), (4, 5)), ((3, 4, 5), (5,)), ((3, 4, 5), ()),
    ((3, 4, 5), (4, 1)), ((2, 3), (1, 3)), ((0, 5), (5,)), ((4,), ()),
])
def test_unbroadcast_sums_to_the_operands_shape_as_numpy_does(grad_shape, shape, dtype):
    grad = np.random.default_rng(0).standard_normal(grad_shape).astype(dtype)
    lead = len(grad_shape) - len(shape)
    axes = (*range(lead), *[lead + i for i, n in enumerate(shape) if n == 1 and grad_shape[lead + i] != 1])
    expected = grad.sum(axis=axes).reshape(shape)
    got = unbroadcast(grad, shape)
    assert type(got) is np.ndarray and got.shape == shape and got.dtype == dtype
    np.testing.assert_allclose(got, expected, rtol=1e-5 if dtype == np.float32 else 1e-13, atol=1e-5)
    assert got is grad or got.flags.writeable  # backward may add the next share into it


@pytest.mark.parametrize("grad_shape, shape", [((3, 2), (2, 3)), ((4,), (2, 4)), ((3, 4), (5, 4)), ((6,), (3,))])
def test_unbroadcast_refuses_a_gradient_that_cannot_belong_to_the_shape(grad_shape, shape):
    with pytest.raises(ValueError, match="cannot belong"):  # never a silent reshape of the wrong numbers
        unbroadcast(np.ones(grad_shape), shape)


def test_unbroadcast_sums_a_transposed_gradient_and_keeps_its_ones_intact():
    grad = np.random.default_rng(1).standard_normal((20, 209)).T  # (209, 20), not C-contiguous
    first = unbroadcast(grad, (20,))
    np.testing.assert_allclose(first, grad.sum(axis=0), rtol=1e-13)
    first += 1.0  # the caller owns the result: a later bias sum must not see this
    np.testing.assert_allclose(unbroadcast(grad, (20,)), grad.sum(axis=0), rtol=1e-13)


def test_mean_and_negation_are_one_node_each():
    x = Value([[1.0, 2.0], [3.0, 5.0]])
    mean, neg = x.mean(), -x
    assert (mean.op, mean.parents, mean.item()) == ("mean", (x,), 2.75)
    assert neg.op == "neg" and neg.parents == (x,)
    (mean + neg.sum()).backward()
    np.testing.assert_array_equal(x.grad, np.full((2, 2), 0.25 - 1.0))


def test_mean_over_an_axis_divides_by_that_axis_length():
    x = Value(np.arange(6.0).reshape(2, 3))
    out = x.mean(axis=1, keepdims=True)
    np.testing.assert_array_equal(out.data, [[1.0], [4.0]])
    out.backward(np.array([[3.0], [6.0]]))
    np.testing.assert_array_equal(x.grad, [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
