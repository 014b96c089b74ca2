"""Training reproduces the course's reference numbers (README, "Reference numbers") and behaves well in chunks."""
import dataclasses

import numpy as np
import pytest

from model.cat import cat_mlp, predict
from model.trainer import Divergence, Trainer


def cost_at(trainer, epoch):
    return next(r.train_loss for r in trainer.history if r.epoch == epoch)


def test_reference_costs_at_epochs_0_and_100(dataset):
    trainer = Trainer(cat_mlp(seed=1), dataset, lr=0.0075)
    trainer.run(epochs=101)
    assert cost_at(trainer, 0) == pytest.approx(0.771749, abs=1e-6)
    assert cost_at(trainer, 100) == pytest.approx(0.672053, abs=1e-6)


def test_the_full_2500_epoch_reference_run(dataset):
    """The course's table, to the printed digits: ~15 s, and the proof that engine and model are right."""
    trainer = Trainer(cat_mlp(seed=1), dataset, lr=0.0075)
    trainer.run(epochs=2500)
    assert cost_at(trainer, 2400) == pytest.approx(0.092878, abs=1e-6)
    assert trainer.epoch == 2500
    assert trainer.evaluate_train()[1] == pytest.approx(206 / 209)
    assert trainer.evaluate(dataset.x_test, dataset.y_test)[1] == pytest.approx(40 / 50)
    # A model trained on the batch of 209 predicts batches of 50 and of 1 unchanged.
    batch = predict(trainer.model, dataset.x_test)
    single = np.vstack([predict(trainer.model, dataset.x_test[i : i + 1]) for i in range(50)])
    np.testing.assert_array_equal(batch, single)
    assert np.mean(batch == dataset.y_test) == pytest.approx(0.80)


def test_float32_trains_in_float32_and_tracks_float64(dataset):
    t32 = Trainer(cat_mlp(seed=1), dataset, lr=0.0075, dtype=np.float32)
    t64 = Trainer(cat_mlp(seed=1), dataset, lr=0.0075)
    t32.run(epochs=101)
    t64.run(epochs=101)
    assert all(p.dtype == np.float32 for p in t32.model.parameters())
    assert cost_at(t32, 100) == pytest.approx(cost_at(t64, 100), abs=1e-5)


