"""The Streamlit page, driven in-process by streamlit.testing.v1.AppTest.

AppTest runs the whole script on each `run()`, fragments included, but has no browser to fire a
fragment's `run_every` timer. While playing, the live fragment trains one tick (~0.2 s) in every run of
the script, so here each `at.run()` trains a little more; the timer's runs (a second of ticks each) are
the browser tests' to drive. Uploads go through
AppTest's own file_uploader support (`set_value` with (name, bytes, mime) tuples), which feeds the
real widget.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

from model.weights import load_weights
from tests.model import image_factory as make
from ui import session, settings
from ui.gallery import CAPTION_RE
from ui.text import WORD_JOINER

CONTROL_KEYS = ("lr", "epochs", "play", "pause", "step", "reset", "upload")
MP_RE = re.compile(r"^MP: (cat|non-cat)$")


# --- helpers -------------------------------------------------------------------------------------


def training(at) -> session.TrainingSession:
    return at.session_state["training"]


def no_exception(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def grid_captions(at) -> list[str]:
    """Captions of the TL/MP grid of the data set (the image list with the most captions)."""
    lists = [img.captions for img in at.image
             if img.captions and all(CAPTION_RE.search(c) for c in img.captions)]
    assert lists, "no TL/MP grid on the page"
    return max(lists, key=len)


def predictions(at) -> list[str]:
    """The 'MP: ...' verdicts of the uploaded photos, in upload order."""
    return [h.value for h in at.subheader if MP_RE.match(h.value)]


def p_texts(at) -> list[str]:
    return [p.proto.text for p in at.get("progress") if p.proto.text.startswith("P(cat)")]


def upload(at, *files):
    """Upload (name, bytes) pairs and rerun."""
    at.file_uploader(key="upload").set_value(
        [(name, data, "application/octet-stream") for name, data in files])
    return at.run()


def metric_value(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


# --- the page and its controls -------------------------------------------------------------------


def test_page_renders_without_exception(app):
    no_exception(app)
    assert app.title[0].value == "Cat or not?"
    assert [m.label for m in app.metric] == ["Epoch", "Train loss", "Test loss", "Train accuracy",
                                             "Test accuracy"]
    assert metric_value(app, "Test accuracy") == "80.0%"  # the shipped model: 40 of 50
    assert metric_value(app, "Train accuracy") == "98.6%"  # 206 of 209
    assert not app.error and not app.warning
    explain = next(e for e in app.expander if "What happens on each tick" in e.proto.label)
    text = " ".join(m.value for m in explain.markdown)
    assert "16 nodes" in text and "reverse topological order" in text and "optimizer steps" in text


def test_every_control_exists_under_its_key(app):
    for key in CONTROL_KEYS:
        assert app.session_state[key] is not None or key == "upload"
    lr = app.select_slider(key="lr")
    assert lr.value == pytest.approx(0.0075)
    assert float(lr.options[0]) == pytest.approx(1e-5) and float(lr.options[-1]) == pytest.approx(1.0)
    assert app.number_input(key="epochs").value == 2500
    for key in ("play", "pause", "step", "reset"):
        assert app.button(key=key).key == key
    assert app.button(key="pause").disabled and not app.button(key="play").disabled
    uploader = app.file_uploader(key="upload")
    assert uploader.accept_multiple_files
    for ext in ("jpg", "jpeg", "png", "gif", "bmp", "webp", "tiff"):
        assert f".{ext}" in uploader.allowed_type
    assert app.session_state["optimizer"] == "sgd" and app.session_state["start"] == settings.PRETRAINED
    assert app.get("download_button")


def test_lr_slider_is_log_scaled():
    ratios = np.diff(np.log10(settings.LR_CHOICES))
    assert (ratios > 0).all() and ratios.max() < 0.25  # at most 1.67x between neighbours
    assert settings.DEFAULT_LR in settings.LR_CHOICES


# --- training: play, pause, step, reset ---------------------------------------------------------


def test_play_trains_in_ticks_and_pause_stops_at_once(app):
    app.number_input(key="epochs").set_value(settings.MAX_EPOCHS).run()
    app.button(key="play").click().run()
    no_exception(app)
    run = training(app)
    assert run.playing and run.epoch > 0
    assert app.button(key="play").disabled and not app.button(key="pause").disabled
    first = run.epoch
    app.run()  # one more run of the page: the live fragment trains one more tick
    assert run.epoch > first
    assert metric_value(app, "Epoch") == f"{run.epoch:,}"

    app.button(key="pause").click().run()
    paused = run.epoch
    assert not run.playing
    assert metric_value(app, "Epoch") == f"{paused:,}"  # paused: the view is up to date
    app.run()
    app.run()
    assert run.epoch == paused  # nothing trains while paused
    assert not app.button(key="play").disabled and app.button(key="pause").disabled
    no_exception(app)


def test_while_playing_every_fragment_draws_only_into_its_own_containers(app, monkeypatch):
    """A fragment that redraws a container made outside it makes Streamlit reserve a place there; merging such a
    redraw's messages with the page run's, Streamlit now and then sent the browser a tree it could not build, and
    the page went blank at Play (6 times in 81 on a busy server). So the page's fragments never do it."""
    from streamlit.runtime.fragment import MemoryFragmentStorage

    reserved = []
    monkeypatch.setattr(MemoryFragmentStorage, "register_outside_wrapper",
                        lambda storage, fragment_id, container_id, wrapper: reserved.append(container_id))
    app.number_input(key="epochs").set_value(settings.MAX_EPOCHS).run()
    app.button(key="play").click().run()
    app.run()
    assert training(app).playing and training(app).epoch > 0
    no_exception(app)
    assert reserved == []
    app.button(key="pause").click().run()


