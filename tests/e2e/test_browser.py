"""The app in a real browser: `streamlit run app.py` driven by Chromium through Playwright.

What AppTest cannot see: the page as the browser renders it (the Vega chart, the uploader's real
<input type=file>, Markdown turned into HTML), and the `run_every` timers that make Play train on its own.
Each test gets a new browser session (see conftest.py), so each has its own copy of the model. Every wait
is bounded; the only fixed pauses are the observation windows that check that something does NOT change.

`make screenshots` (env SCREENSHOTS=docs) saves the curated screenshots to docs/app-*.png.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

from tests.model import image_factory as make

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips the tests (or fails them under CI)
    expect = None

MP_RE = re.compile(r"^MP: (cat|non-cat)$")
P_CAT_RE = re.compile(r"^P\(cat\) (= (0\.\d\d|1\.00)|> 0\.99|< 0\.01)$")
CAPTION_RE = re.compile(r"^(✗ )?TL: (cat|non-cat) \| MP: (cat|non-cat)$")  # '✗ ' marks a mistake
WEIGHTS = Path(__file__).resolve().parents[2] / "weights" / "cat_mlp.npz"
WATCH_MS = 2_000  # how long the tests watch a run play before reading it again
STILL_WINDOW_MS = 1_500  # how long a paused run must keep its epoch to count as stopped
TRAIN_TIMEOUT_MS = 30_000  # bound for training to show progress, generous for a busy 2-core machine
FULL_RUN_TIMEOUT_MS = 90_000  # bound for 1,200 epochs (~4 s on an idle 2-core machine)


# --- helpers -------------------------------------------------------------------------------------


def photo_card(app, name: str):
    """The column of one uploaded photo's result: its name, 'MP: …' and the P(cat) bar.

    The innermost block holding the name (blocks nest, ancestors come first in document order).
    """
    name_text = app.page.locator("strong").get_by_text(name, exact=True)
    return app.page.get_by_test_id("stVerticalBlock").filter(has=name_text).last


def expect_prediction(app, name: str) -> tuple[str, str]:
    """Wait for `name`'s verdict; return ('MP: cat' or 'MP: non-cat', 'P(cat) = 0.72' or similar)."""
    card = photo_card(app, name)
    verdict = card.get_by_role("heading", level=3)
    expect(verdict).to_have_text(MP_RE)
    p_text = card.get_by_test_id("stProgress")
    expect(p_text).to_have_text(P_CAT_RE)
    return verdict.inner_text().strip(), p_text.inner_text().strip()


def errors(app):
    return app.page.get_by_test_id("stAlertContentError")


def grid_captions(app) -> list[str]:
    """The TL/MP captions on the page (the test-set grid, plus any labelled uploads)."""
    texts = [t.strip() for t in app.page.get_by_test_id("stImageCaption").all_inner_texts()]
    return [t for t in texts if "TL: " in t]


def confident_test_cat(data_dir) -> np.ndarray:
    """The (64, 64, 3) test-set cat the shipped model is surest about: a real photo for the upload."""
    from model.dataset import load_catvnoncat
    from model.weights import load_weights
    data = load_catvnoncat(data_dir)
    model, _ = load_weights(WEIGHTS)
    p_cat = model(data.x_test).data.reshape(-1)
    cats = np.flatnonzero(data.y_test.reshape(-1) == 1)
    return data.images_test[cats[np.argmax(p_cat[cats])]]


def cat_photo(data_dir, folder: Path) -> Path:
    """`confident_test_cat` as a 256 x 256 PNG in `folder`, the size of a small photo someone uploads."""
    path = folder / "cat.png"
    Image.fromarray(confident_test_cat(data_dir)).resize((256, 256), Image.Resampling.LANCZOS).save(path)
    return path


# --- the tests -----------------------------------------------------------------------------------


def test_page_loads_with_the_pretrained_model(app, screenshot):
    page = app.page
    expect(page).to_have_title(re.compile("Cat or not"))
    expect(page.get_by_role("heading", name="Cat or not?", level=1)).to_be_visible()
    for heading in ("Live training", "Your photos", "True label vs. model prediction"):
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
    labels = page.get_by_test_id("stMetricLabel").all_inner_texts()
    assert [label.strip() for label in labels] == [
        "Epoch", "Train loss", "Test loss", "Train accuracy", "Test accuracy"]
    # The shipped model, as the page reports it: nothing trained yet in this session.
    assert app.epoch() == 0
    assert re.fullmatch(r"\d+\.\d%", app.metric_value("Test accuracy"))
    assert re.fullmatch(r"\d\.\d{4}", app.metric_value("Train loss"))
    assert app.metric_value("Train accuracy") != "0.0%"
    expect(app.status).to_have_text(re.compile(r"^Ready: press Play"))
    expect(app.chart.locator("svg")).to_be_visible()
    for key in ("lr", "epochs", "play", "pause", "step", "reset", "upload"):
        expect(app.widget(key)).to_be_visible()
    expect(app.button("play")).to_be_enabled()
    expect(app.button("pause")).to_be_disabled()
    app.assert_healthy()
    screenshot(page, "app-start", docs=True)


