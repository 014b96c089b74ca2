"""ui.session: the training session behind the page (play / pause / step / reset, ticks, chart data)."""
from __future__ import annotations

import math
import time
from types import SimpleNamespace

import numpy as np
import pytest

from model import paths, weights
from model.cat import cat_mlp, fits_the_task
from model.dataset import TRAIN_FILE
from model.nn import Linear, ReLU, Sequential, Sigmoid
from model.trainer import Record
from model.weights import load_weights, save_weights
from ui import live, photos, session, settings
from ui import resources as shared
from ui.text import describe_start, explain_markdown, format_lr, graph_summary, precision_note


@pytest.fixture(scope="module")
def no_data(tmp_path_factory, weights_path) -> shared.Resources:
    return shared.load_resources(tmp_path_factory.mktemp("empty"), weights_path)


@pytest.fixture(scope="module")
def no_weights(tmp_path_factory, data_dir) -> shared.Resources:
    return shared.load_resources(data_dir, tmp_path_factory.mktemp("w") / "missing.npz")


def params(model):
    return [p.data.copy() for p in model.parameters()]


# --- settings and formatting ---------------------------------------------------------------------


def test_lr_choices_are_log_spaced_from_1e5_to_1():
    choices = np.array(settings.LR_CHOICES)
    assert choices[0] == pytest.approx(1e-5) and choices[-1] == 1.0
    assert settings.DEFAULT_LR in settings.LR_CHOICES
    steps = np.diff(np.log(choices))
    assert (steps > 0).all() and steps.max() / steps.min() < 2.1


@pytest.mark.parametrize("lr, text", [(0.0075, "0.0075"), (1.0, "1"), (1e-4, "0.0001"), (0.00015, "0.00015"),
                                      (0.5, "0.5")])
def test_format_lr_never_uses_scientific_notation(lr, text):
    assert format_lr(lr) == text


def records(n, step=10):
    return [Record(i * step, 1.0 / (i + 1), 2.0 / (i + 1), 0.5, 0.5) for i in range(n)]


@pytest.mark.parametrize("n", [0, 1, 2, 299, 300, 301, 2500])
def test_thin_keeps_first_last_and_at_most_max_points(n):
    rows = records(n)
    thinned = live.thin(rows, 300)
    assert len(thinned) == min(n, 300)
    if n:
        assert thinned[0] is rows[0] and thinned[-1] is rows[-1]
    assert [r.epoch for r in thinned] == sorted({r.epoch for r in thinned})


def test_thin_spreads_points_evenly():
    epochs = np.array([r.epoch for r in live.thin(records(10_000), 100)])
    gaps = np.diff(epochs)
    assert gaps.max() - gaps.min() <= 10


def test_chart_data_and_spec():
    data = live.chart_data(records(5))
    assert data == {"epoch": [0, 10, 20, 30, 40], "train loss": [1, 0.5, 1 / 3, 0.25, 0.2],
                    "test loss": [2, 1, 2 / 3, 0.5, 0.4], "undone epoch": [], "undone loss": []}
    long, spec = live.loss_chart(data, target=2500)
    assert long["set"] == ["train"] * 5 + ["test"] * 5 and len(long["loss"]) == 10
    assert spec["encoding"]["x"]["scale"]["domain"] == [0, 2500]
    _, spec = live.loss_chart(live.chart_data(records(400)), target=100)
    assert spec["encoding"]["x"]["scale"]["domain"] == [0, 3990]  # trained past the target with Step