def test_play_stops_at_the_epoch_target(app):
    app.number_input(key="epochs").set_value(30).run()
    app.button(key="play").click().run()
    for _ in range(50):
        if not training(app).playing:
            break
        app.run()
    run = training(app)
    assert run.epoch == 30 and not run.playing
    assert app.button(key="play").disabled  # target reached: raise it to play on
    assert app.get("progress")[0].proto.value == 100
    app.number_input(key="epochs").set_value(40).run()
    assert not app.button(key="play").disabled
    no_exception(app)


def test_step_trains_a_few_epochs_and_grows_the_history(app):
    run = training(app)
    app.button(key="step").click().run()
    assert run.epoch == settings.STEP_EPOCHS and not run.playing
    app.button(key="step").click().run()
    assert run.epoch == 2 * settings.STEP_EPOCHS
    assert [r.epoch for r in run.history][:3] == [0, 10, 20]
    assert metric_value(app, "Epoch") == "20"
    assert all(m.delta for m in app.metric)  # deltas against the start of the run
    no_exception(app)


def test_reset_restores_the_pretrained_model(app, weights_path):
    before = grid_captions(app)
    app.select_slider(key="lr").set_value(0.01).run()
    for _ in range(3):
        app.button(key="step").click().run()
    assert training(app).epoch == 3 * settings.STEP_EPOCHS
    app.button(key="reset").click().run()
    run = training(app)
    assert run.epoch == 0 and not run.playing and not run.warning
    assert grid_captions(app) == before
    shipped, _ = load_weights(weights_path)
    for mine, theirs in zip(run.model.parameters(), shipped.parameters()):
        np.testing.assert_allclose(mine.data, theirs.data, rtol=1e-6, atol=1e-7)  # float32 copy
    no_exception(app)


def test_lr_change_applies_to_the_next_chunk_while_playing(app):
    app.number_input(key="epochs").set_value(settings.MAX_EPOCHS).run()
    app.button(key="play").click().run()
    app.select_slider(key="lr").set_value(0.001).run()
    run = training(app)
    assert run.playing and run.trainer.lr == pytest.approx(0.001)
    app.button(key="pause").click().run()


def test_optimizer_or_start_change_starts_a_new_run(app):
    app.button(key="step").click().run()
    assert training(app).epoch == settings.STEP_EPOCHS
    app.segmented_control(key="optimizer").set_value("adam").run()
    run = training(app)
    assert run.epoch == 0 and run.trainer.optimizer_name == "adam"
    app.segmented_control(key="start").set_value(settings.FRESH).run()
    run = training(app)
    assert run.start == settings.FRESH and run.epoch == 0
    no_exception(app)


