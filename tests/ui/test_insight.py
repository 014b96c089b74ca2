"""ui.insight: the first layer's tiles, the "where the model looks" heatmap, the layer-health chart and the cache
that keeps them per weights version."""
from __future__ import annotations

import dataclasses
import io
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from model.cat import IMAGE_SHAPE, INPUT_SIZE, cat_mlp
from model.explain import saliency
from model.trainer import LayerHealth, Record
from ui import gallery, insight, session, settings
from ui import resources as shared


def decode(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


# --- the colour scale -----------------------------------------------------------------------------


def test_zero_is_grey_and_the_scale_is_symmetric_per_tile():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(3, 4, 4, 3))
    values[1] *= 1000  # another tile's scale must not matter
    values[0, 0, 0] = 0.0
    rgb = insight.signed_rgb(values)
    assert rgb.dtype == np.uint8 and rgb.shape == values.shape
    assert (rgb[0, 0, 0] == insight.GREY).all()
    np.testing.assert_array_equal(insight.signed_rgb(-values).astype(int), 2 * insight.GREY - rgb.astype(int))
    for tile, colours in zip(values, rgb):  # each tile's largest |value| is full brightness or full darkness
        extreme = np.unravel_index(np.abs(tile).argmax(), tile.shape)
        assert colours[extreme] == (255 if tile[extreme] > 0 else 1)
    assert insight.signed_rgb(values * 7.5).tolist() == rgb.tolist()  # only the shape of each tile counts


def test_each_channel_is_shown_as_its_colour_and_an_all_zero_tile_is_plain_grey():
    red = np.zeros((2, 2, 2, 3))
    red[0, ..., 0] = 1.0  # tile 0: a positive weight on red only; tile 1: nothing at all
    rgb = insight.signed_rgb(red)
    assert (rgb[0, ..., 0] == 255).all() and (rgb[0, ..., 1:] == insight.GREY).all()
    assert (rgb[1] == insight.GREY).all()


def test_a_row_of_the_first_layer_is_laid_out_like_the_image_it_multiplies(resources):
    """A weight row equal to an image (centred) gives that image's picture: bright where it is bright."""
    image = resources.split("test").images[3]
    row = (image.reshape(1, -1) / 255.0) - 0.5  # the model's own flattening: row-major, channel fastest
    tiles = insight.weight_tiles(row)
    assert tiles.shape == (1, *IMAGE_SHAPE)
    np.testing.assert_array_equal(tiles[0] > insight.GREY, image > 128)


def test_tiles_are_small_upscaled_pngs_close_to_their_colours():
    weights = np.random.default_rng(1).normal(size=(20, INPUT_SIZE))  # noise: the hardest case to compress
    tiles = insight.weight_tiles(weights)
    pngs = insight.tile_pngs(tiles)
    assert len(pngs) == 20 and insight.unit_captions(20) == [f"unit {i}" for i in range(1, 21)]
    assert max(map(len, pngs)) < 12_000  # a few KB each, against ~16 KB as a plain RGB PNG
    picture = decode(pngs[0]).astype(int)
    assert picture.shape == (128, 128, 3)
    np.testing.assert_array_equal(picture[::2, ::2], picture[1::2, 1::2])  # every weight a crisp 2x2 block
    assert np.abs(picture[::2, ::2] - tiles[0]).mean() < 8  # 256 colours stay within ~3% of the exact scale


# --- the first layer of a session -----------------------------------------------------------------


def test_the_learned_view_subtracts_the_random_start(resources):
    fresh = session.TrainingSession(resources, start=settings.FRESH)
    view = insight.first_layer_view(fresh, "learned")
    assert view.captions == insight.unit_captions(20) and len(view.pngs) == 20
    assert "Nothing learned yet" in view.note
    assert all((decode(png) == insight.GREY).all() for png in view.pngs[:3])  # no step yet: all grey
    np.testing.assert_array_equal(insight.initial_first_layer(settings.DEFAULT_SEED, INPUT_SIZE, 20),
                                  cat_mlp(seed=settings.DEFAULT_SEED).layers[0].weight.data)
    fresh.step()
    assert "What 10 epochs of training added" in insight.first_layer_view(fresh, "learned").note
    pretrained = session.TrainingSession(resources)
    assert insight.start_seed(pretrained) == resources.meta["seed"]
    assert "2,500 epochs" in insight.first_layer_view(pretrained, "learned").note