def test_a_breakdown_is_drawn_dashed_from_the_kept_weights_up_off_the_chart():
    """At a large rate the chunk is rolled back at once: the chart shows the loss it reached, leaving the top."""
    kept = records(2)  # epochs 0 and 10, train losses 1 and 0.5, test 2 and 1
    broken = [Record(11, 57.0, np.nan, 0.5, np.nan), Record(12, np.inf, np.nan, 0.5, np.nan)]
    data = live.chart_data(kept, rolled_back=broken)
    assert data["undone epoch"] == [10, 11, 12] and data["undone loss"][:2] == [0.5, 57.0]
    long, spec = live.loss_chart(data, target=100)
    assert spec["encoding"]["y"]["scale"]["domain"] == [0, 2 * 2]  # twice the highest kept loss
    assert long["set"][-3:] == ["undone"] * 3 and long["loss"][-3:] == [0.5, 8, 8]  # off the top, and finite
    dashed = [layer for layer in spec["layer"] if "strokeDash" in layer["mark"]]
    assert len(dashed) == 1 and dashed[0]["mark"]["clip"]
    labels = [layer for layer in spec["layer"] if layer["mark"]["type"] == "text"]  # the peak, named at the top
    assert [layer["data"]["values"] for layer in labels] == [[{"epoch": 12, "loss": 4, "label": "↑ loss ∞, undone"}]]
    _, plain = live.loss_chart(live.chart_data(kept), target=100)
    assert plain["encoding"]["y"]["scale"] == {"zero": True}
    assert not [layer for layer in plain["layer"] if layer["mark"]["type"] == "text"]


def test_the_peak_of_a_breakdown_is_named_only_when_it_leaves_the_chart():
    assert live.off_the_top([10, 11], [0.5, 57.0], top=4) == [(11, "↑ loss 57, undone")]
    assert live.off_the_top([0, 1], [0.08, np.nan], top=4) == [(1, "↑ loss not a number, undone")]
    assert live.off_the_top([10, 11], [0.5, 3.0], top=4) == []  # a died run's loss can stay on the chart


def test_metrics_format_and_deltas():
    start, now = Record(0, 0.7717, 0.8, 0.5, 0.34), Record(100, 0.6, 0.7, 0.75, 0.5)
    shown = {m.label: m for m in live.metrics(now, start, target=2500)}
    assert shown["Epoch"].value == "100" and shown["Epoch"].delta == "of 2,500"
    assert {m.label: m for m in live.metrics(now, start, target=10)}["Epoch"].delta == "target 10"  # not "of 10"
    assert shown["Train loss"].value == "0.6000" and shown["Train loss"].delta == "-0.1717"
    assert shown["Train loss"].delta_color == "inverse"  # lower is better
    assert shown["Test accuracy"].value == "50.0%" and shown["Test accuracy"].delta == "+16.0 pts"
    at_start = {m.label: m for m in live.metrics(start, start, target=2500)}
    assert all(m.delta is None for label, m in at_start.items() if label != "Epoch")
    unchanged = {m.label: m for m in live.metrics(Record(100, 0.77171, 0.79999, 0.49999, 0.34), start, target=2500)}
    for label, delta in [("Train loss", "±0.0000"), ("Test loss", "±0.0000"),  # +0.00001 and -0.00001
                         ("Train accuracy", "±0.0 pts"), ("Test accuracy", "±0.0 pts")]:
        assert unchanged[label].delta == delta and unchanged[label].delta_color == "off"  # grey, no arrow


def test_speed_meter_uses_the_wall_clock_over_a_window():
    meter = session.SpeedMeter(window=3.0)
    assert meter.rate is None
    meter.add(0.0, 100, 100, 0.2)
    assert meter.rate == pytest.approx(500)  # one tick: the chunk's own rate
    for t in range(1, 11):
        meter.add(t * 0.25, 100 + 50 * t, 50, 0.2)
    assert meter.rate == pytest.approx(200)  # 50 epochs per 0.25 s of wall clock
    meter.reset()
    assert meter.rate == pytest.approx(250)  # falls back to the last chunk


# --- loading -------------------------------------------------------------------------------------


def test_load_resources(resources):
    assert resources.weights_error is None and resources.data_error is None
    assert resources.base_epochs == 2500 and resources.classes == ("non-cat", "cat")
    assert resources.train_data.x_train.dtype == shared.TRAIN_DTYPE
    assert not resources.train_data.x_train.flags.writeable


def test_missing_data_is_a_message(no_data):
    assert no_data.data is None and no_data.model is not None
    assert "make data" in no_data.data_error