def test_fresh_start_matches_the_reference_cost(app):
    app.segmented_control(key="start").set_value(settings.FRESH).run()
    assert metric_value(app, "Train loss") == "0.7717"  # README, "Reference numbers": cost 0.771749 at epoch 0
    app.button(key="step").click().run()
    assert float(metric_value(app, "Train loss")) < 0.7717


def test_divergence_warning_keeps_the_last_good_weights(app):
    before = grid_captions(app)
    app.select_slider(key="lr").set_value(1.0).run()
    app.button(key="play").click().run()
    run = training(app)
    assert not run.playing  # stopped by itself
    assert len(app.warning) == 1
    warning = app.warning[0].value
    assert "learning rate 1" in warning and "were kept" in warning
    assert run.epoch == 0  # the weights from before the chunk
    assert grid_captions(app) == before
    assert metric_value(app, "Test accuracy") == "80.0%"
    no_exception(app)
    app.select_slider(key="lr").set_value(0.0075).run()
    app.button(key="step").click().run()
    assert not app.warning and training(app).epoch == settings.STEP_EPOCHS


# --- the TL/MP grid ------------------------------------------------------------------------------


def test_grid_shows_50_tl_mp_captions_with_mistakes_marked(app):
    captions = grid_captions(app)
    assert len(captions) == 50
    assert all(CAPTION_RE.search(c) for c in captions)
    mistakes = [c for c in captions if "✗" in c]
    assert len(mistakes) == 10  # test accuracy 0.80
    for caption in mistakes:
        true, predicted = CAPTION_RE.search(caption).groups()
        assert true != predicted and ":red[" in caption
    for caption in set(captions) - set(mistakes):
        true, predicted = CAPTION_RE.search(caption).groups()
        assert true == predicted and caption == f"TL: {true} | MP: {predicted}"


def test_grid_filters_mistakes_and_shows_the_training_images(app):
    app.toggle(key="mistakes_only").set_value(True).run()
    assert len(grid_captions(app)) == 10
    app.toggle(key="mistakes_only").set_value(False).run()
    app.segmented_control(key="grid_split").set_value("train").run()
    assert len(grid_captions(app)) == 209
    assert sum("✗" in c for c in grid_captions(app)) == 3  # train accuracy 206/209
    no_exception(app)


def test_grid_follows_the_training(app):
    before = grid_captions(app)
    app.segmented_control(key="start").set_value(settings.FRESH).run()
    assert grid_captions(app) != before  # an untrained network calls things differently


# --- your photos ---------------------------------------------------------------------------------

GOOD_UPLOADS = {
    "photo.png": make.png_rgb(),
    "rgba.png": make.png_rgba(),
    "grey.png": make.png_gray(),
    "rotated.jpg": make.jpeg_exif_rotated(),
    "animated.gif": make.gif_animated(),
    "deep.png": make.png_16bit(),
    "print.jpg": make.jpeg_cmyk(),
    "palette.png": make.png_palette(),
    "scan.tiff": make.tiff_int32(),
    "modern.webp": make.image_file("WEBP"),
    "old.bmp": make.image_file("BMP"),
}
BAD_UPLOADS = {
    "truncated.jpg": make.truncated_jpeg(),
    "notes.png": make.text_file(),  # a text file renamed
    "notes.txt": make.text_file(),  # a text file that got past the browser's type filter
    "bomb.png": make.png_bomb(),
    "empty.jpg": b"",
}


@pytest.mark.parametrize("name", list(GOOD_UPLOADS))
def test_each_kind_of_photo_gets_a_prediction(app, name):
    upload(app, (name, GOOD_UPLOADS[name]))
    no_exception(app)
    assert not app.error
    assert len(predictions(app)) == 1
    assert re.fullmatch(r"P\(cat\) (= \d\.\d\d|[<>] 0\.\d\d)", p_texts(app)[0])
    assert len(app.session_state["uploads"]) == 1
    captions = " ".join(c.value for c in app.caption)
    assert "MP = model prediction" in captions  # the photo card's "MP: cat" explained next to it,
    assert "plain colours get a confident guess" in captions  # and the caveat still in view once there is a guess