def test_upload_a_photo_and_a_broken_file(app, screenshot, tmp_path, data_dir):
    """A real photo and a phone-sized JPEG get a verdict; a truncated file gets its own error."""
    cat = cat_photo(data_dir, tmp_path)
    phone = tmp_path / "phone-photo.jpg"
    phone.write_bytes(make.jpeg_photo(megapixels=2))
    broken = tmp_path / "truncated.jpg"
    broken.write_bytes(make.truncated_jpeg())

    app.widget("upload").locator("input[type=file]").set_input_files([cat, broken, phone])

    expect(errors(app)).to_have_count(1)
    expect(errors(app)).to_contain_text("truncated.jpg")
    verdicts = app.page.get_by_role("heading", level=3).filter(has_text=MP_RE)
    expect(verdicts).to_have_count(2)
    # The model's surest test cat, resized up and back down, is still a cat: the upload path (decode,
    # crop, LANCZOS to 64x64, /255) feeds the model what training fed it.
    assert expect_prediction(app, "cat.png")[0] == "MP: cat"
    expect_prediction(app, "phone-photo.jpg")
    expect(app.page.get_by_test_id("stImage").filter(
        has_text="what the model sees")).to_have_count(2)
    sees, looks = (app.page.get_by_test_id("stImage").filter(has_text=caption).first.bounding_box()
                   for caption in ("what the model sees", "where the model looks"))
    assert abs(sees["y"] - looks["y"]) < 10 and sees["x"] < looks["x"]  # a desktop card keeps them in one row
    app.assert_healthy()
    app.scroll_to_heading("Your photos")
    screenshot(app.page, "app-upload", docs=True)


def test_the_intros_upload_link_leads_to_the_uploader(app):
    uploads = app.page.get_by_role("heading", name="Your photos")
    expect(uploads).not_to_be_in_viewport()  # far below the first screen
    app.page.get_by_role("link", name="Upload a photo").click()
    expect(uploads).to_be_in_viewport()
    expect(app.widget("upload")).to_be_in_viewport()
    assert len(app.page.context.pages) == 1  # the same tab, not a new one
    app.assert_healthy()


HOSTILE_NAMES = ["<b>x</b>.png", "[x](javascript:alert(1)).png", "<img src=x onerror=alert(1)>.png"]


def test_file_names_are_shown_as_plain_text(app):
    """Names are a stranger's text: no markup, no link, no script, whether the file is good or bad."""
    bad_name = "[y](javascript:alert(2))**z**.jpg"
    files = [{"name": name, "mimeType": "image/png", "buffer": make.png_rgb()} for name in HOSTILE_NAMES]
    files.append({"name": bad_name, "mimeType": "image/jpeg", "buffer": make.truncated_jpeg()})
    # Payloads rather than files on disk: '/' cannot be part of a file name.
    app.widget("upload").locator("input[type=file]").set_input_files(files)

    for name in HOSTILE_NAMES:
        expect_prediction(app, name)  # shown literally, in bold, above its verdict
    expect(errors(app)).to_have_count(1)
    expect(errors(app).locator("strong").get_by_text(bad_name, exact=True)).to_be_visible()
    main = app.page.get_by_test_id("stMain")
    expect(main.locator("b")).to_have_count(0)
    expect(main.locator("img[src='x']")).to_have_count(0)
    expect(app.page.locator("a[href^='javascript' i]")).to_have_count(0)
    expect(main.locator("a", has_text=re.compile(r"^[xy]$"))).to_have_count(0)
    expect(main.locator("strong", has_text=re.compile(r"^z$"))).to_have_count(0)
    assert not app.dialogs
    app.assert_healthy()


