"""The app as people meet it, in Chromium: a fresh clone without the data set (download it from the page, then
train), a phone, a teacher's link with settings, and the camera.

The clone test starts its own `streamlit run app.py` in a copy of the checkout's files (what `git clone` gives:
no data/*.h5, no ../shared/data beside it, no CATVNONCAT_DIR), with CATVNONCAT_URLS pointing at a local HTTP
server that serves the real files, so the page really downloads. The other tests use the shared server of
conftest.py. `make screenshots` saves docs/anywhere-*.png.
"""
from __future__ import annotations

import os
import re
import subprocess
import urllib.parse
from pathlib import Path

import pytest

from model.dataset import FILES
from tests.e2e.conftest import ARTIFACTS, PHONE, REPO_ROOT, VIEWPORT, App, new_context, require
from tests.e2e.servers import CHROMIUM, CHROMIUM_ARGS, NotStarted, log_tail, start_streamlit, stop

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips the tests (or fails them under CI)
    expect = None

CONTROLS = ("play", "pause", "step", "reset")
FETCH_TIMEOUT_MS = 60_000  # the download, the reload of the data set and the first redraw
TRAIN_TIMEOUT_MS = 30_000
FAKE_CAMERA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


# --- helpers -------------------------------------------------------------------------------------


def new_page(browser, phone=False):
    """A fresh context (a new Streamlit session), a desktop window or a phone, and its page."""
    context = new_context(browser, phone=phone)
    return context, context.new_page()


def in_viewport(locator, viewport) -> bool:
    box = locator.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"] and (
        box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"])


