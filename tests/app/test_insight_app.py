"""The page's "Inside the network" views under AppTest: the first layer's tiles, the layer-health chart, and "where
the model looks" for uploads and for a picked test image, each made once per version of the weights."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.model import image_factory as make
from ui import insight, settings

UNITS = [f"unit {i}" for i in range(1, 21)]
LOOKS = "where the model looks"


def no_exception(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def tiles(at):
    """The st.image list of the first layer's units (None if the page shows none)."""
    found = [img for img in at.image if img.captions == UNITS]
    assert len(found) <= 1, "the tiles must be one st.image call"
    return found[0] if found else None


def tile_urls(at) -> list[str]:
    return [img.url for img in tiles(at).proto.imgs]


def heatmaps(at) -> list:
    return [img for img in at.image if img.captions == [LOOKS]]


def health_spec(at) -> dict | None:
    specs = [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]
    found = [spec for spec in specs if "vconcat" in spec]
    return found[0] if found else None


def upload(at, *files):
    at.file_uploader(key="upload").set_value([(name, data, "application/octet-stream") for name, data in files])
    return at.run()


@pytest.fixture
def counted(monkeypatch):
    """How often the page made a heatmap or a set of tiles (each a backward pass or 20 PNGs)."""
    counts = {"heatmaps": 0, "tiles": 0}
    heatmap_png, first_layer_view = insight.heatmap_png, insight.first_layer_view

    def count_heatmap(*args):
        counts["heatmaps"] += 1
        return heatmap_png(*args)

    def count_tiles(*args):
        counts["tiles"] += 1
        return first_layer_view(*args)

    monkeypatch.setattr(insight, "heatmap_png", count_heatmap)
    monkeypatch.setattr(insight, "first_layer_view", count_tiles)
    return counts


def test_the_20_units_are_on_the_page_at_first_load(app):
    no_exception(app)
    assert "Inside the network" in [s.value for s in app.subheader]
    units = tiles(app)
    assert units is not None and len(units.proto.imgs) == 20
    assert app.segmented_control(key="tile_view").value == "learned"
    notes = [c.value for c in app.caption]
    assert any(note.startswith("What 2,500 epochs of training added") and "Grey is 0" in note for note in notes)
    assert any("Layer health" in note for note in notes)  # before any training: what the chart will show


def test_the_view_switches_between_learned_weights_and_gradients(app):
    learned = tile_urls(app)
    app.segmented_control(key="tile_view").set_value("weights").run()
    no_exception(app)
    weights = tile_urls(app)
    assert len(weights) == 20 and set(weights).isdisjoint(learned)
    app.segmented_control(key="tile_view").set_value("gradient").run()
    assert tiles(app) is None  # the pretrained weights at epoch 0: no step, no gradient
    no_tiles = next(c.value for c in app.caption if "No gradient yet" in c.value)
    assert "Grey is 0" not in no_tiles  # no legend for tiles that are not there
    app.button(key="step").click().run()
    no_exception(app)
    assert len(tile_urls(app)) == 20 and any("epoch 9 to 10" in c.value for c in app.caption)
    note = next(c.value for c in app.caption if "epoch 9 to 10" in c.value)
    assert "would raise the weight" in note and "positive weight" not in note  # a gradient's legend, not a weight's


def test_tiles_are_made_once_per_weights_version(app, counted):
    urls = tile_urls(app)
    app.run()
    app.run()
    assert counted["tiles"] == 0 and tile_urls(app) == urls  # same bytes, same media URLs: nothing re-sent
    app.button(key="step").click().run()
    assert counted["tiles"] == 1 and tile_urls(app) != urls


def test_the_health_chart_appears_after_training_and_shows_each_layer(app):
    assert health_spec(app) is None
    app.button(key="step").click().run()
    no_exception(app)
    spec = health_spec(app)
    assert [panel["title"]["text"] for panel in spec["vconcat"]] == [title for _, _, title, _ in insight.PANELS]
    assert insight.lines_of(spec["vconcat"][0])["transform"][0]["fold"] == ["g1", "g2", "g3", "g4"]


def test_a_dying_network_shows_in_the_health_chart(app):
    """SGD at lr 1 from a fresh start: the page warns, and the chart keeps the dashed record of the breakdown."""
    app.segmented_control(key="start").set_value(settings.FRESH).run()
    app.select_slider(key="lr").set_value(1.0).run()
    app.button(key="step").click().run()
    no_exception(app)
    assert any("network died" in w.value for w in app.warning)
    spec = health_spec(app)
    assert all("strokeDash" in insight.lines_of(panel)["encoding"] for panel in spec["vconcat"])


def test_an_upload_gets_where_the_model_looks_once_per_weights_version(app, counted):
    upload(app, ("stripes.png", make.png_stripes()), ("cat.jpg", make.jpeg_photo(megapixels=0.3)))
    no_exception(app)
    assert len(heatmaps(app)) == 3  # two uploads, and the picked test image (made at the first load)
    assert counted["heatmaps"] == 2
    assert any(c.value.startswith("**Where the model looks**") for c in app.caption)
    app.run()
    app.run()
    assert counted["heatmaps"] == 2  # reruns reuse them
    app.button(key="step").click().run()
    assert counted["heatmaps"] == 5  # new weights: each of the three made again, once


def test_a_picked_test_image_shows_where_the_model_looks(app):
    pick = app.selectbox(key="explain_pick")
    first = pick.value
    labels = pick.options  # as shown: 'Test image 6 · TL: non-cat | MP: cat ✗'
    assert len(labels) == 50 and labels[0].startswith("Test image") and labels[0].endswith("✗")
    assert pick.format_func(first) == labels[0]  # the first mistake is picked at first
    assert len(heatmaps(app)) == 1
    before = heatmaps(app)[0].proto.imgs[0].url
    correct = next(index for index in range(50) if not pick.format_func(index).endswith("✗"))
    pick.set_value(correct).run()
    no_exception(app)
    assert app.selectbox(key="explain_pick").value == correct != first
    assert heatmaps(app)[0].proto.imgs[0].url != before
    app.segmented_control(key="grid_split").set_value("train").run()  # another split: its first mistake
    no_exception(app)
    pick = app.selectbox(key="explain_pick")
    assert pick.format_func(pick.value) == pick.options[0] and pick.options[0].startswith("Train image")
    assert pick.options[0].endswith("✗")
    app.segmented_control(key="grid_split").set_value("test").run()  # and back: the visitor's pick there
    assert app.selectbox(key="explain_pick").value == correct


def test_saliency_on_the_page_never_disturbs_training(app):
    """Heatmaps drawn between steps leave the session's gradients and weights as training left them."""
    upload(app, ("stripes.png", make.png_stripes()))
    app.button(key="step").click().run()
    run = app.session_state["training"]
    grads = [p.grad.copy() for p in run.model.parameters()]
    app.selectbox(key="explain_pick").set_value(5).run()  # a new heatmap from the current weights
    for p, g in zip(run.model.parameters(), grads):
        np.testing.assert_array_equal(p.grad, g)