def test_play_advances_the_epoch_and_the_chart_and_pause_stops_them(app):
    page = app.page
    start_lines = app.chart_lines()
    app.click("play")
    expect(app.button("pause")).to_be_enabled()
    app.wait_for_epoch_above(0, TRAIN_TIMEOUT_MS)
    app.wait_for_chart_change(start_lines, TRAIN_TIMEOUT_MS)
    first, first_lines = app.epoch(), app.chart_lines()
    # Watch for a while, as a visitor would: the epoch and the chart keep moving on their own (the
    # fragments' run_every timers), nothing clicked. This also makes Pause below land in a timer-driven
    # rerun of the live fragment rather than in the full run that Play started.
    page.wait_for_timeout(WATCH_MS)
    second = app.wait_for_epoch_above(first, TRAIN_TIMEOUT_MS)
    app.wait_for_chart_change(first_lines, TRAIN_TIMEOUT_MS)
    assert second > first
    expect(app.status).to_have_text(re.compile(r"^Training… epoch [\d,]+ of 2,500"))
    app.assert_healthy()

    app.click("pause")
    expect(app.button("pause")).to_be_disabled()
    expect(app.button("play")).to_be_enabled()
    expect(app.status).to_have_text(re.compile(r"^Paused at epoch [\d,]+ of 2,500"))
    paused, paused_lines = app.wait_until_still()
    assert app.status.inner_text().startswith(f"Paused at epoch {paused:,} ")
    page.wait_for_timeout(STILL_WINDOW_MS)  # an observation window: nothing may change in it
    assert app.epoch() == paused
    assert app.chart_lines() == paused_lines

    app.click("reset")
    expect(app.status).to_have_text(re.compile(r"^Ready: press Play"))
    assert app.epoch() == 0
    app.assert_healthy()


# The top of a heading within the page, every animation frame for `ms` (Streamlit scrolls [data-testid=stMain]).
TRACK_HEADING = """async ({heading, ms}) => {
    const main = document.querySelector('[data-testid=stMain]');
    const element = [...document.querySelectorAll('h2')].find(e => e.textContent.includes(heading));
    const tops = [], start = performance.now();
    while (performance.now() - start < ms) {
        tops.push(element.getBoundingClientRect().top + main.scrollTop);
        await new Promise(requestAnimationFrame);
    }
    return tops;
}"""


def test_the_page_below_the_live_view_stays_put_while_training(phone_app):
    """While a run plays, every redraw of the live view, the layer health and the unit tiles replaces them in
    place: nothing below moves. (Each used to blank for a moment when its place was made anew, and on a phone
    the rest of the page jumped up by as much as 3,000 px, under the reader's eyes.)"""
    app = phone_app
    app.click("play")
    app.wait_for_epoch_above(0, TRAIN_TIMEOUT_MS)
    app.page.wait_for_timeout(WATCH_MS)  # past the full rerun that Play started: now only the timers redraw
    # and past the one change that is no redraw: the health chart taking the place of its one-line "appears once
    # this run has trained" (its picture from before Play is kept for up to 2 s)
    expect(app.widget("layer_health").get_by_test_id("stVegaLiteChart")).to_be_visible()
    # 4 s: two redraws of the tiles (every 2 s) and ten of the chart. Not longer: about 10 s after Play the run
    # reaches its 2,500 epochs and the page runs again to show it stopped, which is Pause's case (the next test).
    tops = app.page.evaluate(TRACK_HEADING, {"heading": "See backprop", "ms": 4_000})
    app.click("pause")
    assert len(tops) > 60, "too few animation frames to judge"
    assert max(tops) - min(tops) < 100, f"'See backprop' moved between {min(tops):.0f} and {max(tops):.0f} px"
    app.assert_healthy()


# The smallest height the loss chart's box had, and how many animation frames looked, from now until window.stopWatch.
WATCH_CHART_BOX = """() => {
    window.chartBox = {lowest: Infinity, frames: 0};
    const look = () => {
        const box = document.querySelector('.st-key-loss_chart');
        window.chartBox.lowest = Math.min(window.chartBox.lowest, box ? box.getBoundingClientRect().height : 0);
        window.chartBox.frames += 1;
        if (!window.stopWatch) requestAnimationFrame(look);
    };
    requestAnimationFrame(look);
}"""