def query_of(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def clone_without_data(target: Path) -> Path:
    """The checkout's files as a fresh clone has them (tracked or to be committed; nothing git ignores, so no
    data/*.h5), in `target`, where no ../shared/data sits beside it."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO_ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(source.read_bytes())
    return target


@pytest.fixture
def clone_app(tmp_path, data_dir, serve):
    """(URL of the page, the clone's folder, the mirror) for a fresh clone without data, served by its own
    streamlit; the mirror is a local HTTP server with the real files that counts what it is asked for."""
    require((REPO_ROOT / ".git").exists(), "not a git checkout: cannot tell which files a clone has")
    clone = clone_without_data(tmp_path / "clone")
    assert not list((clone / "data").glob("*.h5")) and not (tmp_path / "shared").exists()
    mirror = serve(data_dir)
    env = {k: v for k, v in os.environ.items()
           if k not in ("CATVNONCAT_DIR", "CATVNONCAT_URLS", "MICROGRAD_DATA_DIR", "MICROGRAD_WEIGHTS")}
    env.update(CATVNONCAT_URLS=mirror.url, no_proxy="*")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_path = ARTIFACTS / "streamlit-clone.log"
    try:
        process, url = start_streamlit(clone, env, log_path)
    except NotStarted as e:
        pytest.fail(str(e), pytrace=False)
    try:
        yield url, clone, mirror
    finally:
        stop(process)
    assert "Traceback" not in log_path.read_text(errors="replace"), log_tail(log_path, 60)


# --- a fresh clone: the data set from the page -------------------------------------------------------


def test_a_fresh_clone_downloads_the_data_set_from_the_page_and_trains(browser, clone_app, screenshot):
    url, clone, mirror = clone_app
    context, page = new_page(browser)
    try:
        page.goto(url)
        fetch = page.locator(".st-key-fetch_data").get_by_role("button")
        expect(fetch).to_have_text(re.compile(r"Download the data set \(3 MB\)"))
        expect(page.locator(".st-key-play").get_by_role("button")).to_be_disabled()
        expect(page.get_by_test_id("stMetric")).to_have_count(0)
        screenshot(page, "anywhere-fetch", docs=True)

        fetch.click()
        expect(page.get_by_test_id("stMetric")).to_have_count(5, timeout=FETCH_TIMEOUT_MS)
        expect(page.locator(".st-key-fetch_data")).to_have_count(0)
        assert dict(mirror.requests) == {name: 1 for name in FILES}  # downloaded, not copied from anywhere
        assert sorted(p.name for p in (clone / "data").glob("*.h5")) == sorted(FILES)

        app = App(page, url)
        app.click("step")
        expect(app.metric("Epoch").get_by_test_id("stMetricValue")).to_have_text("10")
        app.click("play")
        app.wait_for_epoch_above(10, TRAIN_TIMEOUT_MS)
        app.click("pause")
        expect(app.button("play")).to_be_enabled()
        expect(app.exceptions).to_have_count(0)
        assert not app.page_errors
    finally:
        context.close()


# --- a phone -----------------------------------------------------------------------------------------


def test_on_a_phone_play_is_on_the_page_and_the_sidebar_stays_closed(browser, app_url, screenshot):
    context, page = new_page(browser, phone=True)
    try:
        app = App(page, app_url)
        app.load()
        expect(page.get_by_test_id("stSidebar")).to_have_attribute("data-collapsed", "true")
        for key in CONTROLS:
            assert in_viewport(app.button(key), PHONE), f"{key} is not on the phone's first screen"
        screenshot(page, "anywhere-phone", docs=True)

        app.button("play").tap()
        app.wait_for_epoch_above(0, TRAIN_TIMEOUT_MS)
        assert in_viewport(app.status, PHONE)  # what Play changes is on the first screen: the epoch count,
        curve = page.get_by_test_id("stVegaLiteChart").first.bounding_box()
        assert curve["y"] + curve["height"] / 2 < PHONE["height"]  # and the loss curve, at least most of it
        app.button("pause").tap()
        expect(app.button("play")).to_be_enabled()
        paused = app.wait_until_still()[0]
        page.wait_for_timeout(1_000)
        assert app.epoch() == paused
        app.button("step").tap()
        expect(app.metric("Epoch").get_by_test_id("stMetricValue")).to_have_text(f"{paused + 10:,}")
        app.button("reset").tap()
        expect(app.metric("Epoch").get_by_test_id("stMetricValue")).to_have_text("0")
        app.assert_healthy()
    finally:
        context.close()


METRIC_LABELS = ("Epoch", "Train loss", "Test loss", "Train accuracy", "Test accuracy")


def metric_rows(app) -> list[list[str]]:
    """The metric cards' labels, row by row as they sit on the screen."""
    rows = {}
    for label in METRIC_LABELS:
        rows.setdefault(round(app.metric(label).bounding_box()["y"]), []).append(label)
    return [rows[top] for top in sorted(rows)]


def test_on_a_phone_the_epoch_card_has_its_row_and_train_and_test_pair_up_below(phone_app):
    phone_app.metric("Epoch").scroll_into_view_if_needed()
    assert metric_rows(phone_app) == [["Epoch"], ["Train loss", "Test loss"], ["Train accuracy", "Test accuracy"]]
    epoch, loss = phone_app.metric("Epoch").bounding_box(), phone_app.metric("Train loss").bounding_box()
    assert epoch["width"] > 1.8 * loss["width"]  # the Epoch card spans both columns, not one with a hole beside it


def test_on_a_laptop_the_metric_cards_share_one_row(app):
    assert metric_rows(app) == [list(METRIC_LABELS)]


OPEN_CHIP_EDGES = """() => [...document.querySelectorAll("button[data-variant=segmented_control]")]
    .filter(b => b.offsetParent !== null).flatMap(b => {
        const style = getComputedStyle(b);
        return ["Left", "Right"].filter(side => style[`border${side}Color`] === "rgba(0, 0, 0, 0)")
            .map(side => `${b.innerText} ${side}`); })"""


def test_on_a_phone_every_choice_chip_draws_its_whole_border(phone_app):
    # as a bar, the buttons on both sides of the selected one hide that edge under its; as chips, a gap shows it
    assert phone_app.page.evaluate(OPEN_CHIP_EDGES) == []
    phone_app.page.get_by_role("radio", name="Last step's gradient").tap()  # now Weights, before it, had no right edge
    expect(phone_app.page.get_by_role("radio", name="Last step's gradient")).to_have_attribute("aria-checked", "true")
    assert phone_app.page.evaluate(OPEN_CHIP_EDGES) == []


MISTAKE_CAPTION_OPACITY = """() => [...document.querySelectorAll("[data-testid=stImageCaption]")]
    .filter(c => c.innerText.includes("✗")).map(c => {
        let opacity = 1;
        for (let e = c.querySelector("span"); e; e = e.parentElement) opacity *= +getComputedStyle(e).opacity;
        return opacity; })"""


def test_mistake_captions_are_drawn_at_full_strength(app):
    opacities = app.page.evaluate(MISTAKE_CAPTION_OPACITY)
    assert opacities and min(opacities) == 1  # faded to 60%, their red was a pink at about 3:1 on white


CUT_OFF_TEXT = """root => [...root.querySelectorAll("*")].filter(e => e.offsetParent !== null && e.textContent.trim()
    && getComputedStyle(e).textOverflow === "ellipsis" && e.scrollWidth > e.clientWidth).map(e => e.textContent)"""


def test_on_a_phone_the_upload_box_says_what_it_takes_without_cutting_words_off(phone_app):
    uploader = phone_app.widget("upload")
    uploader.scroll_into_view_if_needed()
    expect(uploader.get_by_test_id("stWidgetLabel")).to_contain_text("JPEG, PNG, GIF, BMP, WebP or TIFF, up to 20 MB")
    expect(uploader.get_by_role("button", name="Upload", exact=True)).to_be_visible()
    assert uploader.evaluate(CUT_OFF_TEXT) == []  # Streamlit's hint, a list of MIME types, ended in "imag…" here
    expect(uploader.get_by_text("image/jpeg")).to_be_hidden()


def test_on_a_laptop_the_controls_are_one_row_and_the_sidebar_is_open(app):
    expect(app.page.get_by_test_id("stSidebar")).to_have_attribute("data-collapsed", "false")
    tops = {round(app.button(key).bounding_box()["y"]) for key in CONTROLS}
    assert len(tops) == 1, "Play, Pause, Step and Reset should share one row on a wide screen"
    sidebar = app.page.get_by_test_id("stSidebar")
    for key in CONTROLS:
        expect(sidebar.locator(f".st-key-{key}")).to_have_count(0)
    for key in ("lr", "epochs", "optimizer", "start", "seed"):
        expect(sidebar.locator(f".st-key-{key}")).to_be_visible()


# --- a teacher's link ----------------------------------------------------------------------------------


def test_a_link_opens_its_settings_and_the_address_follows_changes(browser, app_url, screenshot):
    context, page = new_page(browser)
    try:
        app = App(page, f"{app_url}/?lr=1&epochs=300&optimizer=sgd&start=fresh&seed=3")
        page.goto(app.url)
        expect(app.metric("Epoch")).to_contain_text("of 300")
        expect(app.widget("lr").locator("input[type=range]")).to_have_attribute("aria-valuetext", "1")
        expect(app.widget("epochs").locator("input")).to_have_value("300")
        expect(app.widget("seed").locator("input")).to_have_value("3")
        expect(app.widget("start").get_by_role("radio", name="Fresh init")).to_be_checked()
        expect(page.get_by_text("a fresh initialization (seed 3)", exact=False)).to_be_visible()

        seed = app.widget("seed").locator("input")
        seed.fill("4")
        seed.press("Enter")
        expect(page.get_by_text("a fresh initialization (seed 4)", exact=False)).to_be_visible()
        page.wait_for_function("() => new URLSearchParams(location.search).get('seed') === '4'")
        assert query_of(page.url) == {"lr": "1", "epochs": "300", "start": "fresh", "seed": "4"}

        page.get_by_role("button", name="Share").click()
        link = page.get_by_test_id("stPopoverBody").get_by_test_id("stCode")
        expect(link).to_contain_text("seed=4")
        assert query_of(link.inner_text().strip()) == query_of(page.url)
        page.mouse.move(VIEWPORT["width"] // 2, 5)  # off the Share button (no tooltip) and off the chart
        expect(page.get_by_test_id("stTooltipContent")).to_have_count(0)
        screenshot(page, "anywhere-link", docs=True)
        app.assert_healthy()
    finally:
        context.close()


def test_bad_values_in_a_link_are_named_in_a_notice_and_dropped(browser, app_url):
    context, page = new_page(browser)
    try:
        app = App(page, f"{app_url}/?lr=abc&epochs=300&optimizer=rmsprop&seed=https://evil.example/x")
        page.goto(app.url)
        toasts = page.get_by_test_id("stToast")  # first: a toast goes away after a few seconds
        expect(toasts.filter(has_text="lr=abc")).to_contain_text("not a number")
        assert toasts.count() == 1  # one for all three: a stack of them would cover the metrics
        expect(toasts.filter(has_text="optimizer=rmsprop")).to_contain_text("not one of sgd, adam")
        seed_toast = toasts.filter(has_text="seed=https")
        expect(seed_toast).to_contain_text("evil.example")  # shown as text: a link from a stranger is no link
        assert seed_toast.locator("a").count() == 0  # at once: expect() would wait until the toast is gone
        expect(app.metric("Epoch")).to_contain_text("of 300")  # the good value is used
        page.wait_for_function("() => !new URLSearchParams(location.search).has('lr')")
        assert query_of(page.url) == {"epochs": "300"}
        app.assert_healthy()
    finally:
        context.close()


# --- the camera --------------------------------------------------------------------------------------


def test_a_camera_photo_is_classified_like_an_upload(browser, app_url, screenshot):
    require(CHROMIUM.is_file(), f"{CHROMIUM} is missing")
    camera_browser = browser.browser_type.launch(executable_path=str(CHROMIUM),
                                                 args=CHROMIUM_ARGS + FAKE_CAMERA_ARGS)  # a test-pattern camera
    try:
        context = new_context(camera_browser, phone=True, permissions=["camera"])
        page = context.new_page()
        app = App(page, app_url)
        app.load()
        expect(app.widget("camera")).to_have_count(0)  # nothing asks for the camera until switched on
        app.widget("camera_on").get_by_text("Take a photo with the camera").tap()
        video = app.widget("camera").locator("video")
        expect(video).to_be_visible()
        video.evaluate("v => new Promise(ok => v.readyState >= 2 ? ok() : v.addEventListener('playing', ok))")
        app.widget("camera").get_by_role("button", name="Take Photo").tap()
        card = page.get_by_test_id("stVerticalBlock").filter(
            has=page.locator("strong").get_by_text("camera photo", exact=True)).last
        expect(card.get_by_role("heading", level=3)).to_have_text(re.compile(r"^MP: (cat|non-cat)$"))
        expect(card.get_by_test_id("stProgress")).to_have_text(re.compile(r"^P\(cat\) "))
        card.scroll_into_view_if_needed()
        screenshot(page, "anywhere-camera", docs=True)
        app.assert_healthy()
    finally:
        camera_browser.close()
