"""The Trainer's step in two halves, `forward()` then `apply()`: the seam the page's backprop stepper uses."""
import numpy as np
import pytest

from model.cat import cat_mlp
from model.trainer import Trainer


def trainer_pair(dataset, lr=0.0075, **kwargs):
    return (Trainer(cat_mlp(seed=1), dataset, lr=lr, **kwargs),
            Trainer(cat_mlp(seed=1), dataset, lr=lr, **kwargs))


def same_weights(a: Trainer, b: Trainer) -> bool:
    return all(np.array_equal(p.data, q.data) for p, q in zip(a.model.parameters(), b.model.parameters()))


@pytest.mark.parametrize("optimizer, lr", [("sgd", 0.0075), ("adam", 0.0001)])
def test_forward_then_apply_is_exactly_one_epoch_of_run(dataset, optimizer, lr):
    """12 epochs, so two of them record a history row (epochs 0 and 10)."""
    stepped, ran = trainer_pair(dataset, lr, optimizer=optimizer, dtype=np.float32)
    for _ in range(12):
        assert stepped.apply(stepped.forward()) is None
    ran.run(epochs=12)
    assert stepped.epoch == ran.epoch == 12
    assert stepped.history == ran.history and [r.epoch for r in ran.history] == [0, 10]
    assert same_weights(stepped, ran)


def test_apply_after_a_walked_backward_pass_matches_a_plain_step(dataset):
    """backward_steps() run to the end by hand, then apply(backward=False): the same update, bit for bit."""
    walked, plain = trainer_pair(dataset)
    pending = walked.forward()
    visited = list(pending.backward_steps())
    assert len(visited) == len(pending.loss.topological_order())
    walked.apply(pending, backward=False)
    plain.run(epochs=1)
    assert same_weights(walked, plain)


def test_a_half_walked_step_is_still_applied_correctly(dataset):
    """apply() with backward=True zeroes the partial sums a half-finished walk left, then runs backward."""
    walked, plain = trainer_pair(dataset)
    pending = walked.forward()
    steps = pending.loss.backward_steps()
    for _ in range(10):  # past the first linear layer: its parameters hold their shares already
        next(steps)
    walked.apply(pending)
    plain.run(epochs=1)
    assert same_weights(walked, plain)


def test_a_walk_starts_from_zeroed_gradients_so_it_shows_only_this_step(dataset):
    trainer = Trainer(cat_mlp(seed=1), dataset, lr=0.0075)
    trainer.run(epochs=1)
    assert any(p.grad.any() for p in trainer.model.parameters())  # the last step's gradients
    pending = trainer.forward()
    assert any(p.grad.any() for p in trainer.model.parameters())  # still there: the page draws them
    steps = pending.backward_steps()
    assert not any(p.grad.any() for p in trainer.model.parameters())
    for _ in steps:
        pass
    fresh = Trainer(cat_mlp(seed=1), dataset, lr=0.0075)
    fresh.run(epochs=1)
    again = fresh.forward()
    fresh.optimizer.zero_grad()
    again.loss.backward()  # a plain backward from zero: the walk must leave exactly these
    for p, q in zip(trainer.model.parameters(), fresh.model.parameters()):
        np.testing.assert_array_equal(p.grad, q.grad)


def test_a_pending_step_goes_stale_when_the_weights_change(dataset):
    trainer = Trainer(cat_mlp(seed=1), dataset, lr=0.0075)
    pending = trainer.forward()
    assert trainer.is_current(pending)
    trainer.run(epochs=1)
    assert not trainer.is_current(pending)
    with pytest.raises(ValueError, match="changed since"):
        trainer.apply(pending)
    other = Trainer(cat_mlp(seed=1), dataset, lr=0.0075)
    assert not other.is_current(trainer.forward())  # another Trainer's step is never current


def test_a_step_is_applied_once(dataset):
    trainer = Trainer(cat_mlp(seed=1), dataset, lr=0.0075)
    pending = trainer.forward()
    trainer.apply(pending)
    with pytest.raises(ValueError):
        trainer.apply(pending)
    assert trainer.epoch == 1


def test_run_step_checks_and_rolls_back_like_run(dataset):
    """A pending step whose update breaks the network is rolled back, as a chunk of run() would be."""
    trainer = Trainer(cat_mlp(seed=1), dataset, lr=0.0075)
    trainer.run(epochs=1)  # a recorded epoch 0 to roll back to
    trainer.lr = 1e6
    result = trainer.run_step(trainer.forward())
    assert result.diverged and "diverged" in result.message
    assert trainer.epoch == 0 and result.current.epoch == 0
    assert np.isfinite(result.current.train_loss)