def test_missing_weights_are_a_message(no_weights):
    assert no_weights.model is None and no_weights.data is not None
    assert "does not exist" in no_weights.weights_error


def test_corrupt_or_foreign_weights_are_a_message(tmp_path, data_dir):
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"\x00" * 100)
    assert "not a readable weight file" in shared.load_resources(data_dir, corrupt).weights_error
    foreign = tmp_path / "foreign.npz"
    save_weights(Sequential(Linear(10, 1), Sigmoid()), foreign)
    assert "64x64" in shared.load_resources(data_dir, foreign).weights_error
    folder = tmp_path / "folder.npz"
    folder.mkdir()
    assert shared.load_resources(data_dir, folder).weights_error


def test_default_paths_follow_the_environment(tmp_path):
    data, weights = shared.default_paths({})
    assert data == paths.DATA_DIR and weights == paths.WEIGHTS_FILE
    env = {shared.DATA_ENV: str(tmp_path), shared.WEIGHTS_ENV: str(tmp_path / "w.npz")}
    assert shared.default_paths(env) == (tmp_path, tmp_path / "w.npz")


def test_files_stamp_changes_when_the_data_set_or_the_weights_appear_and_only_then(tmp_path):
    def stamp():
        return shared.files_stamp(tmp_path, tmp_path / "w.npz")

    before = stamp()
    (tmp_path / ".train_catvnoncat.h5.x1.part").write_bytes(b"half")  # a download under way
    (tmp_path / "notes.txt").write_bytes(b"x")
    assert stamp() == before  # else every rerun during a download would load everything again
    (tmp_path / TRAIN_FILE).write_bytes(b"x")
    assert stamp() != before
    before = stamp()
    (tmp_path / "w.npz").write_bytes(b"y")
    assert stamp() != before


def test_clone_model_copies_and_converts():
    model = cat_mlp(seed=3)
    clone = weights.clone_model(model, np.float32)
    assert clone.parameters()[0].dtype == np.float32
    for a, b in zip(model.parameters(), clone.parameters()):
        assert a is not b and a.data is not b.data
        np.testing.assert_allclose(a.data, b.data, rtol=1e-6)
    same = weights.clone_model(model)
    assert same.parameters()[0].dtype == np.float64


def test_fits_the_task():
    assert fits_the_task(cat_mlp())
    assert not fits_the_task(Sequential(Linear(12288, 2), ReLU(), Linear(2, 3), Sigmoid()))


# --- the session ---------------------------------------------------------------------------------


def test_a_session_starts_as_the_pretrained_model(resources):
    run = session.TrainingSession(resources)
    assert run.start == settings.PRETRAINED and run.epoch == 0 and not run.playing and run.can_train
    assert run.current.test_acc == pytest.approx(0.8) and run.current.train_acc == pytest.approx(206 / 209)
    assert run.model is not resources.model
    for mine, pretrained in zip(run.model.parameters(), resources.model.parameters()):
        assert mine.data is not pretrained.data and mine.dtype == shared.TRAIN_DTYPE
    assert describe_start(run).startswith("This run started from the pretrained weights (already trained "
                                           "2,500 epochs) and trains with SGD at learning rate 0.0075.")
    run.step()
    assert "test numbers wobble" in describe_start(run) and "Fresh init" in describe_start(run)  # while it trains
    assert "»" in describe_start(run, phone=True) and "»" not in describe_start(run)  # the sidebar's button on a phone
    assert "Fresh init" not in describe_start(session.TrainingSession(resources, start=settings.FRESH))