@pytest.mark.parametrize("name", list(BAD_UPLOADS))
def test_each_bad_file_gets_its_own_error(app, name):
    upload(app, (name, BAD_UPLOADS[name]))
    no_exception(app)
    assert len(app.error) == 1
    assert re.escape(name.split(".")[0]) in app.error[0].value
    assert not predictions(app)


def test_bad_files_do_not_stop_the_others(app):
    files = [*GOOD_UPLOADS.items(), *BAD_UPLOADS.items()]
    upload(app, *files)
    no_exception(app)
    assert len(app.error) == len(BAD_UPLOADS)
    assert len(predictions(app)) == len(GOOD_UPLOADS)


def test_the_same_photo_uploaded_twice_gets_one_card(app):
    photo = make.png_rgb()
    upload(app, ("cat.png", photo), ("grey.png", make.png_gray()), ("cat.png", photo))
    no_exception(app)
    assert len(predictions(app)) == 2
    assert "was uploaded twice: shown once." in " ".join(c.value for c in app.caption)


def test_a_bug_shows_visitors_no_traceback_and_no_message(app, monkeypatch):
    """.streamlit/config.toml: a visitor sees the error's type and a generic sentence; the details go to the log."""
    from ui import photos

    def broken(uploads):
        raise RuntimeError("secret detail")

    monkeypatch.setattr(photos, "once_each", broken)
    upload(app, ("cat.png", make.png_rgb()))
    assert len(app.exception) == 1
    shown = app.exception[0]
    assert not shown.stack_trace and "secret" not in shown.value


def test_crop_or_squash_changes_what_the_model_sees(app):
    upload(app, ("stripes.png", make.png_stripes(size=(300, 100))))
    cache = app.session_state["uploads"]
    app.segmented_control(key="fit").set_value("squash").run()
    no_exception(app)
    assert len(cache) == 2  # one prepared copy per fit, each made once


def test_the_fit_control_waits_for_a_photo_it_can_apply_to_and_keeps_its_choice(app):
    upload(app, ("notes.png", make.text_file()))
    no_exception(app)
    assert len(app.error) == 1 and not [c for c in app.segmented_control if c.key == "fit"]  # a choice about nothing
    upload(app, ("stripes.png", make.png_stripes(size=(300, 100))))
    app.segmented_control(key="fit").set_value("squash").run()
    upload(app, ("notes.png", make.text_file()))  # broken files alone: the control goes away...
    upload(app, ("stripes.png", make.png_stripes(size=(300, 100))))
    no_exception(app)
    assert app.segmented_control(key="fit").value == "squash"  # ...and comes back with the visitor's choice


def test_true_labels_turn_uploads_into_a_tl_mp_grid(app):
    upload(app, ("a.png", make.png_rgb()), ("b.png", make.png_gray()))
    assert not [c for img in app.image for c in img.captions if CAPTION_RE.search(c)][50:]
    file_ids = [f.file_id for f in app.file_uploader(key="upload").value]
    app.segmented_control(key=f"truth_{file_ids[0]}").set_value(1).run()
    app.segmented_control(key=f"truth_{file_ids[1]}").set_value(0).run()
    grids = [img.captions for img in app.image if len(img.captions) == 2]
    assert len(grids) == 1 and all(CAPTION_RE.search(c) for c in grids[0])
    assert grids[0][0].replace(":red[**✗ ", "").startswith("TL: cat | MP: ")
    assert CAPTION_RE.search(grids[0][1]).group(1) == "non-cat"
    no_exception(app)


MARKUP_NAMES = ["[x](javascript:alert(1)).png", "<b>bold</b>.png", "**loud** _and_ `code`.png",
                ":red[alarm] $x^2$.png", "http://example.com/x.png"]


def _is_plain(markdown: str, text: str) -> bool:
    """`markdown` shows `text` literally: every Markdown-active character in it is backslash-escaped."""
    escaped = "".join("\\" + c if not c.isalnum() and c.isascii() and c not in " " else c for c in text)
    return escaped in markdown.replace(WORD_JOINER, "")  # the invisible joiner that keeps addresses from linking


