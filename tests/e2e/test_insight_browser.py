"""The "Inside the network" views in Chromium: the first layer's 20 units redrawn while a fresh network trains, the
layer-health chart, "where the model looks" beside each upload, and what all that costs on the wire.

`make screenshots` (env SCREENSHOTS=docs) saves docs/insight-*.png.
"""
from __future__ import annotations

import re

from tests.e2e.conftest import PHONE
from tests.model import image_factory as make

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips the tests (or fails them under CI)
    expect = None

UNITS = [f"unit {i}" for i in range(1, 21)]
WIRE_SECONDS = 10  # how long a playing page's traffic is counted
WIRE_LIMIT = 200_000  # bytes per second a playing visitor may receive with the tiles on (issue 9)
TRAIN_TIMEOUT_MS = 60_000


TILE_SOURCES_JS = """() => [...document.querySelectorAll('[data-testid="stImageCaption"]')]
    .filter(c => /^unit \\d+$/.test(c.innerText.trim()))
    .map(c => c.closest('[data-testid="stImageContainer"]').querySelector('img').getAttribute('src'))"""


def expect_tiles(app) -> None:
    """The 20 units, captioned unit 1 ... unit 20 in order, each with its picture."""
    captions = app.page.get_by_test_id("stImageCaption").filter(has_text=re.compile(r"^unit \d+$"))
    expect(captions).to_have_count(20)
    # retried, not read once: while training plays, the fragment may redraw the tiles between two reads
    expect(captions).to_have_text(UNITS)
    assert all(tile_sources(app))


def expect_side_by_side(app, left: str, right: str, nth: int = 0, timeout: float | None = None) -> None:
    """The pictures captioned `left` and `right` (the nth of each) in one row, the same size, inside the screen."""
    captions = app.page.get_by_test_id("stImageCaption")
    lefts, rights = (captions.filter(has_text=re.compile(f"^{re.escape(text)}$")) for text in (left, right))
    left_caption, right_caption = lefts.nth(nth), rights.nth(nth)
    expect(left_caption).to_be_visible(timeout=timeout)
    expect(right_caption).to_be_visible()
    pictures = [caption.locator("xpath=ancestor::*[@data-testid='stImageContainer']//img")
                for caption in (left_caption, right_caption)]
    for picture in pictures:
        picture.evaluate("img => img.decode()")  # until an image has loaded, its caption sits higher
    left_box, right_box = left_caption.bounding_box(), right_caption.bounding_box()
    assert abs(left_box["y"] - right_box["y"]) < 1 and right_box["x"] > left_box["x"] + left_box["width"]
    left_picture, right_picture = (picture.bounding_box() for picture in pictures)
    assert abs(left_picture["y"] - right_picture["y"]) < 1 and left_picture["height"] == right_picture["height"]
    assert right_box["x"] + right_box["width"] <= PHONE["width"]


def tile_sources(app) -> list[str]:
    return app.page.evaluate(TILE_SOURCES_JS)


class Wire:
    """Bytes the page receives: websocket frames (Streamlit's deltas) and media files (the images' PNGs)."""

    def __init__(self, page):
        self.counting, self.frames, self.media, self.media_files = False, 0, 0, []
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))
        page.on("response", self._response)

    def _frame(self, payload) -> None:
        if self.counting:
            self.frames += len(payload)

    def _response(self, response) -> None:
        if self.counting and "/media/" in response.url:
            size = len(response.body())  # first: waiting for the body lets other responses' handlers run
            self.media += size
            self.media_files.append(response.url)

    @property
    def total(self) -> int:
        return self.frames + self.media


def scroll_to_tiles(app) -> None:
    """Scroll the page to the paragraph that introduces the tiles."""
    intro = app.page.get_by_text("The first layer's 20 units.", exact=True)
    intro.evaluate("e => e.scrollIntoView({block: 'start', behavior: 'instant'})")
    app.page.mouse.move(5, 5)


def fresh_start(app, epochs: int) -> None:
    app.widget("start").get_by_role("radio", name="Fresh init").click()
    field = app.widget("epochs").locator("input")
    field.fill(str(epochs))
    field.press("Enter")
    expect(app.metric("Epoch")).to_contain_text(f"of {epochs:,}")