def test_an_unknown_random_start_is_said_not_guessed(resources):
    pretrained = session.TrainingSession(resources)
    # A weight file saved from a run that itself started from trained weights: its seed is not its start.
    pretrained.resources = dataclasses.replace(resources, meta={**resources.meta, "start": settings.PRETRAINED})
    assert insight.start_seed(pretrained) is None
    view = insight.first_layer_view(pretrained, "learned")
    assert view.pngs == [] and "unknown" in view.note


def test_the_gradient_view_shows_the_last_steps_gradient(resources):
    run = session.TrainingSession(resources, start=settings.FRESH)
    empty = insight.first_layer_view(run, "gradient")
    assert empty.pngs == [] and "No gradient yet" in empty.note
    run.step()
    values, note = insight.first_layer_values(run, "gradient")
    np.testing.assert_array_equal(values, -run.model.layers[0].weight.grad)
    assert "epoch 9 to 10" in note and len(insight.first_layer_view(run, "gradient").pngs) == 20
    weights, note = insight.first_layer_values(run, "weights")
    np.testing.assert_array_equal(weights, run.model.layers[0].weight.data)
    assert note.startswith("The weights after 10 epochs")
    run.reset()
    assert "random initialization drew them" in insight.first_layer_values(run, "weights")[1]
    with pytest.raises(ValueError, match="view must be one of"):
        insight.first_layer_view(run, "biases")


# --- where the model looks ------------------------------------------------------------------------


def test_patch_sums_spread_each_pixel_over_its_patch():
    one = np.zeros((9, 9))
    one[4, 4] = 1.0
    sums = insight.patch_sums(one, radius=2)
    assert sums.sum() == 25 and (sums[2:7, 2:7] == 1).all()
    corner = np.zeros((9, 9))
    corner[0, 0] = 1.0
    assert insight.patch_sums(corner, radius=2).sum() == 9  # beyond the border is zero, not a copy


def test_looks_at_is_normalized_per_image():
    gradient = np.random.default_rng(2).normal(size=INPUT_SIZE)
    amount = insight.looks_at(gradient)
    assert amount.shape == IMAGE_SHAPE[:2] and amount.min() >= 0 and amount.max() == 1.0
    np.testing.assert_allclose(insight.looks_at(gradient * 1e-6), amount)  # per image: only where, not how much
    assert not insight.looks_at(np.zeros(INPUT_SIZE)).any()


def test_heat_colors_run_from_dark_to_bright():
    colours = insight.heat_colors(np.linspace(0, 1, 11)).astype(int)
    np.testing.assert_array_equal(colours[0], insight.HEAT_STOPS[0])
    np.testing.assert_array_equal(colours[-1], insight.HEAT_STOPS[-1])
    assert (np.diff(colours.sum(axis=1)) > 0).all()  # brighter all the way up


def test_the_heatmap_paints_over_a_grey_copy_of_the_input(resources):
    split = resources.split("test")
    image, gradient = split.images[0], np.zeros(INPUT_SIZE)
    gradient[:3] = 1.0  # the top-left pixel only
    picture = insight.heatmap(image, gradient)
    assert picture.shape == image.shape and picture.dtype == np.uint8
    far = picture[-1, -1]  # nowhere near the patch: the photo in dim grey
    assert far[0] == far[1] == far[2] == np.rint(0.8 * image[-1, -1].mean())
    np.testing.assert_array_equal(picture[0, 0], insight.HEAT_STOPS[-1])  # the most sensitive spot, fully painted
    run = session.TrainingSession(resources)
    png = insight.heatmap_png(run, image, split.x[:1]).png
    size = gallery.UPSCALED_WIDTH  # upscaled as the page shows the model's input, which it sits beside
    assert decode(png).shape == (size, size, 3) and len(png) < 30_000