@pytest.mark.parametrize("name", MARKUP_NAMES)
def test_file_names_are_shown_as_plain_text(app, name):
    upload(app, (name, make.text_file()), ("ok " + name, make.png_rgb()))
    no_exception(app)
    assert len(app.error) == 1
    body = app.error[0].value
    assert _is_plain(body, name), body
    assert "](" not in body.replace("\\](", "").replace("\\]\\(", "")  # no live link syntax
    assert not re.search(r"(?<!\\)<", body)  # no raw HTML
    title = next(m.value for m in app.markdown if m.value.startswith("**ok"))  # the photo's name, in bold
    assert _is_plain(title, "ok " + name), title


# --- sessions and missing files ------------------------------------------------------------------


def test_two_sessions_are_isolated(start_app, weights_path):
    one, two = start_app(), start_app()
    upload(two, ("photo.png", make.png_rgb()), ("grey.png", make.png_gray()))
    before, grid = p_texts(two), grid_captions(two)
    one.select_slider(key="lr").set_value(1.0).run()
    one.segmented_control(key="start").set_value(settings.FRESH).run()
    one.select_slider(key="lr").set_value(0.05).run()
    for _ in range(3):
        one.button(key="step").click().run()
    assert training(one).epoch > 0 and training(two).epoch == 0
    assert grid_captions(one) != grid
    two.run()
    assert p_texts(two) == before and grid_captions(two) == grid
    # The shared, cached pretrained model was never touched.
    shipped, _ = load_weights(weights_path)
    cached = training(two).resources.model
    for a, b in zip(cached.parameters(), shipped.parameters()):
        assert a.data.dtype == b.data.dtype and np.array_equal(a.data, b.data)
    assert training(one).model is not training(two).model


def test_missing_dataset_keeps_uploads_working(start_app, tmp_path):
    at = start_app(data=tmp_path / "no-data")
    no_exception(at)
    infos = " ".join(i.value for i in at.info)
    assert infos.count("make data") >= 2  # the training section and the grid both say how
    assert not at.metric
    for key in ("lr", "epochs", "play", "step", "reset"):
        widget = at.select_slider(key=key) if key == "lr" else (
            at.number_input(key=key) if key == "epochs" else at.button(key=key))
        assert widget.disabled
    upload(at, ("photo.png", make.png_rgb()), ("notes.png", make.text_file()))
    no_exception(at)
    assert len(predictions(at)) == 1 and len(at.error) == 1
    assert not at.warning  # the pretrained model is there: no "untrained" warning


@pytest.mark.parametrize("problem", ["missing", "corrupt", "directory"])
def test_missing_or_corrupt_weights_offer_training_from_scratch(start_app, tmp_path, problem):
    weights = tmp_path / "cat_mlp.npz"
    if problem == "corrupt":
        weights.write_bytes(b"PK\x03\x04 this is not a zip file")
    elif problem == "directory":
        weights.mkdir()
    at = start_app(weights=weights)
    no_exception(at)
    assert len(at.error) == 1
    message = at.error[0].value
    assert "pretrained weights could not be loaded" in message and "Play" in message
    assert at.session_state["start"] == settings.FRESH
    assert at.segmented_control(key="start").disabled
    assert metric_value(at, "Train loss") == "0.7717"  # the reference initialization
    at.button(key="step").click().run()
    assert training(at).epoch == settings.STEP_EPOCHS
    no_exception(at)


def test_no_weights_and_no_data_still_classify_with_a_warning(start_app, tmp_path):
    at = start_app(data=tmp_path / "no-data", weights=tmp_path / "none.npz")
    no_exception(at)
    upload(at, ("photo.png", make.png_rgb()))
    no_exception(at)
    assert len(predictions(at)) == 1
    assert any("untrained" in w.value for w in at.warning)


def test_download_gives_the_sessions_current_weights(app):
    app.button(key="step").click().run()
    run = training(app)
    model, meta = load_weights(session.download_bytes(run))
    assert meta["epochs"] == 2500 + settings.STEP_EPOCHS and meta["optimizer"] == "sgd"
    for a, b in zip(model.parameters(), run.model.parameters()):
        assert np.array_equal(a.data, b.data)
    assert app.get("download_button")[0].label.startswith("Download weights")
    assert session.weights_filename(run) == f"cat_mlp_pretrained_{2500 + settings.STEP_EPOCHS}ep.npz"
