"""Every op, gradchecked over a table of shapes, including every broadcasting case a layer meets."""
import numpy as np
import pytest

from tests.engine.gradcheck import check_grads

rng = np.random.default_rng(0)


def normal(*shape):
    return rng.normal(size=shape)


def positive(*shape):
    return rng.uniform(0.5, 2.0, size=shape)


def away_from_kinks(*shape):
    """Values with |x| in [0.2, 0.4] or [0.6, 1.0]: away from relu's 0 and clip(-0.5, 0.5)'s bounds."""
    magnitude = np.where(rng.random(shape) < 0.5, rng.uniform(0.2, 0.4, shape), rng.uniform(0.6, 1.0, shape))
    return magnitude * rng.choice([-1.0, 1.0], size=shape)


BROADCAST_PAIRS = [
    ((), (3, 4)),        # scalar with matrix
    ((3, 4), ()),
    ((3, 1), (1, 4)),    # both sides expand
    ((4,), (3, 4)),      # missing leading axis
    ((3, 4), (4,)),      # bias (n,) on (batch, n)
    ((5, 3), (1, 3)),    # bias (1, n) on (batch, n)
    ((1,), (5, 4)),
    ((5, 4), (1,)),
    ((2, 3), (2, 3)),
    ((2, 1, 3), (4, 1)),  # 3-D with broadcasting on both sides
]

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
}


@pytest.mark.parametrize("op", BINARY)
@pytest.mark.parametrize("shapes", BROADCAST_PAIRS, ids=str)
def test_binary_ops_broadcast(op, shapes):
    a_shape, b_shape = shapes
    b = positive(*b_shape) if op == "div" else normal(*b_shape)
    out = check_grads(BINARY[op], normal(*a_shape), b)
    assert out.shape == np.broadcast_shapes(a_shape, b_shape)


CONSTANT_OPERAND = {
    "x + 2": lambda x: x + 2,
    "2 + x": lambda x: 2 + x,
    "x - 1.5": lambda x: x - 1.5,
    "2 - x": lambda x: 2 - x,
    "3 * x": lambda x: 3 * x,
    "x * 3": lambda x: x * 3,
    "x / 4": lambda x: x / 4,
    "1 / x": lambda x: 1 / x,
    "x * array": lambda x: x * np.arange(1.0, 5.0),
    "array - x": lambda x: np.arange(1.0, 5.0) - x,
    "array / x": lambda x: np.arange(1.0, 5.0) / x,
    "x + column": lambda x: x + np.ones((3, 1)),
}


@pytest.mark.parametrize("expr", CONSTANT_OPERAND)
def test_numbers_and_arrays_on_either_side(expr):
    check_grads(CONSTANT_OPERAND[expr], positive(3, 4))


UNARY = {
    "neg": (lambda x: -x, normal),
    "pow 2": (lambda x: x**2, normal),
    "pow 3": (lambda x: x**3, normal),
    "pow -1": (lambda x: x**-1, positive),
    "pow 0.5": (lambda x: x**0.5, positive),
    "exp": (lambda x: x.exp(), normal),
    "log": (lambda x: x.log(), positive),
    "tanh": (lambda x: x.tanh(), normal),
    "sigmoid": (lambda x: x.sigmoid(), normal),
    "softplus": (lambda x: x.softplus(), normal),
    "relu": (lambda x: x.relu(), away_from_kinks),
    "clip": (lambda x: x.clip(-0.5, 0.5), away_from_kinks),
    "clip lo only": (lambda x: x.clip(-0.5, None), away_from_kinks),
}


@pytest.mark.parametrize("op", UNARY)
@pytest.mark.parametrize("shape", [(), (4,), (3, 4)], ids=str)
def test_elementwise_ops(op, shape):
    f, sample = UNARY[op]
    check_grads(f, sample(*shape))


def test_sigmoid_and_softplus_for_large_inputs():
    x = np.array([-30.0, -8.0, 8.0, 30.0])
    check_grads(lambda v: v.sigmoid(), x)
    check_grads(lambda v: v.softplus(), x)


AXES = [None, 0, -1, 1, (0, 2), (0, 1, 2), (-1, 0)]


@pytest.mark.parametrize("reduce", ["sum", "mean"])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions(reduce, axis, keepdims):
    a = normal(2, 3, 4)
    out = check_grads(lambda x: getattr(x, reduce)(axis=axis, keepdims=keepdims), a)
    np.testing.assert_allclose(out.data, getattr(a, reduce)(axis=axis, keepdims=keepdims))


@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_reductions_of_vectors_and_scalars(reduce):
    check_grads(lambda x: getattr(x, reduce)(), normal(5))
    check_grads(lambda x: getattr(x, reduce)(axis=0), normal(5))
    check_grads(lambda x: getattr(x, reduce)(), normal())


MATMUL_SHAPES = [
    ((5, 3), (3, 2)),   # (b, k) @ (k, n)
    ((4, 3), (3,)),     # (k, n) @ (n,)
    ((3,), (3, 2)),     # (k,) @ (k, n)
    ((3,), (3,)),       # dot product
    ((1, 3), (3, 1)),
]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul(shapes):
    a, b = normal(*shapes[0]), normal(*shapes[1])
    out = check_grads(lambda x, y: x @ y, a, b)
    np.testing.assert_allclose(out.data, a @ b)


def test_matmul_with_a_constant_on_either_side():
    w = normal(3, 2)
    check_grads(lambda x: x @ w, normal(4, 3))
    check_grads(lambda x: w.T @ x, normal(3, 4))


SHAPE_OPS = {
    "reshape varargs": lambda x: x.reshape(4, 3),
    "reshape tuple": lambda x: x.reshape((2, -1)),
    "transpose": lambda x: x.transpose(),
    "T": lambda x: x.T,
    "transpose axes": lambda x: x.reshape(2, 3, 2).transpose(2, 0, 1),
    "transpose tuple": lambda x: x.reshape(2, 3, 2).transpose((1, 2, 0)),
    "transpose negative axes": lambda x: x.reshape(2, 3, 2).transpose(-1, 0, 1),
    "getitem int": lambda x: x[1],
    "getitem slice": lambda x: x[:, 1:3],
    "getitem step": lambda x: x[::2, ::-1],
    "getitem mixed": lambda x: x[1:, 2],
    "getitem int array, repeats": lambda x: x[[0, 2, 0, 0]],
    "getitem fancy pairs, repeats": lambda x: x[[0, 1, 1], [3, 0, 0]],
    "getitem bool mask": lambda x: x[np.arange(12).reshape(3, 4) % 3 == 0],
}


@pytest.mark.parametrize("op", SHAPE_OPS)
def test_shape_ops(op):
    check_grads(SHAPE_OPS[op], normal(3, 4))


def test_a_composite_layer_and_loss():
    """A linear layer with a (n,) bias, relu, sigmoid and a mean BCE: every op of the cat model at once."""
    x, y = normal(6, 4), (rng.random((6, 1)) < 0.5).astype(float)

    def model(w1, b1, w2, b2):
        p = ((x @ w1.T + b1).relu() @ w2.T + b2).sigmoid()
        return -(y * p.log() + (1 - y) * (1 - p).log()).mean()

    check_grads(model, normal(3, 4), normal(3), normal(1, 3), normal(1))