def test_pause_keeps_the_loss_charts_place_on_the_page(phone_app):
    """Pause runs the whole page again, which makes the chart's place anew, and Vega draws the chart in it from
    nothing: the box keeps the chart's height meanwhile, so the page below does not jump up (466 px on a phone, at
    every Pause, before) and back."""
    from ui.live import CHART_HEIGHT

    app = phone_app
    app.click("play")
    app.wait_for_epoch_above(0, TRAIN_TIMEOUT_MS)
    app.page.evaluate(WATCH_CHART_BOX)
    app.click("pause")
    expect(app.status).to_have_text(re.compile(r"^Paused at epoch [\d,]+ of 2,500"))
    app.wait_until_still()
    box = app.page.evaluate("window.stopWatch = true; window.chartBox")
    assert box["frames"] > 10, "too few animation frames to judge"
    assert box["lowest"] >= CHART_HEIGHT - 1, f"the chart's box shrank to {box['lowest']:.0f} px at Pause"
    app.assert_healthy()


def test_a_fresh_network_learns_up_to_its_epoch_target(app, screenshot):
    """From the reference initialization the loss visibly falls; Play stops by itself at the target."""
    target = 1200  # the train loss falls from 0.77 to about 0.25 by then: a curve worth a picture
    app.widget("start").get_by_role("radio", name="Fresh init").click()
    epochs = app.widget("epochs").locator("input")
    epochs.fill(str(target))
    epochs.press("Enter")
    expect(app.metric("Epoch")).to_contain_text(f"of {target:,}")
    expect(app.page.get_by_text("fresh reference initialization", exact=False)).to_be_visible()
    initial_loss = float(app.metric_value("Train loss"))

    app.click("play")
    app.wait_for_epoch_above(1000, FULL_RUN_TIMEOUT_MS)  # past the bumpy stretch: test accuracy ~80%
    app.wait_for_chart_change(app.chart_lines())  # the picture right after a redraw of the chart
    app.assert_healthy()
    screenshot(app.page, "app-training", docs=True)

    expect(app.status).to_have_text(re.compile(rf"^Done: {target:,} epochs"), timeout=FULL_RUN_TIMEOUT_MS)
    assert app.epoch() == target
    expect(app.button("play")).to_be_disabled()
    expect(app.button("pause")).to_be_disabled()
    assert float(app.metric_value("Train loss")) < initial_loss / 2
    app.assert_healthy()


def test_grid_shows_the_50_test_images_with_tl_mp_captions(app, screenshot):
    expect(app.page.get_by_test_id("stImageCaption").filter(has_text="TL: ")).to_have_count(50)
    captions = grid_captions(app)
    assert len(captions) == 50, captions
    assert all(CAPTION_RE.match(c) for c in captions), [c for c in captions if not CAPTION_RE.match(c)]
    mistakes = [c for c in captions if c.startswith("✗")]
    assert all(re.match(r"✗ TL: (cat \| MP: non-cat|non-cat \| MP: cat)$", c) for c in mistakes)
    # The grid agrees with the Test accuracy metric and with its own summary line.
    accuracy = float(app.metric_value("Test accuracy").rstrip("%"))
    assert 50 - len(mistakes) == round(accuracy / 2)
    expect(app.page.get_by_text(f"{50 - len(mistakes)} of 50 correct", exact=False)).to_be_visible()
    app.scroll_to_heading("True label vs. model prediction")
    screenshot(app.page, "app-grid", docs=True)

    app.widget("mistakes_only").get_by_text("Mistakes only", exact=True).click()  # the switch's label
    expect(app.page.get_by_role("switch", name="Mistakes only")).to_be_checked()
    expect(app.page.get_by_test_id("stImageCaption").filter(has_text="TL: ")).to_have_count(len(mistakes))
    assert sorted(grid_captions(app)) == sorted(mistakes)
    app.assert_healthy()


def test_learning_rate_1_diverges_with_a_warning(app):
    page = app.page
    # The learning rate is a select_slider: its thumb is a range input that takes the keyboard.
    thumb = app.widget("lr").locator("input[type=range]")
    thumb.focus()
    thumb.press("End")
    expect(thumb).to_have_attribute("aria-valuetext", "1")
    expect(page.get_by_text("at learning rate 1.", exact=False)).to_be_visible()  # the rerun is done
    train_loss = app.metric_value("Train loss")

    app.click("play")
    warning = page.get_by_test_id("stAlertContentWarning")
    expect(warning).to_contain_text("diverged", timeout=TRAIN_TIMEOUT_MS)
    expect(warning).to_contain_text("learning rate")
    expect(app.status).to_have_text(re.compile(r"^Stopped at epoch"))
    expect(app.button("pause")).to_be_disabled()
    # The last finite weights are kept: the pretrained model's numbers are still on the page.
    assert app.metric_value("Train loss") == train_loss
    assert app.epoch() == 0
    app.assert_healthy()