def test_a_fresh_run_says_what_always_answering_cat_scores_and_why_it_drifts_from_the_pretrained_run(resources):
    fresh = describe_start(session.TrainingSession(resources, start=settings.FRESH))
    cats = int(resources.data.y_test.sum())  # 33 of the 50 test images
    assert (f'Answering "cat" to every image already scores {cats / 50:.0%} on the test set ({cats} of its 50 images '
            'are cats)') in fresh
    assert "this recipe run for 2,500 epochs in float64; the page trains in float32" in fresh
    other_seed = describe_start(session.TrainingSession(resources, start=settings.FRESH, seed=2))
    assert "already scores" in other_seed and "float64" not in other_seed  # not the pretrained weights' recipe
    other_lr = describe_start(session.TrainingSession(resources, start=settings.FRESH, lr=0.01))
    assert "float64" not in other_lr
    same_precision = session.TrainingSession(resources, start=settings.FRESH, dtype=np.float64)
    assert "float64" not in describe_start(same_precision)  # then it retraces that run exactly


def test_the_precision_note_reads_a_weight_file_that_leaves_out_its_dtype_or_epochs():
    recipe = {"seed": 1, "optimizer": "sgd", "lr": 0.0075}

    def note(meta, base_epochs=0):
        training = SimpleNamespace(resources=SimpleNamespace(meta=meta, base_epochs=base_epochs), dtype=np.float32,
                                   **recipe)
        return precision_note(training)

    assert note(recipe) == (" The pretrained weights are this recipe run in float64; the page trains in float32, for "
                            "speed, so its losses drift a little from theirs.")  # float64: what the loader reads
    assert "run for 2,500 epochs in float64" in note(recipe | {"epochs": "2500"}, base_epochs=2500)
    assert note(recipe | {"dtype": "float32"}) == "" and note({}) == "" and note(recipe | {"seed": 2}) == ""


def test_fresh_start_is_the_reference_initialization(resources):
    run = session.TrainingSession(resources, start=settings.FRESH)
    assert run.current.train_loss == pytest.approx(0.771749, abs=1e-5)  # README, "Reference numbers": epoch 0
    assert run.base_epochs == 0


def test_play_ticks_until_the_target_and_never_past_it(resources):
    run = session.TrainingSession(resources, start=settings.FRESH, target=45)
    assert not session.tick(run)  # not playing: nothing happens
    run.play()
    stopped = False
    for _ in range(100):
        stopped = session.tick(run, seconds=0.05)
        if stopped:
            break
    assert stopped and run.epoch == 45 and not run.playing and run.finished
    assert run.view().progress == 1.0 and not run.view().play_enabled
    run.play()
    assert not run.playing  # at the target, Play does nothing
    run.set_target(50)
    run.play()
    assert run.playing
    while not session.tick(run, seconds=0.05):
        pass
    assert run.epoch == 50


def test_reference_curve_is_reproduced(resources):
    run = session.TrainingSession(resources, start=settings.FRESH, target=100, dtype=np.float64)
    run.play()
    while not session.tick(run, seconds=1.0):
        pass
    costs = {r.epoch: r.train_loss for r in run.history}
    assert costs[0] == pytest.approx(0.771749, abs=1e-6)
    assert costs[100] == pytest.approx(0.672053, abs=1e-6)  # README, "Reference numbers": epoch 100


def test_pause_stops_and_step_trains_a_few_epochs(resources):
    run = session.TrainingSession(resources, target=10_000)
    run.play()
    session.tick(run, seconds=0.05)
    run.pause()
    paused = run.epoch
    assert not session.tick(run) and run.epoch == paused
    run.step()
    assert run.epoch == paused + settings.STEP_EPOCHS and not run.playing
    run.set_target(0)
    run.step(3)  # the target never limits a step
    assert run.epoch == paused + settings.STEP_EPOCHS + 3


def test_pause_waits_for_the_chunk_in_flight_so_nothing_moves_after_it(resources):
    """A Pause's rerun runs beside the fragment that is training: it returns once that chunk is done."""
    import threading

    run = session.TrainingSession(resources, target=10_000)
    run.play()
    chunk = threading.Thread(target=session.tick, args=(run,), kwargs={"seconds": 0.4})
    chunk.start()
    deadline = time.monotonic() + 5
    while run.epoch == 0 and time.monotonic() < deadline:  # the chunk is training (it has taken steps)
        time.sleep(0.005)
    run.pause()
    paused, shown = run.epoch, run.current.epoch  # what the Pause's rerun draws
    chunk.join()
    assert run.epoch == paused == shown > 0


