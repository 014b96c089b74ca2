import copy

import numpy as np
import pytest

from engine import Value
from model.cat import cat_mlp, predict, predict_proba
from model.functional import linear
from model.nn import Linear, ReLU, Sequential, Sigmoid
from tests.engine.gradcheck import check_grads


def test_cat_mlp_architecture():
    model = cat_mlp()
    assert [type(layer) for layer in model.layers] == [Linear, ReLU, Linear, ReLU, Linear, ReLU, Linear, Sigmoid]
    assert [p.shape for p in model.parameters()] == [
        (20, 12288), (20,), (7, 20), (7,), (5, 7), (5,), (1, 5), (1,)]


def test_cat_mlp_uses_the_reference_initialization():
    """np.random.seed(1), then randn(n_out, n_in) / sqrt(n_in) layer by layer, zero biases."""
    state = np.random.get_state()
    try:
        np.random.seed(1)
        expected = [np.random.randn(o, i) / np.sqrt(i) for i, o in [(12288, 20), (20, 7), (7, 5), (5, 1)]]
    finally:
        np.random.set_state(state)
    model = cat_mlp(seed=1)
    for layer, w in zip(model.layers[::2], expected):
        np.testing.assert_array_equal(layer.weight.data, w)
        np.testing.assert_array_equal(layer.bias.data, 0)


def test_cat_mlp_does_not_touch_the_global_random_state():
    before = np.random.get_state()[1].copy()
    cat_mlp(seed=3)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_linear_follows_pytorch_conventions():
    layer = Linear(4, 3, np.random.RandomState(0))
    x = np.random.default_rng(0).normal(size=(5, 4))
    np.testing.assert_allclose(layer(x).data, x @ layer.weight.data.T + layer.bias.data)


def test_fused_linear_gradients():
    rng = np.random.default_rng(2)
    check_grads(linear, rng.normal(size=(5, 4)), rng.normal(size=(3, 4)), rng.normal(size=3))


def test_an_ndarray_input_is_a_constant():
    layer = Linear(4, 3)
    out = layer(np.ones((2, 4)))
    assert list(out.parents) == [layer.weight, layer.bias]  # no edge to the input


def test_linear_rejects_a_wrong_input_width():
    with pytest.raises(ValueError, match=r"Linear\(4, 3\): expected input \(batch, 4\), got \(2, 5\)"):
        Linear(4, 3)(np.ones((2, 5)))


def test_parameters_keep_their_shape_for_any_batch_size():
    """The original micrograd-np bug: a bias broadcast to the training batch could not take another."""
    model = cat_mlp(dims=(6, 4, 1))
    x = np.random.default_rng(0).normal(size=(209, 6))
    model(x).mean().backward()
    shapes = [p.shape for p in model.parameters()]
    for batch in (50, 1):
        assert predict_proba(model, x[:batch]).shape == (batch, 1)
    assert [p.shape for p in model.parameters()] == shapes


def test_zero_grad_reads_as_zeros():
    model = cat_mlp(dims=(3, 2, 1))
    model(np.ones((4, 3))).sum().backward()
    model.zero_grad()
    for p in model.parameters():
        np.testing.assert_array_equal(p.grad, np.zeros(p.shape))


def test_state_dict_round_trip_and_checks():
    a, b = cat_mlp(dims=(3, 2, 1), seed=1), cat_mlp(dims=(3, 2, 1), seed=2)
    state = a.state_dict()
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    b.load_state_dict(state)
    x = np.ones((2, 3))
    np.testing.assert_array_equal(predict_proba(a, x), predict_proba(b, x))
    state["0.weight"][:] = 7  # a copy: the model is unchanged
    assert not (a.layers[0].weight.data == 7).any()
    with pytest.raises(ValueError, match=r"missing \['2.bias'\]"):
        b.load_state_dict({k: v for k, v in a.state_dict().items() if k != "2.bias"})
    with pytest.raises(ValueError, match=r"0.weight: expected shape \(2, 3\), got \(3, 2\)"):
        b.load_state_dict({**a.state_dict(), "0.weight": np.ones((3, 2))})


def test_deepcopy_gives_an_independent_model():
    a = cat_mlp(dims=(3, 2, 1))
    b = copy.deepcopy(a)
    b.layers[0].weight.data += 1
    assert not np.array_equal(a.layers[0].weight.data, b.layers[0].weight.data)


def test_astype_and_slicing():
    model = cat_mlp(dims=(3, 2, 1)).astype(np.float32)
    assert all(p.dtype == np.float32 for p in model.parameters())
    head = model[:-1]
    assert isinstance(head, Sequential) and head.layers == model.layers[:-1]
    x = np.ones((2, 3), np.float32)
    np.testing.assert_allclose(Value(head(x).data).sigmoid().data, predict_proba(model, x))
    np.testing.assert_array_equal(predict(model, x), predict_proba(model, x) > 0.5)