def test_a_heatmap_says_when_no_pixel_moves_the_answer(resources):
    split, run = resources.split("test"), session.TrainingSession(resources)
    gradients = saliency(run.model, split.x)
    flat = [i for i in range(len(split.x)) if not gradients[i].any()]  # a layer all off for these images
    assert flat and len(flat) < len(split.x)  # the shipped model has both kinds among the test images
    for i in (flat[0], next(i for i in range(len(split.x)) if i not in flat)):
        picture = insight.heatmap_png(run, split.images[i], split.x[i:i + 1])
        assert picture.flat == (i in flat)
    assert "nothing here moves the answer" in insight.FLAT_HEATMAP_NOTE


# --- the layer-health chart -----------------------------------------------------------------------


def record(epoch, grad=(1.0, 0.5, 0.0, 0.1), ratio=(1e-3, 1e-4, 1e-5, 1e-3), dead=(0.0, 0.25, 1.0), loss=0.5):
    return Record(epoch, loss, loss, 0.5, 0.5, LayerHealth(grad, ratio, dead))


def test_health_data_has_a_column_per_panel_and_layer():
    history = [Record(0, 0.7, 0.7, 0.5, 0.5), record(0), record(10)]  # a record without health is skipped
    data = insight.health_data(insight.health_rows(history))
    assert data["epoch"] == [0, 10] and data["phase"] == [insight.KEPT] * 2
    assert [c for c in data if c[0] in "gud"] == ["g1", "g2", "g3", "g4", "u1", "u2", "u3", "u4", "d1", "d2", "d3"]
    assert data["g3"] == [insight.LOG_FLOOR] * 2  # a gradient of exactly 0 sits at the bottom of the log scale
    assert data["u2"] == [1e-4] * 2 and data["d2"] == [25.0] * 2 and data["d3"] == [100.0] * 2


def test_the_note_gives_the_last_dead_shares_in_words_since_equal_lines_hide_each_other():
    assert insight.dead_units_now([]) == "" and insight.dead_units_now([Record(0, 0.7, 0.7, 0.5, 0.5)]) == ""
    broken = Record(30, 0.6, np.nan, 0.5, np.nan, LayerHealth((), (), (1.0, 1.0, 1.0)))  # dead shares only: skipped
    note = insight.health_note(10, [record(0), record(20, dead=(0.0, 0.3, 0.0)), broken])
    assert note.endswith(" Dead units at the last record, epoch 20: layer 1 0%, layer 2 30%, layer 3 0% (lines at "
                         "the same share lie on top of each other; layer 4, the output, has no ReLU).")
    assert insight.health_note(10).endswith("(the weights before them were kept).")


def test_after_one_recorded_step_the_note_says_when_the_next_comes():
    assert insight.health_note(10, [record(0)]).endswith(
        " Only epoch 0's step is recorded so far; the next record comes with epoch 10's.")
    assert "next record" not in insight.health_note(10, [record(0), record(10)])


def test_what_a_roll_back_undid_continues_dashed_from_the_last_kept_step():
    broken = Record(12, 0.6, np.nan, 0.5, np.nan, LayerHealth((), (), (0.5, 1.0, 1.0)))
    rows = insight.health_rows([record(0), record(10)], [record(11), broken])
    assert [(phase, r.epoch) for phase, r in rows] == [
        (insight.KEPT, 0), (insight.KEPT, 10), (insight.ROLLED_BACK, 10), (insight.ROLLED_BACK, 11),
        (insight.ROLLED_BACK, 12)]
    data = insight.health_data(rows)
    assert data["g1"][-1] is None and data["d2"][-1] == 100.0  # the broken weights have dead shares only
    _, spec = insight.health_chart([record(0), record(10)], [record(11), broken])
    assert all("strokeDash" in insight.lines_of(panel)["encoding"] for panel in spec["vconcat"])
    _, plain = insight.health_chart([record(0), record(10)])
    assert not any("strokeDash" in insight.lines_of(panel)["encoding"] for panel in plain["vconcat"])