def test_step_while_playing_pauses(resources):
    run = session.TrainingSession(resources, target=10_000)
    run.play()
    run.step()
    assert not run.playing and run.epoch == settings.STEP_EPOCHS


def test_reset_restores_the_start_and_clears_everything(resources):
    run = session.TrainingSession(resources, lr=0.01)
    start = params(run.model)
    run.step(20)
    assert not all(np.array_equal(a, b) for a, b in zip(start, params(run.model)))
    run.reset()
    assert run.epoch == 0 and len(run.history) == 1 and run.warning is None and not run.playing
    assert all(np.array_equal(a, b) for a, b in zip(start, params(run.model)))
    run.reset(start=settings.FRESH, optimizer="adam")
    assert run.start == settings.FRESH and run.trainer.optimizer_name == "adam"
    with pytest.raises(ValueError):
        run.reset(optimizer="rmsprop")


def test_lr_applies_to_the_next_chunk(resources):
    run = session.TrainingSession(resources)
    run.set_lr(0.001)
    assert run.trainer.lr == 0.001
    run.reset()
    assert run.trainer.lr == 0.001  # a new run keeps the chosen rate


def test_history_grows_and_ends_at_the_current_epoch(resources):
    run = session.TrainingSession(resources, start=settings.FRESH)
    run.step(25)
    epochs = [r.epoch for r in run.history]
    assert epochs == [0, 10, 20, 25]
    view = run.view()
    assert view.chart["epoch"] == epochs and view.metrics[0].value == "25"


def test_the_shared_model_is_never_modified(resources, weights_path):
    before = params(resources.model)
    run = session.TrainingSession(resources, lr=0.05)
    run.step(30)
    run.reset()
    run.step(10)
    shipped, _ = load_weights(weights_path)
    for a, b, c in zip(before, params(resources.model), shipped.parameters()):
        assert np.array_equal(a, b) and np.array_equal(b, c.data) and b.dtype == np.float64


def test_sessions_are_independent(resources):
    one, two = session.TrainingSession(resources), session.TrainingSession(resources)
    x = resources.data.x_test
    before = two.p_cat(x)
    one.step(30)
    assert not np.allclose(one.p_cat(x), before)
    np.testing.assert_array_equal(two.p_cat(x), before)


@pytest.mark.parametrize("start", [settings.PRETRAINED, settings.FRESH])
def test_a_diverging_rate_stops_with_a_warning_and_good_weights(resources, start):
    run = session.TrainingSession(resources, start=start, lr=1.0, target=10_000)
    run.play()
    for _ in range(20):
        if session.tick(run, seconds=0.05):
            break
    assert not run.playing and run.warning and "learning rate 1" in run.warning
    assert run.view().status.startswith(f"Stopped at epoch {run.epoch:,}") and "warning below" in run.view().status
    z = run.p_cat(resources.data.x_train)
    assert np.isfinite(z).all() and z.min() < z.max()  # alive: different outputs for different images
    assert math.isfinite(run.current.train_loss)
    assert all(r.epoch <= run.epoch for r in run.history)
    if start == settings.PRETRAINED:  # (the fresh net's one surviving step at lr 1 leaves it nearly dead)
        run.set_lr(0.0075)
        run.step()
        assert run.warning is None  # a good step clears it


def test_a_network_killed_by_the_last_update_of_a_chunk_is_caught(resources):
    run = session.TrainingSession(resources, start=settings.FRESH, lr=1.0)
    run.step(1)
    run.step(1)  # this update kills the ReLUs; the Trainer alone would notice only on its next forward pass
    assert run.warning and "died" in run.warning
    assert run.epoch == 0 and run.current.epoch == 0  # rolled back to the best (the starting) weights