def test_chunks_do_not_change_the_result(dataset):
    one = Trainer(cat_mlp(seed=1), dataset, lr=0.0075)
    one.run(epochs=30)
    many = Trainer(cat_mlp(seed=1), dataset, lr=0.0075)
    for size in (7, 1, 12, 10):
        many.run(epochs=size)
    assert many.epoch == one.epoch == 30
    assert [r.epoch for r in many.history] == [0, 10, 20]  # rows come from steps: 30 is the next one's
    assert many.history == one.history
    for a, b in zip(one.model.parameters(), many.model.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_a_chunks_check_is_the_next_steps_forward_pass(dataset, monkeypatch):
    """Checking the weights a chunk leaves costs no pass over the training images of its own: the next
    chunk starts from that forward pass. Once the weights change under it, it is not used."""
    import model.trainer as trainer_module

    passes = []
    real = trainer_module.forward_through
    monkeypatch.setattr(trainer_module, "forward_through", lambda *args: passes.append(1) or real(*args))
    trainer = Trainer(cat_mlp(seed=1), dataset, lr=0.0075)
    first = trainer.run(epochs=10)
    second = trainer.run(epochs=10)
    assert len(passes) == 10 + 1 + 9 + 1  # ten steps and the check, then nine steps and the check
    assert second.current.epoch == 20
    assert first.current == dataclasses.replace(trainer.history[1], health=None)  # the step's own numbers

    trainer.apply(trainer.forward())  # a step taken outside run(): the kept forward pass is stale now
    passes.clear()
    trainer.run(epochs=1)
    assert len(passes) == 2


def test_a_chunk_is_bounded_by_seconds(dataset):
    trainer = Trainer(cat_mlp(seed=1), dataset, lr=0.0075)
    result = trainer.run(seconds=0.05)
    assert 1 <= result.epochs == trainer.epoch
    assert result.seconds < 1.0
    with pytest.raises(ValueError, match="epochs=, seconds="):
        trainer.run()


def test_the_test_set_never_enters_the_gradient(dataset):
    scrambled = dataclasses.replace(dataset, x_test=np.random.default_rng(0).random(dataset.x_test.shape))
    a = Trainer(cat_mlp(seed=1), dataset, lr=0.0075)
    b = Trainer(cat_mlp(seed=1), scrambled, lr=0.0075)
    a.run(epochs=25)
    b.run(epochs=25)
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    assert [r.train_loss for r in a.history] == [r.train_loss for r in b.history]
    assert [r.test_loss for r in a.history] != [r.test_loss for r in b.history]


def test_the_learning_rate_can_change_between_chunks(dataset):
    trainer = Trainer(cat_mlp(seed=1), dataset, lr=0.0075)
    trainer.run(epochs=5)
    trainer.lr = 0.0
    before = [p.data.copy() for p in trainer.model.parameters()]
    trainer.run(epochs=3)
    for p, b in zip(trainer.model.parameters(), before):
        np.testing.assert_array_equal(p.data, b)


def assert_weights_equal(a, b):
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        np.testing.assert_array_equal(p.data, q.data)


@pytest.mark.parametrize(
    "optimizer, lr, symptom",
    [("sgd", 5.0, "loss jumped"), ("sgd", 1.0, "network died"), ("sgd", 0.05, "network died"),
     ("adam", 0.01, "network died")],
)
def test_divergence_stops_and_keeps_the_last_good_weights(dataset, optimizer, lr, symptom):
    trainer = Trainer(cat_mlp(seed=1), dataset, lr=lr, optimizer=optimizer)
    result = trainer.run(epochs=300)
    assert result.diverged and result.epochs == trainer.epoch
    assert symptom in result.message and "try a smaller learning rate" in result.message
    assert f"epoch {trainer.epoch}, with the lowest loss so far" in result.message
    assert trainer.epoch == trainer.best.epoch and all(r.epoch <= trainer.epoch for r in trainer.history)
    # The weights kept are exactly those after `trainer.epoch` updates, replayed from scratch.
    replay = Trainer(cat_mlp(seed=1), dataset, lr=lr, optimizer=optimizer)
    replay.run(epochs=trainer.epoch)
    assert_weights_equal(trainer, replay)
    assert trainer.evaluate_train()[0] == pytest.approx(trainer.best.loss, rel=1e-12)
    # The weights kept pass every check themselves: a step of size 0 from them is fine.
    trainer.lr = 0.0
    assert not trainer.run(epochs=2).diverged


def test_a_non_finite_loss_rolls_back_to_the_best_recorded_epoch(dataset):
    trainer = Trainer(cat_mlp(seed=1), dataset, lr=0.0075)
    trainer.run(epochs=13)
    trainer.lr = float("nan")
    result = trainer.run(epochs=3)
    assert result.diverged and "infinite or NaN" in result.message
    assert trainer.epoch == 10 and result.epochs == -3
    replay = Trainer(cat_mlp(seed=1), dataset, lr=0.0075)
    replay.run(epochs=10)
    assert_weights_equal(trainer, replay)


def test_unusable_starting_weights_are_reported(dataset):
    model = cat_mlp(seed=1)
    model.layers[0].weight.data[0, 0] = np.nan
    result = Trainer(model, dataset, lr=0.0075).run(epochs=5)
    assert result.diverged and result.epochs == 0
    assert result.message.startswith("Cannot train from these weights")


def test_the_model_must_end_in_sigmoid(dataset):
    with pytest.raises(ValueError, match="Sigmoid"):
        Trainer(cat_mlp(seed=1)[:-1], dataset, lr=0.1)
    with pytest.raises(ValueError, match="optimizer"):
        Trainer(cat_mlp(seed=1), dataset, lr=0.1, optimizer="rmsprop")


# --- layer health: recorded from the step the Trainer takes anyway -------------------------------


def hand_step_health(model, dataset, lr):
    """One SGD step by hand on a copy, as the Trainer's first recorded step should see it."""
    from model.functional import bce_with_logits
    from model.nn import Linear, ReLU
    from model.weights import clone_model

    copy = clone_model(model)
    out, relus = dataset.x_train, []
    for layer in copy[:-1].layers:
        out = layer(out)
        if isinstance(layer, ReLU):
            relus.append(out.data)
    bce_with_logits(out, dataset.y_train).backward()
    linears = [layer for layer in copy.layers if isinstance(layer, Linear)]
    grad_norm = [np.linalg.norm(layer.weight.grad) for layer in linears]
    update_ratio = [lr * np.linalg.norm(layer.weight.grad) / np.linalg.norm(layer.weight.data) for layer in linears]
    dead = [np.mean(np.all(h == 0, axis=0)) for h in relus]
    return grad_norm, update_ratio, dead


def test_layer_health_is_recorded_at_the_history_cadence_from_the_step_itself(dataset):
    model = cat_mlp(seed=1)
    grad_norm, update_ratio, dead = hand_step_health(model, dataset, lr=0.0075)
    trainer = Trainer(model, dataset, lr=0.0075, eval_every=5)
    trainer.run(epochs=12)
    assert [r.epoch for r in trainer.history] == [0, 5, 10]
    health = trainer.history[0].health
    assert len(health.grad_norm) == len(health.update_ratio) == 4 and len(health.dead_share) == 3
    np.testing.assert_allclose(health.grad_norm, grad_norm, rtol=1e-12)
    np.testing.assert_allclose(health.update_ratio, update_ratio, rtol=1e-9)  # SGD: ||lr g|| / ||W||
    assert health.dead_share == pytest.approx(dead) and health.dead_share[0] == 0.0
    assert all(r.health is not None for r in trainer.history) and trainer.inspect().health is None


def test_dead_units_read_dead_and_get_no_gradient(dataset):
    model = cat_mlp(seed=1)
    model.layers[0].bias.data[:5] = -1e3  # 5 of the 20 first-layer units can never fire
    trainer = Trainer(model, dataset, lr=0.0075)
    before = model.layers[0].weight.data[:5].copy()
    result = trainer.run(epochs=11)
    assert not result.diverged
    assert all(r.health.dead_share[0] == 0.25 for r in trainer.history)
    assert not model.layers[0].weight.grad[:5].any()  # no gradient reaches a dead unit...
    np.testing.assert_array_equal(model.layers[0].weight.data[:5], before)  # ...so it never learns


def test_a_dead_network_reads_100_percent_dead(dataset):
    model = cat_mlp(seed=1)
    model.layers[0].bias.data[:] = -1e3  # every first-layer unit outputs 0 for every image
    trainer = Trainer(model, dataset, lr=0.0075)
    result = trainer.run(epochs=5)
    assert result.diverged and "network died" in result.message and trainer.history == []
    broken = trainer.rolled_back[-1]
    assert broken.epoch == 0 and broken.health.dead_share == (1.0, 1.0, 1.0)  # nothing downstream fires either
    assert broken.health.grad_norm == () and np.isnan(broken.test_loss)  # no step was taken from these weights


@pytest.mark.parametrize("optimizer, lr", [("adam", 1e-3), ("sgd", 1.0)])
def test_a_dying_network_shows_in_its_health_before_its_loss(dataset, optimizer, lr):
    """The two classic deaths (Adam from a fresh start, SGD at lr 1): the loss never rises above where it started,
    but the health records show the network dying: oversized updates, then dead units, until a layer is all dead."""
    trainer = Trainer(cat_mlp(seed=1), dataset, lr=lr, optimizer=optimizer)
    result = trainer.run(epochs=300)
    assert result.stop.name == "DIED"
    start, undone = trainer.history[0], trainer.rolled_back
    every_loss = [r.train_loss for r in trainer.history + undone]
    assert max(every_loss) <= start.train_loss  # the loss has not noticed anything
    assert start.health.update_ratio[0] > 0.1  # the first step moves layer 1 by over 10% of its size
    assert undone and undone[-1].epoch > trainer.epoch and max(undone[-1].health.dead_share) == 1.0
    if optimizer == "adam":  # it dies slowly enough for the kept records to show it too
        assert trainer.history[-1].health.dead_share[0] >= 0.5


def test_a_roll_back_drops_the_gradients_and_the_next_chunk_forgets_it(dataset):
    trainer = Trainer(cat_mlp(seed=1), dataset, lr=1.0)
    assert trainer.run(epochs=20).diverged and trainer.rolled_back
    assert not any(p.grad.any() for p in trainer.model.parameters())  # they came from steps undone
    trainer.lr = 0.0075
    assert not trainer.run(epochs=3).diverged and trainer.rolled_back == []


def test_the_first_step_after_a_roll_back_replaces_the_record_of_the_undone_one(dataset):
    """The record at the kept epoch held the update of the step that broke the network; the step taken from there
    next is the one that happened."""
    trainer = Trainer(cat_mlp(seed=1), dataset, lr=1.0)
    assert trainer.run(epochs=20).diverged and trainer.epoch == 0
    undone_update = trainer.history[0].health.update_ratio[0]
    trainer.lr = 0.0075
    trainer.run(epochs=3)
    assert [r.epoch for r in trainer.history] == [0]
    assert undone_update > 1 and trainer.history[0].health.update_ratio[0] == pytest.approx(0.0075 * undone_update)


@pytest.mark.parametrize("lr, written", [(7.5e-5, "0.000075"), (0.0075, "0.0075"), (1.0, "1")])
def test_a_breakdown_names_the_rate_as_the_slider_writes_it(lr, written):
    from model.trainer import Divergence, diverged_message

    message = diverged_message(lr, Divergence.DIED, kept_epoch=0, kept_loss=0.77)
    assert message.startswith(f"Training diverged at learning rate {written}: ") and "e-0" not in message


def test_a_blow_up_says_how_far_the_loss_went(dataset, weights_path):
    from model.weights import load_weights

    trainer = Trainer(load_weights(weights_path)[0], dataset, lr=1.0, dtype=np.float32)  # the page's "lr 1, Play"
    result = trainer.run(epochs=5)
    broken = trainer.rolled_back[-1]
    assert result.stop is Divergence.BLEW_UP and broken.train_loss > 10 * trainer.best.loss
    assert f"over the lowest so far (to {broken.train_loss:,.4g} at epoch {broken.epoch:,}). The weights of epoch 0" \
        in result.message