def test_the_update_a_roll_back_undid_is_drawn_with_what_it_undid():
    """The last kept record's update size is of the step taken from it, which the roll-back undid: it belongs to
    the dashed and faded series, not to the solid one (its gradient norm and dead units are the kept weights')."""
    broken = Record(12, 0.6, np.nan, 0.5, np.nan, LayerHealth((), (), (0.5, 1.0, 1.0)))
    data = insight.health_data(insight.health_rows([record(0), record(10)], [broken]))
    assert data["phase"] == [insight.KEPT, insight.KEPT, insight.ROLLED_BACK, insight.ROLLED_BACK]
    assert data["u1"] == [1e-3, None, 1e-3, None] and data["g1"] == [1.0, 1.0, 1.0, None]
    _, spec = insight.health_chart([record(0), record(10)], [broken])
    assert all("opacity" in insight.lines_of(panel)["encoding"] for panel in spec["vconcat"])


def test_health_chart_spec():
    history = [record(10 * i) for i in range(1000)]
    data, spec = insight.health_chart(history)
    assert len(data["epoch"]) <= insight.HEALTH_POINTS and data["epoch"][-1] == 9990
    assert [p["title"]["text"] for p in spec["vconcat"]] == [title for _, _, title, _ in insight.PANELS]
    panels = [insight.lines_of(p) for p in spec["vconcat"]]
    assert [p["encoding"]["y"]["scale"].get("type") for p in panels] == ["log", "log", None]
    assert panels[0]["transform"][0]["fold"] == ["g1", "g2", "g3", "g4"]
    assert panels[2]["transform"][0]["fold"] == ["d1", "d2", "d3"]
    assert all(p["encoding"]["x"]["scale"]["domain"] == [0, 9990] for p in panels)
    assert [p["encoding"]["x"]["title"] for p in panels] == [None, None, "epoch"]  # the shared axis, named once
    assert panels[0]["encoding"]["color"]["scale"]["range"] == list(insight.LAYER_COLORS)
    empty, _ = insight.health_chart([Record(0, 0.7, 0.7, 0.5, 0.5)])
    assert empty["epoch"] == []
    _, one = insight.health_chart([record(0)])  # a single record is not squeezed into an axis 0 to 0
    assert insight.lines_of(one["vconcat"][0])["encoding"]["x"]["scale"]["domain"] == [0, insight.MIN_EPOCHS_SHOWN]


def test_the_update_size_panel_shades_the_healthy_band_under_its_lines():
    """So a step near 1 (one step wiping out what a layer knew) stands far above the band, even as a single dot."""
    _, spec = insight.health_chart([record(0)])
    gradient, update, dead = spec["vconcat"]
    band, lines = update["layer"]
    low, high = insight.HEALTHY_UPDATE
    assert band["mark"]["type"] == "rect" and band["data"]["values"] == [{"low": low, "high": high}]
    assert (band["encoding"]["y"]["field"], band["encoding"]["y2"]["field"]) == ("low", "high")
    assert update["title"]["text"].endswith("(grey: the healthy range)")
    assert lines["transform"][0]["fold"] == ["u1", "u2", "u3", "u4"]
    assert len(gradient["layer"]) == len(dead["layer"]) == 1  # the band belongs to update sizes alone
    assert "0.01% to 1% of its size per step (update size 1e-4 to 1e-2, the grey band)" in insight.health_note(10)


# --- kept per weights version ---------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_pictures_are_made_once_per_weights_version_and_at_most_every_refresh_while_playing():
    clock, made = Clock(), []
    pictures = insight.Pictures(refresh=2.0, clock=clock)
    run = SimpleNamespace(weights_version=1, playing=False)

    def make():
        made.append(run.weights_version)
        return f"picture of version {run.weights_version}"

    assert pictures.get(run, "tiles", make) == "picture of version 1"
    assert pictures.get(run, "tiles", make) == "picture of version 1" and made == [1]  # a rerun: kept
    run.weights_version = 2
    assert pictures.get(run, "tiles", make) == "picture of version 2"  # paused: always the current weights
    run.playing = True
    for version in (3, 4, 5):  # ticks every 0.5 s
        clock.now += 0.5
        run.weights_version = version
        pictures.get(run, "tiles", make)
    assert made == [1, 2]  # not remade within 2 s of playing
    clock.now += 0.6
    assert pictures.get(run, "tiles", make) == "picture of version 5" and made == [1, 2, 5]
    pictures.get(run, "other", make)
    assert made == [1, 2, 5, 5]  # each key on its own