@pytest.mark.parametrize("start", [settings.FRESH, settings.PRETRAINED])
def test_adam_at_sgds_rate_breaks_down_with_a_hint_and_trains_at_its_own(resources, start):
    run = session.TrainingSession(resources, start=start, optimizer="adam")  # at SGD's 0.0075
    run.step(50)
    assert run.warning and "0.00002 trains from either start" in run.warning
    run = session.TrainingSession(resources, start=start, optimizer="adam", lr=settings.DEFAULT_LRS["adam"])
    loss = run.current.train_loss
    run.step(50)
    assert not run.warning and run.epoch == 50 and run.current.train_loss < loss


def test_switching_optimizer_brings_its_own_rate_unless_the_visitor_chose_one():
    assert settings.lr_after_switch(0.0075, "sgd", "adam") == settings.DEFAULT_LRS["adam"]
    assert settings.lr_after_switch(settings.DEFAULT_LRS["adam"], "adam", "sgd") == 0.0075
    assert settings.lr_after_switch(0.01, "sgd", "adam") == 0.01  # the visitor's own choice stays
    assert all(lr in settings.LR_CHOICES for lr in settings.DEFAULT_LRS.values())


def test_without_data_the_session_predicts_but_cannot_train(no_data):
    run = session.TrainingSession(no_data)
    assert not run.can_train and run.trainer is None
    run.play()
    run.step()
    assert not run.playing and run.epoch == 0 and not session.tick(run)
    view = run.view()
    assert not view.play_enabled and view.metrics == [] and "data set" in view.status
    p = run.p_cat(np.zeros((2, 12288)))
    assert p.shape == (2,) and ((0 <= p) & (p <= 1)).all()
    assert load_weights(session.download_bytes(run))[1]["epochs"] == 2500


def test_without_weights_the_session_starts_fresh(no_weights):
    run = session.TrainingSession(no_weights, start=settings.PRETRAINED)
    assert run.start == settings.FRESH and not run.has_pretrained
    assert run.current.train_loss == pytest.approx(0.771749, abs=1e-5)
    run.reset(start=settings.PRETRAINED)
    assert run.start == settings.FRESH


def test_view_status_lines(resources):
    run = session.TrainingSession(resources, target=20)
    assert run.view().status.startswith("Ready")
    run.play()
    assert run.view().status.startswith("Training") and run.view().pause_enabled
    run.step(5)  # Step stops a playing run, but it is no Pause
    assert run.view().status == "At epoch 5 of 20: press Play to train on, or Step for 10 more."
    run.step(5)
    assert run.view().status.startswith("At epoch 10 of 20: press Play")
    run.play()
    run.pause()
    run.pause()  # a second click
    assert run.view().status == "Paused at epoch 10 of 20."
    run.apply_step(run.forward_step())  # the backprop stepper's "Update the weights"
    assert run.view().status.startswith("At epoch 11 of 20: press Play")
    run.play()
    while not session.tick(run, seconds=0.5):  # Play until the target stops it
        pass
    run.set_target(40)
    assert run.view().status.startswith("At epoch 20 of 40: press Play")  # it reached a target, nobody paused it
    run.step(20)
    assert run.view().status.startswith("Done")


def test_weights_bytes_round_trip(resources):
    run = session.TrainingSession(resources)
    run.step()
    model, meta = load_weights(session.download_bytes(run))
    assert meta["epochs"] == 2510 and meta["start"] == settings.PRETRAINED and meta["lr"] == settings.DEFAULT_LR
    assert meta["test_accuracy"] == pytest.approx(run.current.test_acc)
    for a, b in zip(model.parameters(), run.model.parameters()):
        assert np.array_equal(a.data, b.data)


def test_weights_bytes_waits_for_a_running_chunk(resources):
    """The download is built on another thread; the lock keeps it from reading half-updated weights."""
    import threading

    run = session.TrainingSession(resources)
    got = {}
    with run.lock:
        thread = threading.Thread(target=lambda: got.setdefault("bytes", session.download_bytes(run)))
        thread.start()
        time.sleep(0.1)
        assert "bytes" not in got  # blocked while the (simulated) chunk holds the lock
    thread.join(timeout=10)
    assert got["bytes"][:2] == b"PK"