def test_a_fresh_network_grows_its_templates_and_the_wire_stays_light(browser, app_url, screenshot):
    """Fresh init, Play: the 20 tiles start grey and are redrawn with what training adds, the health chart
    grows; a playing visitor receives well under 200 KB/s, and no image is ever fetched twice."""
    from tests.e2e.conftest import App, new_context

    context = new_context(browser)
    try:
        page = context.new_page()
        wire = Wire(page)  # listening before the page opens its websocket
        app = App(page, app_url)
        app.load()
        expect(page.get_by_role("heading", name="Inside the network")).to_be_visible()
        expect_tiles(app)
        fresh_start(app, 20_000)
        expect(page.get_by_text("Nothing learned yet", exact=False)).to_be_visible()
        grey = tile_sources(app)

        app.click("play")
        app.wait_for_epoch_above(20, TRAIN_TIMEOUT_MS)
        page.wait_for_function("s => JSON.stringify(s) !== JSON.stringify((" + TILE_SOURCES_JS + ")())", arg=grey,
                               timeout=TRAIN_TIMEOUT_MS)
        expect(page.get_by_text("epochs of training added", exact=False)).to_be_visible()
        expect(page.get_by_text("gradient norm ‖∂loss/∂W‖", exact=True)).to_be_visible()

        wire.counting = True
        epoch, tiles_before = app.epoch(), set(tile_sources(app))
        page.wait_for_timeout(WIRE_SECONDS * 1000)
        wire.counting = False
        tiles = tiles_before | set(tile_sources(app))
        rate = wire.total / WIRE_SECONDS
        print(f"\nwire while playing with the tiles on: {rate / 1e3:.0f} KB/s ({wire.frames / WIRE_SECONDS / 1e3:.0f} "
              f"KB/s websocket, {wire.media / WIRE_SECONDS / 1e3:.0f} KB/s in {len(wire.media_files)} images), "
              f"{(app.epoch() - epoch) / WIRE_SECONDS:.0f} epochs/s")
        assert app.epoch() > epoch, "the page stopped training"
        assert rate < WIRE_LIMIT
        # An unchanged first-layer tile is never sent again (the grid's images may be refetched when the
        # browser remounts them; they are not what this view adds to the wire).
        fetched_tiles = [url for url in wire.media_files if url in tiles]
        assert len(fetched_tiles) == len(set(fetched_tiles)), "a first-layer tile was fetched twice"

        for view in ("Weights", "Last step's gradient", "What each unit learned"):  # switching while it plays
            app.widget("tile_view").get_by_role("radio", name=view).click()
            expect(app.widget("tile_view").get_by_role("radio", name=view)).to_be_checked()
            expect_tiles(app)
        app.wait_for_epoch_above(300, TRAIN_TIMEOUT_MS)
        assert app.button("pause").is_enabled(), "switching the view stopped the training"
        app.click("pause")
        expect(app.button("play")).to_be_enabled()
        app.scroll_to_heading("Inside the network")
        page.wait_for_timeout(500)  # Vega draws the charts a moment after their data arrives
        app.assert_healthy()
        screenshot(page, "insight-health", docs=True)
        scroll_to_tiles(app)
        screenshot(page, "insight-tiles", docs=True)
    finally:
        context.close()


def test_the_gradient_view_and_a_dying_network(app, screenshot):
    """SGD at lr 1 from a fresh start dies at once: the warning, and the health chart's dashed record of it."""
    page = app.page
    fresh_start(app, 2_500)
    thumb = app.widget("lr").locator("input[type=range]")
    thumb.focus()
    thumb.press("End")
    expect(thumb).to_have_attribute("aria-valuetext", "1")
    app.widget("tile_view").get_by_role("radio", name="Last step's gradient").click()
    expect(page.get_by_text("No gradient yet", exact=False)).to_be_visible()

    app.click("step")
    expect(page.get_by_test_id("stAlertContentWarning")).to_contain_text("network died", timeout=TRAIN_TIMEOUT_MS)
    expect(page.get_by_text("dead units (output 0 for every image)", exact=True)).to_be_visible()
    dashed = page.get_by_test_id("stVegaLiteChart").locator("svg g.mark-line path[stroke-dasharray='4,3']")
    expect(dashed.first).to_be_attached()  # what the roll-back undid, dashed
    expect(page.get_by_text("No gradient yet", exact=False)).to_be_visible()  # the undone steps' gradients are gone
    app.scroll_to_heading("Inside the network")
    page.wait_for_timeout(500)
    screenshot(page, "insight-dying", docs=True)

    app.widget("lr").locator("input[type=range]").press("Home")  # the lowest rate, 0.00001: one that trains
    app.click("step")
    expect(page.get_by_text("Minus the gradient of the last step", exact=False)).to_be_visible()
    expect_tiles(app)
    scroll_to_tiles(app)
    app.assert_healthy()
    screenshot(page, "insight-gradient", docs=True)


