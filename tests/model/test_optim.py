import numpy as np
import pytest

from engine import Value
from model.nn import cat_mlp
from model.optim import SGD, Adam
from model.trainer import Trainer


def test_sgd_step():
    w = Value([1.0, 2.0])
    (w * w).sum().backward()
    SGD([w], lr=0.1).step()
    np.testing.assert_allclose(w.data, [1.0 - 0.2, 2.0 - 0.4])


def test_adam_first_step_moves_each_weight_by_about_lr():
    w = Value([1.0, -2.0, 3.0])
    (w * w * np.array([1.0, 10.0, 100.0])).sum().backward()
    Adam([w], lr=0.01).step()
    np.testing.assert_allclose(w.data, [0.99, -1.99, 2.99], rtol=1e-6)


@pytest.mark.parametrize("make", [lambda p: SGD(p, 0.1), lambda p: Adam(p, 0.1)])
def test_updates_are_in_place_and_build_no_graph(make):
    w = Value(np.ones(3, np.float32))
    data = w.data
    (w * 2).sum().backward()
    opt = make([w])
    opt.step()
    assert w.data is data and w.dtype == np.float32 and not w._parents
    opt.zero_grad()
    np.testing.assert_array_equal(w.grad, 0)


def test_adam_reduces_the_loss_faster_than_sgd_at_its_default_lr(dataset):
    losses = {}
    for name, lr in [("sgd", 0.0075), ("adam", 0.001)]:
        trainer = Trainer(cat_mlp(seed=1), dataset, lr=lr, optimizer=name)
        trainer.run(epochs=50)
        losses[name] = trainer.evaluate_train()[0]
    assert losses["adam"] < 0.9 * losses["sgd"], losses
