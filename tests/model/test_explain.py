"""model.explain.saliency: d logit / d pixels by the engine's own backward, checked against central differences in
float64, and never a trace left on the model's parameters."""
from __future__ import annotations

import numpy as np
import pytest

from engine import no_grad
from model import saliency
from model.cat import INPUT_SIZE, cat_mlp
from model.nn import Linear, ReLU, Sequential
from model.trainer import Trainer
from tests.engine.gradcheck import ATOL, EPS, RTOL, check_grads


def logits(model, x: np.ndarray) -> np.ndarray:
    """The input of the final Sigmoid, shape (m,), computed without a graph."""
    with no_grad():
        return model[:-1](x).data.reshape(-1)


def central_differences(model, x: np.ndarray, pixels=None) -> np.ndarray:
    """d logit_i / d x_ij by central differences, for every image i and each pixel j of `pixels` (default: all).
    Also asserts that moving image i's pixels leaves every other image's logit exactly alone."""
    pixels = range(x.shape[1]) if pixels is None else pixels
    numeric = np.zeros((len(x), len(pixels)))
    for i in range(len(x)):
        others = np.arange(len(x)) != i
        for k, j in enumerate(pixels):
            up, down = x.copy(), x.copy()
            up[i, j] += EPS
            down[i, j] -= EPS
            after_up, after_down = logits(model, up), logits(model, down)
            numeric[i, k] = (after_up[i] - after_down[i]) / (2 * EPS)
            np.testing.assert_array_equal(after_up[others], after_down[others])
    return numeric


def test_saliency_matches_central_differences_on_a_small_network():
    model = cat_mlp(dims=(12, 6, 4, 1), seed=3)
    x = np.random.default_rng(0).uniform(0, 1, (3, 12))
    assert 0 < np.mean(model[:2](x).data > 0) < 1  # some ReLUs on, some off: the masks are part of the check
    np.testing.assert_allclose(saliency(model, x), central_differences(model, x), atol=ATOL, rtol=RTOL)


def test_saliency_of_the_cat_network_matches_central_differences(dataset):
    """The real 12288-20-7-5-1 network (seed-1 init, trained a little), on two test photos: a sample of pixels."""
    model = cat_mlp(seed=1)
    Trainer(model, dataset, lr=0.0075).run(epochs=20)
    x = dataset.x_test[:2]
    pixels = np.random.default_rng(1).choice(INPUT_SIZE, size=48, replace=False)
    gradient = saliency(model, x)
    assert gradient.shape == x.shape == (2, INPUT_SIZE) and gradient.dtype == np.float64
    np.testing.assert_allclose(gradient[:, pixels], central_differences(model, x, pixels), atol=ATOL, rtol=RTOL)


def test_the_engines_input_gradient_through_the_network_passes_gradcheck():
    """The backward pass saliency relies on, checked with the engine's helper (a non-uniform upstream gradient)."""
    model = cat_mlp(dims=(10, 5, 3, 1), seed=4)
    check_grads(lambda x: model[:-1](x), np.random.default_rng(2).uniform(0, 1, (4, 10)))


def grad_state(model) -> list[tuple[np.ndarray, bool]]:
    """Each parameter's gradient as public API shows it, and whether one is stored: an unset gradient reads as
    fresh zeros on every access, a stored one is the same array each time."""
    return [(p.grad.copy(), p.grad is p.grad) for p in model.parameters()]


def test_saliency_leaves_the_parameters_and_their_gradients_exactly_as_they_were(dataset):
    model = cat_mlp(seed=1)
    trainer = Trainer(model, dataset, lr=0.0075)
    trainer.run(epochs=3)  # the last step left its gradients on the parameters
    grads = [p.grad for p in model.parameters()]
    before, weights = grad_state(model), [p.data.copy() for p in model.parameters()]
    assert all(stored for _, stored in before) and any(g.any() for g, _ in before)

    saliency(model, dataset.x_test[:5])

    for p, grad, (values, stored), data in zip(model.parameters(), grads, before, weights):
        assert p.grad is grad and stored and p.requires_grad  # the very same arrays, still stored
        np.testing.assert_array_equal(p.grad, values)
        np.testing.assert_array_equal(p.data, data)


def test_saliency_leaves_unset_gradients_unset():
    model = cat_mlp(dims=(12, 6, 1), seed=0)
    assert not any(stored for _, stored in grad_state(model))
    saliency(model, np.full((2, 12), 0.5))
    assert not any(stored for _, stored in grad_state(model))
    assert all(not g.any() for g, _ in grad_state(model))


def test_saliency_between_chunks_does_not_change_training(dataset):
    plain, explained = (Trainer(cat_mlp(seed=1), dataset, lr=0.0075) for _ in range(2))
    plain.run(epochs=6)
    explained.run(epochs=3)
    saliency(explained.model, dataset.x_train[:4])
    explained.run(epochs=3)
    for p, q in zip(plain.model.parameters(), explained.model.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
        np.testing.assert_array_equal(p.grad, q.grad)


def test_a_float32_model_gives_a_float32_map_of_the_same_shape(dataset):
    model64 = cat_mlp(seed=1)
    model32 = cat_mlp(seed=1).astype(np.float32)
    x = dataset.x_test[:3]
    gradient = saliency(model32, x)
    assert gradient.shape == (3, INPUT_SIZE) and gradient.dtype == np.float32
    reference = saliency(model64, x)
    np.testing.assert_allclose(gradient, reference, rtol=1e-3, atol=1e-4 * np.abs(reference).max())


def test_bad_input_gets_a_clear_error():
    with pytest.raises(ValueError, match="ends in Sigmoid"):
        saliency(Sequential(Linear(4, 1), ReLU()), np.zeros((1, 4)))
    with pytest.raises(ValueError, match=r"\(images, pixels\)"):
        saliency(cat_mlp(dims=(4, 2, 1)), np.zeros(4))
    with pytest.raises(ValueError, match="expected input"):
        saliency(cat_mlp(dims=(4, 2, 1)), np.zeros((1, 5)))