def test_where_the_model_looks_beside_each_upload(app, screenshot, tmp_path, data_dir):
    from tests.e2e.test_browser import cat_photo

    cat = cat_photo(data_dir, tmp_path)
    stripes = tmp_path / "stripes.png"
    stripes.write_bytes(make.png_stripes(size=(300, 200)))
    app.widget("upload").locator("input[type=file]").set_input_files([cat, stripes])

    looks = app.page.get_by_test_id("stImageCaption").filter(has_text=re.compile("^where the model looks$"))
    expect(looks).to_have_count(3)  # two uploads, and the picked test image in the TL/MP grid
    expect(app.page.get_by_text("Where the model looks", exact=False).first).to_be_visible()
    app.scroll_to_heading("Your photos")
    app.assert_healthy()
    screenshot(app.page, "insight-upload", docs=True)

    app.scroll_to_heading("True label vs. model prediction")
    picked = app.widget("explain_pick").get_by_role("combobox")
    expect(picked).to_have_value(re.compile(r"^Test image \d+ · TL: .* ✗$"))  # a mistake is picked first
    screenshot(app.page, "insight-pick", docs=True)
    app.widget("grid_split").get_by_text("Training set", exact=False).click()
    # the box names what the picture beside it shows: a training mistake, not the test image it said before
    expect(picked).to_have_value(re.compile(r"^Train image \d+ · TL: .* ✗$"))
    number = re.match(r"Train image (\d+)", picked.input_value()).group(1)
    expect(app.page.get_by_test_id("stImageCaption").filter(has_text=f"train image {number}")).to_have_count(1)


def test_the_views_on_a_phone(phone_app, screenshot):
    app = phone_app
    expect(app.page.get_by_test_id("stSidebarContent")).not_to_be_in_viewport()  # a phone opens on the page
    app.button("step").evaluate("b => b.click()")  # a run to chart
    expect(app.page.get_by_text("gradient norm ‖∂loss/∂W‖", exact=True)).to_be_visible(timeout=TRAIN_TIMEOUT_MS)
    expect_tiles(app)
    app.scroll_to_heading("Inside the network")
    app.page.wait_for_timeout(500)
    app.assert_healthy()
    screenshot(app.page, "insight-phone-health")
    for chart in app.page.get_by_test_id("stVegaLiteChart").all():  # the loss and health charts keep to their place
        place, drawn = chart.bounding_box(), chart.locator("canvas, svg").first.bounding_box()
        assert drawn["x"] + drawn["width"] <= place["x"] + place["width"] + 1
    scroll_to_tiles(app)
    screenshot(app.page, "insight-phone-tiles")
    # three units a row, inside the screen (at two, a third of its width stayed empty)
    boxes = [app.page.get_by_test_id("stImageCaption").filter(has_text=re.compile(f"^unit {n}$")).bounding_box()
             for n in (1, 2, 3, 4)]
    assert len({round(box["y"]) for box in boxes[:3]}) == 1 and boxes[3]["y"] > boxes[0]["y"]
    assert boxes[2]["x"] + boxes[2]["width"] <= PHONE["width"]

    # an upload's two 64x64 views side by side, as on a laptop (stacked, each took a screen's width of its own)
    app.widget("upload").locator("input[type=file]").set_input_files(
        [{"name": "photo.png", "mimeType": "image/png", "buffer": make.png_rgb()}])
    expect_side_by_side(app, "what the model sees", "where the model looks", timeout=TRAIN_TIMEOUT_MS)

    # and the grid's picked image beside its heatmap (stacked, the pair took the box's left half, one above the other)
    app.scroll_to_heading("True label vs. model prediction")
    number = re.match(r"Test image (\d+)", app.widget("explain_pick").get_by_role("combobox").input_value()).group(1)
    expect_side_by_side(app, f"test image {number}", "where the model looks", nth=-1)