def test_pictures_keep_a_bounded_number():
    pictures = insight.Pictures(size=3, clock=Clock())
    run = SimpleNamespace(weights_version=1, playing=False)
    for key in range(5):
        pictures.get(run, key, lambda: "picture")
    made = []
    pictures.get(run, 0, lambda: made.append(0))  # the oldest was dropped
    pictures.get(run, 4, lambda: made.append(4))  # the newest is kept
    assert made == [0]


def test_the_gradient_view_names_a_walked_step_that_is_not_applied_yet(resources):
    from ui import backprop

    run = session.TrainingSession(resources, start=settings.FRESH)
    backprop.network_example(run).walk.finish()  # the stepper's walk at epoch 0: W1.grad is that step's
    note = insight.first_layer_values(run, "gradient")[1]
    assert "epoch 0 to 1 of this run, not applied yet" in note and "-1" not in note
    run.step(epochs=1)  # training takes over: the gradient is the last applied step's again
    assert "the last step (epoch 0 to 1 of this run)" in insight.first_layer_values(run, "gradient")[1]


def test_without_the_data_set_the_tiles_still_show_and_say_why_there_is_no_gradient(tmp_path, resources):
    no_data = shared.load_resources(tmp_path / "empty", resources.weights_path)
    run = session.TrainingSession(no_data)
    assert not run.can_train and len(insight.first_layer_view(run, "learned").pngs) == 20
    view = insight.first_layer_view(run, "gradient")
    assert view.pngs == [] and "needs the data set" in view.note


def test_the_picker_starts_a_split_at_its_first_mistake_and_comes_back_to_the_visitors_pick():
    order = [7, 2, 0, 1]  # mistakes first
    assert insight.pick_for("test", order, {}) == 7  # a first visit
    assert insight.pick_for("test", order, {}, ("test", 1)) == 1  # what it shows stays while on its split
    assert insight.pick_for("train", order, {}, ("test", 1)) == 7  # another split: its first mistake
    assert insight.pick_for("test", order, {"test": 2}, ("train", 1)) == 2  # back: the visitor's own pick there
    assert insight.pick_for("test", order, {"test": 40}, ("test", 41)) == 7  # picks the split no longer has


def test_switching_splits_and_back_finds_the_visitors_pick_or_the_first_mistake_of_now():
    state = {}
    assert insight.sync_pick(state, "test", [7, 2, 0, 1], str) == 7
    state["explain_pick"] = 2  # the visitor picks image 2 on the test split
    insight.remember_pick(state)
    assert insight.sync_pick(state, "train", [5, 3, 4], str) == 5  # the training split starts at its first mistake
    assert insight.sync_pick(state, "test", [0, 1, 2, 7], str) == 2  # back on the test split: the visitor's pick
    assert insight.sync_pick(state, "train", [4, 3, 5], str) == 4  # never picked there: its first mistake of now


class RecordingState(dict):
    """A stand-in for Streamlit's session state that remembers which keys the page assigned."""

    def __init__(self):
        super().__init__()
        self.assigned = []

    def __setitem__(self, key, value):
        self.assigned.append(key)
        super().__setitem__(key, value)


def test_the_pick_is_sent_to_the_browser_again_whenever_its_label_changes():
    state, order = RecordingState(), [7, 2, 0]
    labels = {7: "Test image 8 · MP: cat ✗", 2: "Test image 3 · MP: cat", 0: "Test image 1 · MP: non-cat"}
    assert insight.sync_pick(state, "test", order, labels.get) == 7 and "explain_pick" in state.assigned
    state.assigned.clear()
    assert insight.sync_pick(state, "test", order, labels.get) == 7
    assert "explain_pick" not in state.assigned  # nothing changed: the browser's own state is left alone
    labels[7] = "Test image 8 · MP: non-cat"  # training changed the picked image's prediction
    assert insight.sync_pick(state, "test", order, labels.get) == 7 and "explain_pick" in state.assigned
    assert state["explain_label"] == "Test image 8 · MP: non-cat"
