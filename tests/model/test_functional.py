import numpy as np
import pytest

from engine import Value
from model.functional import bce_with_logits, binary_cross_entropy
from tests.engine.gradcheck import check_grads

Y = np.array([[1.0], [0.0], [1.0], [0.0]])


def textbook_bce(p, y):
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


def test_logits_form_equals_the_textbook_formula():
    z = np.array([[2.0], [-1.0], [0.3], [0.7]])
    p = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(bce_with_logits(Value(z), Y).item(), textbook_bce(p, Y), rtol=1e-14)
    np.testing.assert_allclose(binary_cross_entropy(Value(p), Y).item(), textbook_bce(p, Y), rtol=1e-14)


def test_gradients():
    z = np.array([[2.0], [-1.0], [0.3], [0.7]])
    check_grads(lambda v: bce_with_logits(v, Y), z)
    check_grads(lambda v: binary_cross_entropy(v, Y), 1 / (1 + np.exp(-z)))


@pytest.mark.parametrize("scale", [50.0, 1000.0, 1e300])
def test_saturated_logits_stay_finite_with_exact_gradients(scale):
    z = Value(np.array([[scale], [scale], [-scale], [-scale]]))
    with np.errstate(all="raise"):
        loss = bce_with_logits(z, Y)
        loss.backward()
    # Confident and right costs ~0, confident and wrong costs |z|; the gradient is (p - y) / m.
    np.testing.assert_allclose(loss.item(), 2 * scale / 4, rtol=1e-12)
    np.testing.assert_allclose(z.grad, [[0.0], [0.25], [-0.25], [0.0]], atol=1e-15)


def test_probabilities_of_exactly_zero_and_one_stay_finite():
    p = Value(np.array([[1.0], [0.0], [0.0], [1.0]]))
    loss = binary_cross_entropy(p, Y)
    loss.backward()
    assert np.isfinite(loss.item()) and np.isfinite(p.grad).all()
    np.testing.assert_allclose(loss.item(), -np.log(1e-12) / 2, rtol=1e-6)


def test_float32_stays_float32():
    loss = bce_with_logits(Value(np.zeros((4, 1), np.float32)), Y.astype(np.float32))
    assert loss.dtype == np.float32


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match=r"logits \(4, 1\) and targets \(4,\)"):
        bce_with_logits(Value(np.zeros((4, 1))), np.zeros(4))
