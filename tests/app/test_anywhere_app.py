"""The page wherever it runs: the data set downloaded from the page, the control row, settings in the
address, the seed, and the camera. Driven in-process by AppTest (see test_app.py for how it runs the page);
downloads come from local HTTP servers, never the internet."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from model import dataset
from model.cat import cat_mlp
from model.dataset import FILES
from tests.app.conftest import APP, TIMEOUT
from tests.model import image_factory as make
from ui import settings
from ui.resources import DATA_ENV, WEIGHTS_ENV

CONTROLS = ("play", "pause", "step", "reset")
TEACHERS_LINK = {"lr": "0.5", "epochs": "300", "optimizer": "adam", "start": "fresh", "seed": "3"}


pytestmark = pytest.mark.usefixtures("local_only")  # tests/local_servers.py: never the internet


@pytest.fixture
def open_page(monkeypatch, data_dir, weights_path):
    """open_page(query=None, data=..., weights=...) -> an AppTest that has run once, opened with `query`
    (a dict; a list value repeats the parameter) as its address's query string."""

    def start(query=None, data=data_dir, weights=weights_path) -> AppTest:
        monkeypatch.setenv(DATA_ENV, str(data))
        monkeypatch.setenv(WEIGHTS_ENV, str(weights))
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
        at.query_params.update(query or {})
        at.run()
        return at

    return start


def training(at):
    return at.session_state["training"]