def test_graph_summary_counts_one_steps_nodes():
    summary = graph_summary(cat_mlp())
    assert summary.ops == {"parameter": 8, "linear": 4, "relu": 3, "bce_with_logits": 1}
    assert summary.nodes == 16 and summary.parameters == 245_973
    text = explain_markdown(summary, "sgd", 209, 50, session.TICK_SECONDS)
    assert "16 nodes" in text and "8 parameters" in text
    assert "reverse topological order" in text and "w -= lr * w.grad" in text
    assert "Adam" in explain_markdown(summary, "adam", 209, 50, session.TICK_SECONDS)


def test_ticks_run_back_to_back_within_the_budget(resources):
    now = iter(np.arange(0.0, 100.0, 0.1))  # a clock that advances 0.1 s per reading
    run = session.TrainingSession(resources, target=10_000, clock=lambda: next(now))
    assert list(session.ticks(run)) == []  # not playing: nothing
    run.play()
    results = list(session.ticks(run, budget=0.35, seconds=0.01))
    # Each tick reads the clock twice (speed meter, budget check): 0.4 s have passed after two ticks.
    assert results == [False, False] and run.playing
    run.set_target(run.epoch + 5)
    assert list(session.ticks(run, budget=5, seconds=10.0)) == [True]  # stops at the target (not the clock), and ends
    assert not run.playing and run.epoch == run.target


def test_the_weights_version_changes_whenever_the_weights_may_have(resources):
    run, other = session.TrainingSession(resources), session.TrainingSession(resources)
    assert run.weights_version != other.weights_version  # never the same version for two models
    seen = {run.weights_version}
    run.p_cat(resources.split("test").x)
    run.set_lr(0.01)
    assert run.weights_version in seen  # reading the model or changing a setting changes no weight
    run.step()
    seen.add(run.weights_version)
    run.play()
    session.tick(run, seconds=0.01)
    seen.add(run.weights_version)
    run.reset()
    seen.add(run.weights_version)
    assert len(seen) == 4


class FakeTicks:
    """A session stand-in: `ticks` ticks, each advancing a fake clock by `tick` s; with `stop`, the last one stops
    the playing."""

    def __init__(self, clock, ticks: int, tick: float, stop: bool = False):
        self.clock, self.count, self.tick, self.stop = clock, ticks, tick, stop

    def ticks(self):
        for i in range(self.count):
            self.clock.now += self.tick
            yield self.stop and i == self.count - 1


def test_play_loop_redraws_each_view_at_its_own_cadence():
    clock = type("Clock", (), {"now": 0.0, "__call__": lambda self: self.now})()
    drawn = []

    def redraw(name):
        return lambda: drawn.append((name, clock.now))

    def times(name):
        return [t for n, t in drawn if n == name]

    stopped = session.play_loop(FakeTicks(clock, ticks=10, tick=0.25), redraw("metrics"), redraw("chart"),
                                chart_every=0.5, clock=clock, ticking=FakeTicks.ticks)
    assert not stopped
    assert times("metrics") == [0.25 * i for i in range(1, 11)]
    assert times("chart") == [0.5, 1.0, 1.5, 2.0, 2.5]
    drawn.clear()
    assert session.play_loop(FakeTicks(clock, ticks=3, tick=1.0, stop=True), redraw("metrics"), redraw("chart"),
                             chart_every=2.0, clock=clock, ticking=FakeTicks.ticks)
    assert times("chart") == [clock.now - 1.0]  # the stopping tick draws nothing: the page reruns instead


# --- sessions through the process-wide scheduler (ui/scheduler.py) ------------------------------


def private_scheduler(**options):
    from ui.scheduler import Scheduler

    return Scheduler(cores=1, set_threads=lambda threads: None, **options)


def test_a_visitor_beyond_the_cap_gets_a_message_and_does_not_play(resources):
    scheduler = private_scheduler(max_playing=1)
    first = session.TrainingSession(resources, scheduler=scheduler)
    second = session.TrainingSession(resources, scheduler=scheduler)
    first.play()
    second.play()
    assert first.playing and not second.playing
    assert second.warning and "training places on this server are taken" in second.warning
    first.pause()  # a Pause frees the place at once
    second.play()
    assert second.playing and scheduler.playing == 1


