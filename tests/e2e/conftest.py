"""End-to-end fixtures: the real app under `streamlit run`, driven by Debian's Chromium through Playwright.

* `app_url` (session): `python -m streamlit run app.py` from the repo root on a free port, its output in
  tests/e2e/artifacts/streamlit.log; ready once /_stcore/health answers "ok"; stopped (its whole process
  group) after the last test.
* `browser` (session): /usr/bin/chromium launched by Playwright (Playwright's own browser downloads are
  never used).
* `app` (per test): a new browser context, so a new Streamlit session with its own model, on a
  1400x900 viewport, with the page loaded; an `App` helper wraps the selectors the tests share.

Without Chromium, Playwright, the data set or the weights these tests skip on a developer's machine but
fail when env CI is set: CI must run them. `SCREENSHOTS=docs` (`make screenshots`) also copies the
curated screenshots into docs/.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from model.paths import REPO_ROOT, WEIGHTS_FILE
from tests.e2e.servers import CHROMIUM, CHROMIUM_ARGS, EPOCH_JS, NotStarted, start_streamlit, stop

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE / "artifacts"  # server log, screenshots of failed tests (git-ignored)
SCREENSHOTS = HERE / "screenshots"  # every screenshot the tests take (git-ignored)
SERVER_LOG = ARTIFACTS / "streamlit.log"
WEIGHTS = WEIGHTS_FILE

VIEWPORT = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}
PHONE_USER_AGENT = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                    "Chrome/131.0.0.0 Mobile Safari/537.36")  # "Mobi" in it: the page takes it for a phone
TIMEOUT_MS = 20_000  # default bound for every Playwright wait and action

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # reported by the `browser` fixture: a skip locally, a failure in CI
    expect = sync_playwright = None
    PlaywrightTimeoutError = TimeoutError


def require(ok: bool, why: str) -> None:
    """Skip the test if `ok` is false, or fail it under CI, where a skipped e2e suite would hide a break."""
    if ok:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{why} (CI is set: the end-to-end tests must run)", pytrace=False)
    pytest.skip(why)


# --- the server -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def app_url(data_dir):
    """The URL of `streamlit run app.py`, started from the repo root on a free port for this session."""
    require(WEIGHTS.is_file(), f"{WEIGHTS} is missing; run `make weights`")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, MICROGRAD_DATA_DIR=str(data_dir), MICROGRAD_WEIGHTS=str(WEIGHTS))
    try:
        process, url = start_streamlit(REPO_ROOT, env, SERVER_LOG)
    except NotStarted as e:
        pytest.fail(str(e), pytrace=False)
    try:
        yield url
    finally:
        stop(process)


# --- the browser -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    require(sync_playwright is not None, "the playwright package is not installed "
                                         "(pip install -r requirements-dev.txt)")
    require(CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK),
            f"{CHROMIUM} is missing (apt-get install chromium)")
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so the `app` fixture knows whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def server_log_size() -> int:
    try:
        return SERVER_LOG.stat().st_size
    except OSError:
        return 0


def server_errors_since(offset: int) -> str:
    """What the server logged from `offset` on, if it holds a traceback (else "")."""
    with open(SERVER_LOG, "rb") as log:
        log.seek(offset)
        text = log.read().decode(errors="replace")
    return text if "Traceback" in text else ""


class App:
    """The page of one browser session, with the selectors the tests rely on in one place.

    Streamlit gives each keyed widget's container the class `st-key-<key>`; everything else is found by
    Streamlit's `data-testid` attributes or by ARIA role and visible text.
    """

    # Any exception box Streamlit ever shows, even one replaced a moment later by the next rerun.
    WATCH_EXCEPTIONS_JS = """
        window.__stExceptions = [];
        new MutationObserver(() => {
            for (const box of document.querySelectorAll('[data-testid="stException"]')) {
                if (!box.__seen) { box.__seen = true; window.__stExceptions.push(box.innerText); }
            }
        }).observe(document, {childList: true, subtree: true});
    """

    def __init__(self, page, url: str):
        self.page = page
        self.url = url
        self.log_offset = server_log_size()  # the server log from here on belongs to this session
        page.add_init_script(self.WATCH_EXCEPTIONS_JS)
        self.page_errors: list[str] = []  # uncaught JavaScript exceptions
        self.dialogs: list[str] = []  # alert()/confirm() a hostile file name might have opened
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("dialog", self._dialog)

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    # ------------------------------------------------------------------ locators
    def widget(self, key: str):
        return self.page.locator(f".st-key-{key}")

    def button(self, key: str):
        # By role: Streamlit also renders a hidden copy of a button that has a tooltip.
        return self.widget(key).get_by_role("button")

    def metric(self, label: str):
        return self.page.get_by_test_id("stMetric").filter(
            has=self.page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True))

    def metric_value(self, label: str) -> str:
        return self.metric(label).get_by_test_id("stMetricValue").inner_text().strip()

    @property
    def exceptions(self):
        return self.page.get_by_test_id("stException")

    @property
    def chart(self):
        return self.page.get_by_test_id("stVegaLiteChart")

    @property
    def status(self):
        """The progress bar's text under the metrics (above them on a phone): 'Ready: …', 'Training… epoch 83 of
        200', …"""
        return self.page.get_by_test_id("stProgress").first

    # ------------------------------------------------------------------ reading
    # Both run in the page: the epoch metric's value and a fingerprint of the loss chart's lines (the
    # chart is an SVG from Vega; its line paths change whenever the curves do).
    EPOCH_JS = EPOCH_JS
    CHART_JS = """() => [...document.querySelectorAll(
        '[data-testid="stVegaLiteChart"] svg g.mark-line path')].map(p => p.getAttribute('d')).join('|')"""

    def epoch(self) -> int:
        value = self.page.evaluate(self.EPOCH_JS)
        assert value is not None, "no Epoch metric on the page"
        return value

    def chart_lines(self) -> str:
        return self.page.evaluate(self.CHART_JS)

    def wait_for_epoch_above(self, epoch: int, timeout: float = TIMEOUT_MS) -> int:
        """Wait until the Epoch metric shows more than `epoch`; return the epoch shown then. If it never does,
        fail with what the page and the server said meanwhile: a stall has to be told from a lost click."""
        try:
            self.page.wait_for_function(
                f"n => {{ const e = ({self.EPOCH_JS})(); return e !== null && e > n; }}", arg=epoch,
                timeout=timeout)
        except PlaywrightTimeoutError:
            raise AssertionError(f"the epoch stayed at {epoch} or below for {timeout / 1000:.0f} s\n"
                                 f"{self.describe()}") from None
        return self.epoch()

    DESCRIBE_JS = """() => ({
        status: document.querySelector('[data-testid="stProgress"]')?.innerText ?? null,
        metrics: [...document.querySelectorAll('[data-testid="stMetric"]')].map(m => m.innerText.replace(/\\s+/g, ' ')),
        buttons: Object.fromEntries(['play', 'pause', 'step', 'reset'].map(key => [key,
            document.querySelector(`.st-key-${key} button`)?.disabled ? 'disabled' : 'enabled'])),
        script: document.querySelector('[data-testid="stApp"]')?.getAttribute('data-test-script-state'),
    })"""

    def describe(self) -> str:
        """What the page shows now (status line, metrics, the controls' states) and the server's log since this
        session began, for a failure message."""
        try:
            shown = self.page.evaluate(self.DESCRIBE_JS)
        except Exception as e:  # the page may be gone
            shown = f"(the page could not be read: {e})"
        try:
            with open(SERVER_LOG, "rb") as log:
                log.seek(self.log_offset)
                logged = log.read().decode(errors="replace")[-3000:] or "(nothing)"
        except OSError as e:
            logged = f"(no log: {e})"
        return f"the page: {shown}\nthe server logged since this session began:\n{logged}"

    def wait_for_chart_change(self, lines: str, timeout: float = TIMEOUT_MS) -> str:
        """Wait until the loss chart's lines differ from `lines` (it redraws less often than the metrics)."""
        self.page.wait_for_function(f"s => ({self.CHART_JS})() !== s", arg=lines, timeout=timeout)
        return self.chart_lines()

    def wait_until_still(self, quiet_ms: int = 600, timeout: float = TIMEOUT_MS) -> tuple[int, str]:
        """Wait until no script run is going on and neither the epoch nor the chart has changed for
        `quiet_ms` (the browser draws the chart a moment after the data arrives); return (epoch, chart
        lines) then. A rerun redraws the controls before the metrics, so its middle is not still."""
        deadline = time.monotonic() + timeout / 1000
        state, since = (self.epoch(), self.chart_lines()), time.monotonic()
        while time.monotonic() - since < quiet_ms / 1000:
            assert time.monotonic() < deadline, f"the page kept changing for {timeout / 1000:.0f} s"
            self.page.wait_for_timeout(100)
            now = (self.epoch(), self.chart_lines())
            if now != state or self.script_running():
                state, since = now, time.monotonic()
        return state

    def script_running(self) -> bool:
        """Whether Streamlit is running the script or a fragment (what its running indicator shows)."""
        return self.page.get_by_test_id("stApp").get_attribute("data-test-script-state") == "running"

    # ------------------------------------------------------------------ acting
    def load(self) -> None:
        self.page.goto(self.url)
        self.wait_until_ready()

    def wait_until_ready(self) -> None:
        expect(self.page.get_by_role("heading", name="Cat or not?", level=1)).to_be_visible()
        expect(self.page.get_by_test_id("stMetric")).to_have_count(5)
        expect(self.chart.locator("svg g.mark-line path").first).to_be_attached()
        expect(self.widget("upload").locator("input[type=file]")).to_be_attached()

    def click(self, key: str) -> None:
        """Click a keyed button like a user, after moving the mouse off any tooltip: a tooltip left
        open by the last hover (Step's sits right over Play) would otherwise take the click."""
        self.page.mouse.move(VIEWPORT["width"] // 2, 5)
        expect(self.page.get_by_test_id("stTooltipContent")).to_have_count(0)
        button = self.button(key)
        expect(button).to_be_enabled()
        button.click()

    def scroll_to_heading(self, name: str) -> None:
        """Scroll the page (Streamlit's main container) so that heading `name` is at the top."""
        heading = self.page.get_by_role("heading", name=name)
        heading.evaluate("h => h.scrollIntoView({block: 'start', behavior: 'instant'})")
        self.page.mouse.move(VIEWPORT["width"] // 2, 5)

    def assert_healthy(self) -> None:
        """No Python exception box on the page (now or at any time before), no JavaScript error, and
        no traceback in the server log: an exception in a fragment may never reach the page."""
        expect(self.exceptions).to_have_count(0)
        assert self.page.evaluate("window.__stExceptions") == []
        assert not self.page_errors, self.page_errors
        logged = server_errors_since(self.log_offset)
        assert not logged, f"the app raised on the server ({SERVER_LOG}):\n{logged[-3000:]}"


def new_context(browser, phone: bool = False, **options):
    """A fresh browser context (a new Streamlit session): a desktop window, or a phone (its size, touch and
    User-Agent); `options` go to Playwright's new_context (permissions, say)."""
    if phone:
        options |= {"viewport": PHONE, "is_mobile": True, "has_touch": True, "user_agent": PHONE_USER_AGENT}
    context = browser.new_context(**({"viewport": VIEWPORT, "device_scale_factor": 1} | options))
    context.set_default_timeout(TIMEOUT_MS)
    return context


@pytest.fixture
def app(browser, app_url, request):
    """A fresh browser session (so a fresh Streamlit session and model) on the loaded page.

    Errors the test if the server logged a traceback during it that the test did not already report
    (tests call `app.assert_healthy()`). A test that fails leaves a screenshot in artifacts/.
    """
    yield from _app_in(new_context(browser), app_url, request)


@pytest.fixture
def phone_app(browser, app_url, request):
    """`app`, on a phone."""
    yield from _app_in(new_context(browser, phone=True), app_url, request)


def _app_in(context, app_url, request):
    failure_shot = ARTIFACTS / f"failed-{request.node.name}.png"
    failure_shot.unlink(missing_ok=True)
    failed, session = True, None
    try:
        session = App(context.new_page(), app_url)
        session.load()
        yield session
        report = getattr(request.node, "report_call", None)
        failed = report is None or report.failed
    finally:
        if failed and session is not None:
            try:
                session.page.screenshot(path=str(failure_shot))
            except Exception as e:  # the page may be gone; the test's own error matters more
                print(f"could not save a failure screenshot: {e}")
        context.close()
    logged = server_errors_since(session.log_offset)
    if logged and not failed:
        pytest.fail(f"the app raised on the server during this test ({SERVER_LOG}):\n{logged[-3000:]}",
                    pytrace=False)


# --- screenshots -------------------------------------------------------------------------------------

MAX_DOC_BYTES = 400_000  # docs/*.png are committed: keep each one small
IMAGES_IN_VIEW_LOADED_JS = """() => [...document.images].every(img => {
    const box = img.getBoundingClientRect();
    const inView = box.bottom > 0 && box.top < window.innerHeight && box.width > 0;
    return !inView || (img.complete && img.naturalWidth > 0);
})"""


@pytest.fixture
def screenshot():
    """screenshot(page_or_locator, name, docs=False): save tests/e2e/screenshots/<name>.png; with env
    SCREENSHOTS set (e.g. `docs`, relative to the repo root) and docs=True, also <SCREENSHOTS>/<name>.png.
    """
    target = os.environ.get("SCREENSHOTS")

    def take(subject, name: str, docs: bool = False) -> Path:
        page = getattr(subject, "page", subject)  # a Locator knows its page
        page.wait_for_function(IMAGES_IN_VIEW_LOADED_JS, timeout=TIMEOUT_MS)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        subject.screenshot(path=str(path), animations="disabled", caret="hide")
        shrink(path)
        if docs and target:
            folder = Path(target) if Path(target).is_absolute() else REPO_ROOT / target
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, folder / path.name)
        return path

    return take


def shrink(path: Path) -> None:
    """Re-encode a screenshot as an optimized PNG; if it is still over MAX_DOC_BYTES (photos compress
    badly), with 256 colours: the UI's most common colours exactly, the rest (the photos) chosen by
    median cut and dithered. It looks the same at half the bytes."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
    image.save(path, optimize=True)
    if path.stat().st_size <= MAX_DOC_BYTES:
        return
    flat = [color for _, color in sorted(image.getcolors(image.width * image.height), reverse=True)[:32]]
    rest = 256 - len(flat)
    photos = image.quantize(colors=rest, method=Image.Quantize.MEDIANCUT).getpalette()[:3 * rest]
    palette = Image.new("P", (1, 1))
    palette.putpalette([v for color in flat for v in color] + photos)
    indexed = np.array(image.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG))
    # Pillow matches colours to a palette approximately (white may come out 253): put the UI's own back.
    rgb = np.asarray(image, dtype=np.int32)
    packed = rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2]
    for index, (r, g, b) in enumerate(flat):
        indexed[packed == (r << 16 | g << 8 | b)] = index
    out = Image.fromarray(indexed.astype(np.uint8))  # mode "L"; a palette makes it "P"
    out.putpalette(palette.getpalette())
    out.save(path, optimize=True)