def no_exception(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def metric_value(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def toasts(at) -> list[str]:
    return [t.value for t in at.toast]


def assert_weights_equal(model, reference) -> None:
    for mine, theirs in zip(model.parameters(), reference.parameters()):
        np.testing.assert_array_equal(mine.data, theirs.data.astype(mine.data.dtype))


# --- the control row ------------------------------------------------------------------------------


def test_play_pause_step_reset_are_one_row_on_the_page_not_in_the_sidebar(open_page):
    at = open_page()
    no_exception(at)
    in_sidebar = {b.key for b in at.sidebar.button}
    in_main = [b.key for b in at.main.button]
    for key in CONTROLS:
        assert key not in in_sidebar and in_main.count(key) == 1  # exactly one widget per key
    assert in_main[:4] == list(CONTROLS)  # the first buttons of the page, in this order
    children = list(at.main.children.values())
    below_header = children[[getattr(c, "value", None) for c in children].index("Live training") + 1]
    assert "direction: HORIZONTAL" in str(below_header.proto)  # one row, right under the section's header
    assert [b.key for b in below_header.button] == list(CONTROLS)
    for key in ("lr", "epochs", "optimizer", "start", "seed"):  # the settings stay in the sidebar
        assert any(w.key == key for w in [*at.sidebar.select_slider, *at.sidebar.number_input,
                                          *at.sidebar.button_group])


def test_the_control_row_still_drives_training(open_page):
    at = open_page()
    at.button(key="step").click().run()
    assert training(at).epoch == settings.STEP_EPOCHS
    at.number_input(key="epochs").set_value(settings.MAX_EPOCHS).run()
    at.button(key="play").click().run()
    assert training(at).playing and training(at).epoch > settings.STEP_EPOCHS
    at.button(key="pause").click().run()
    assert not training(at).playing and at.button(key="pause").disabled
    at.button(key="reset").click().run()
    assert training(at).epoch == 0
    no_exception(at)


# --- the data set from the page --------------------------------------------------------------------


def test_a_page_without_data_offers_the_download(open_page, tmp_path):
    at = open_page(data=tmp_path / "empty")
    no_exception(at)
    button = at.button(key="fetch_data")
    assert button.label == "Download the data set (3 MB)" and not button.disabled
    assert any("make data" in i.value for i in at.info)
    for key in ("play", "step", "reset", "seed"):
        widget = at.number_input(key=key) if key == "seed" else at.button(key=key)
        assert widget.disabled
    assert not at.error


def test_the_download_button_is_gone_once_the_data_is_there(open_page):
    at = open_page()
    assert not [b for b in at.button if b.key == "fetch_data"]


def test_download_from_the_page_then_train_without_a_restart(open_page, tmp_path, data_dir, serve,  # noqa: F811
                                                            monkeypatch):
    server = serve(data_dir)
    monkeypatch.setenv(dataset.URLS_ENV, server.url)  # as a host would set it
    page_data = tmp_path / "page-data"
    at = open_page(data=page_data)
    assert not training(at).can_train

    at.button(key="fetch_data").click().run()
    no_exception(at)
    assert dict(server.requests) == {name: 1 for name in FILES}
    assert sorted(p.name for p in page_data.iterdir()) == sorted(FILES)
    assert training(at).can_train and [m.label for m in at.metric][0] == "Epoch"
    assert metric_value(at, "Test accuracy") == "80.0%"  # the shipped model, now measured on the data
    assert any("data set is in place" in t for t in toasts(at))
    assert not [b for b in at.button if b.key == "fetch_data"] and not at.error
    at.button(key="step").click().run()
    assert training(at).epoch == settings.STEP_EPOCHS
    no_exception(at)


def test_a_failed_download_shows_one_clear_error_and_can_be_retried(open_page, tmp_path, refused_url,  # noqa: F811
                                                                    monkeypatch):
    monkeypatch.setenv(dataset.URLS_ENV, refused_url)
    at = open_page(data=tmp_path / "page-data")
    at.button(key="fetch_data").click().run()
    no_exception(at)
    assert len(at.error) == 1
    message = at.error[0].value
    assert message.startswith("**The data set could not be downloaded.**")
    assert "connection refused" in message and "CATVNONCAT\\_DIR" in message and "`make data`" in message
    at.run()  # the message stays until the next try
    assert len(at.error) == 1 and not at.button(key="fetch_data").disabled


def test_two_visitors_pressing_download_at_once_download_once(open_page, tmp_path, data_dir, serve,  # noqa: F811
                                                              monkeypatch):
    server = serve(data_dir, delay=0.5)  # keeps the first visitor's download in flight
    monkeypatch.setenv(dataset.URLS_ENV, server.url)
    page_data = tmp_path / "page-data"
    visitors = [open_page(data=page_data), open_page(data=page_data)]
    for at in visitors:
        at.button(key="fetch_data").click()
    threads = [threading.Thread(target=at.run) for at in visitors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=2 * TIMEOUT)
    assert dict(server.requests) == {name: 1 for name in FILES}
    for at in visitors:
        no_exception(at)
        assert training(at).can_train and not at.error


# --- settings in the address -----------------------------------------------------------------------


def test_a_link_opens_the_page_with_its_settings(open_page):
    at = open_page(TEACHERS_LINK)
    no_exception(at)
    assert not toasts(at)
    assert at.select_slider(key="lr").value == pytest.approx(0.5)
    assert at.number_input(key="epochs").value == 300
    assert at.number_input(key="seed").value == 3
    assert at.session_state["optimizer"] == "adam" and at.session_state["start"] == settings.FRESH
    run = training(at)
    assert (run.lr, run.target, run.optimizer, run.start, run.seed) == (0.5, 300, "adam", settings.FRESH, 3)
    assert_weights_equal(run.model, cat_mlp(seed=3))
    assert at.query_params == TEACHERS_LINK  # what the page's address keeps


def test_bad_values_in_a_link_get_one_notice_naming_each_and_never_an_exception(open_page):
    at = open_page({"lr": "abc", "epochs": "1e9", "optimizer": "rmsprop", "seed": ["1", "2"], "start": "",
                    "utm_source": "mail"})
    no_exception(at)
    (message,) = toasts(at)  # one toast for them all: a stack of five would cover the metrics
    headline, *notices = [line for line in message.splitlines() if line]
    assert headline == "Ignored **lr**, **epochs**, **optimizer**, **start** and **seed** in the link:"
    assert len(notices) == 5
    for key in ("lr", "epochs", "optimizer", "seed", "start"):
        assert sum(f"**{key}" in n for n in notices) == 1
    assert any(n.endswith("; the page uses lr=0.0075.") for n in notices)  # and what it falls back to
    assert any(n.endswith("; the page uses start=pretrained.") for n in notices)
    run = training(at)
    assert (run.lr, run.target, run.optimizer, run.start) == (settings.DEFAULT_LR, settings.DEFAULT_EPOCHS, "sgd",
                                                              settings.PRETRAINED)
    assert at.query_params == {"utm_source": "mail"}  # the bad values are gone; a stranger's parameter stays


def test_an_lr_between_the_steps_snaps_with_a_notice(open_page):
    at = open_page({"lr": "0.004"})
    assert at.select_slider(key="lr").value == pytest.approx(0.005)
    assert len(toasts(at)) == 1 and "between the slider's steps" in toasts(at)[0]
    assert at.query_params == {"lr": "0.005"}


def test_changing_a_setting_updates_the_address_and_the_link_round_trips(open_page):
    at = open_page()
    assert at.query_params == {}
    at.select_slider(key="lr").set_value(0.01).run()
    assert at.query_params == {"lr": "0.01"}
    at.number_input(key="seed").set_value(5).run()
    at.number_input(key="epochs").set_value(400).run()
    at.segmented_control(key="optimizer").set_value("adam").run()
    expected = {"lr": "0.01", "epochs": "400", "optimizer": "adam", "start": "fresh", "seed": "5"}
    assert at.query_params == expected
    share = next(c.value for c in at.code)  # in the Share popover of the control row
    assert share == "?" + "&".join(f"{k}={v}" for k, v in expected.items())  # no browser here: no base URL
    at.select_slider(key="lr").set_value(settings.DEFAULT_LR).run()
    assert at.query_params["lr"] == "0.0075"  # SGD's default, but with Adam: "optimizer=adam" alone means Adam's rate

    again = open_page(dict(at.query_params))
    run = training(again)
    assert (run.lr, run.target, run.optimizer, run.start, run.seed) == (settings.DEFAULT_LR, 400, "adam",
                                                                        settings.FRESH, 5)
    no_exception(again)


def test_switching_to_adam_brings_adams_own_rate_and_back(open_page):
    at = open_page()
    at.segmented_control(key="optimizer").set_value("adam").run()
    assert at.select_slider(key="lr").value == pytest.approx(settings.DEFAULT_LRS["adam"])
    assert training(at).lr == settings.DEFAULT_LRS["adam"] and training(at).optimizer == "adam"
    assert any("Learning rate set to 0.00002, where Adam trains" in toast for toast in toasts(at))
    assert at.query_params == {"optimizer": "adam", "lr": "0.00002"}
    at.segmented_control(key="optimizer").set_value("sgd").run()
    assert training(at).lr == settings.DEFAULT_LR and at.query_params == {}
    at.select_slider(key="lr").set_value(0.01).run()
    at.segmented_control(key="optimizer").set_value("adam").run()
    assert training(at).lr == 0.01  # a rate the visitor chose stays theirs
    no_exception(at)


def test_the_address_is_read_on_a_sessions_first_run_only(open_page):
    at = open_page({"lr": "0.5"})
    at.select_slider(key="lr").set_value(0.01).run()
    at.run()
    assert at.select_slider(key="lr").value == pytest.approx(0.01) and training(at).lr == pytest.approx(0.01)


def test_a_link_asking_for_pretrained_weights_that_are_missing_starts_fresh(open_page, tmp_path):
    at = open_page({"start": "pretrained"}, weights=tmp_path / "none.npz")
    no_exception(at)
    assert training(at).start == settings.FRESH


# --- the seed --------------------------------------------------------------------------------------


def test_the_seed_input_defaults_to_the_reference_and_says_what_it_shows(open_page):
    at = open_page()
    seed = at.number_input(key="seed")
    assert seed.value == settings.DEFAULT_SEED == 1
    assert (seed.min, seed.max) == (0, 2**31 - 1)
    assert any("lucky draw" in c.value for c in at.sidebar.caption)


def test_a_new_seed_starts_a_fresh_run_from_that_seed(open_page):
    at = open_page()
    at.button(key="step").click().run()
    at.number_input(key="seed").set_value(2).run()
    no_exception(at)
    run = training(at)
    assert run.start == settings.FRESH and at.session_state["start"] == settings.FRESH
    assert run.epoch == 0 and run.seed == 2
    assert_weights_equal(run.model, cat_mlp(seed=2))
    assert metric_value(at, "Train loss") != "0.7717"  # seed 1's first cost: another draw, another start
    assert "seed 2" in " ".join(c.value for c in at.caption)
    at.button(key="reset").click().run()  # Reset keeps the seed
    assert training(at).seed == 2
    assert_weights_equal(training(at).model, cat_mlp(seed=2))


# --- the camera ------------------------------------------------------------------------------------


def camera_on(at):
    at.toggle(key="camera_on").set_value(True).run()
    return at.camera_input(key="camera")


def test_the_camera_asks_for_nothing_until_switched_on(open_page):
    at = open_page()
    assert not at.camera_input
    assert camera_on(at).key == "camera"
    no_exception(at)


def test_a_camera_photo_is_classified_like_an_upload(open_page):
    at = open_page()
    camera_on(at).set_value(("shot.jpg", make.jpeg_photo(megapixels=0.3), "image/jpeg")).run()
    no_exception(at)
    assert not at.error
    verdicts = [h.value for h in at.subheader if h.value.startswith("MP: ")]
    assert len(verdicts) == 1 and verdicts[0] in ("MP: cat", "MP: non-cat")
    assert any(m.value == "**camera photo**" for m in at.markdown)
    assert len(at.session_state["uploads"]) == 1


def test_a_camera_photo_and_uploads_together(open_page):
    at = open_page()
    at.file_uploader(key="upload").set_value([("a.png", make.png_rgb(), "image/png")]).run()
    camera_on(at).set_value(("shot.jpg", make.jpeg_photo(megapixels=0.3), "image/jpeg")).run()
    assert len([h for h in at.subheader if h.value.startswith("MP: ")]) == 2
    no_exception(at)


def test_a_broken_camera_photo_gets_its_own_error(open_page):
    at = open_page()
    camera_on(at).set_value(("shot.jpg", make.truncated_jpeg(), "image/jpeg")).run()
    no_exception(at)
    assert len(at.error) == 1 and at.error[0].value.startswith("**camera photo**: ")
    assert not [h for h in at.subheader if h.value.startswith("MP: ")]