def test_only_a_fresh_run_that_has_not_trained_is_untrained(resources):
    fresh = session.TrainingSession(resources, start=settings.FRESH)
    assert photos.untrained(fresh) and not photos.untrained(session.TrainingSession(resources))  # shipped: trained
    fresh.step(epochs=1)
    assert not photos.untrained(fresh)


def test_a_visitor_dropped_as_gone_whose_place_was_taken_gets_the_message_not_an_exception(resources):
    now = [0.0]
    scheduler = private_scheduler(max_playing=1, clock=lambda: now[0])
    throttled = session.TrainingSession(resources, scheduler=scheduler, target=10_000)
    throttled.play()
    session.tick(throttled, seconds=0.01)
    now[0] += 10 * scheduler.stale_after  # a background tab the browser stopped for a while
    scheduler.join("a newcomer")  # counts the silent tab as gone and takes the only place
    assert session.tick(throttled, seconds=0.01)  # the tick stops the playing and the page redraws
    assert not throttled.playing and "training places on this server are taken" in throttled.warning


def two_playing(resources):
    """(a visitor, another, their scheduler with one core): both playing."""
    scheduler = private_scheduler()
    waiting = session.TrainingSession(resources, scheduler=scheduler, target=10_000)
    other = session.TrainingSession(resources, scheduler=scheduler, target=10_000)
    other.play()
    waiting.play()
    return waiting, other, scheduler


def test_a_waiting_visitor_shows_its_place_in_the_queue(resources):
    waiting, other, scheduler = two_playing(resources)
    with scheduler.turn(other.key):  # the only core is busy with the other visitor's chunk
        epoch = waiting.epoch
        assert not session.tick(waiting, seconds=0.01)
    assert waiting.playing and waiting.epoch == epoch and waiting.queued_behind == 1
    assert waiting.view().status.startswith("Queued behind 1 other visitor")
    assert not session.tick(waiting, seconds=0.01)  # the core is free again: it trains
    assert waiting.epoch > epoch and waiting.queued_behind == 0
    assert waiting.view().status.startswith("Training…")


def test_the_page_runs_tick_never_waits_for_a_turn(resources):
    """The page's own run trains one tick with wait=0: with the cores busy it gives the page back at once."""
    waiting, other, scheduler = two_playing(resources)
    with scheduler.turn(other.key):
        started = time.monotonic()
        assert list(session.ticks(waiting, budget=0, seconds=0.01, wait=0)) == [False]  # one tick, not granted
        assert time.monotonic() - started < session.TURN_WAIT  # a tick that waited would take all of it
    assert waiting.epoch == 0 and waiting.queued_behind == 1 and waiting.playing


def test_a_session_dropped_with_its_tab_leaves_the_queue(resources):
    import gc

    scheduler = private_scheduler()
    gone = session.TrainingSession(resources, scheduler=scheduler)
    gone.play()
    assert scheduler.playing == 1
    del gone
    gc.collect()
    assert scheduler.playing == 0


def test_a_blow_ups_warning_points_at_the_dashed_loss_and_a_died_runs_does_not():
    from model.trainer import ChunkResult, Divergence

    def warning(stop, optimizer="sgd", lr=1.0):
        result = ChunkResult(0, 0.1, Record(0, 0.08, 0.7, 0.98, 0.8), stop, "Training diverged.")
        return session.breakdown_warning(result, optimizer, lr)

    assert warning(Divergence.BLEW_UP) == "Training diverged." + session.UNDONE_NOTE
    assert warning(Divergence.NON_FINITE).endswith(session.UNDONE_NOTE)
    assert warning(Divergence.DIED) == "Training diverged."  # its loss need not have risen: nothing dashed to see
    assert warning(Divergence.DIED, "adam", 1e-3).endswith(session.ADAM_HINT)
