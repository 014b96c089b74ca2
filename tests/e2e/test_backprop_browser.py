"""The "See backprop" section in a real browser: the graph as Graphviz draws it, stepping, the examples.

`make screenshots` (env SCREENSHOTS=docs) saves docs/backprop-network.png, docs/backprop-tiles.png,
docs/backprop-twice.png and docs/backprop-phone.png.
"""
from __future__ import annotations

import re

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips the tests (or fails them under CI)
    expect = None

STATUS_RE = re.compile(r"^Backward step (\d+) of (\d+)$")


# --- helpers -------------------------------------------------------------------------------------


def section(app):
    """The See backprop heading, scrolled to the top of the window."""
    app.scroll_to_heading("See backprop")
    expect(app.page.get_by_test_id("stTooltipContent")).to_have_count(0)  # no tooltip over the screenshot
    return app.page.get_by_role("heading", name="See backprop")


def scroll_to_buttons(app) -> None:
    """Scroll the stepper's buttons to the top: them, the graph, the order and the current node in view; wait
    until the page has settled (no element left over from the last run, no tooltip)."""
    expect(app.page.locator('[data-stale="true"]')).to_have_count(0)
    app.widget("bp_back").evaluate("b => b.scrollIntoView({block: 'start', behavior: 'instant'})")
    mouse_aside(app)


def status(app):
    return app.page.get_by_test_id("stProgress").filter(has_text=STATUS_RE)


def expect_step(app, k: int, n: int | None = None) -> int:
    """Wait for 'Backward step k of N'; return N."""
    total = str(n) if n else r"\d+"
    expect(status(app)).to_have_text(re.compile(rf"^Backward step {k} of {total}$"))
    return int(STATUS_RE.match(status(app).inner_text().strip()).group(2))


GRAPH_NODES = '[data-testid="stGraphVizChart"] g.node'
NODE_TEXT_JS = "g => [...g.querySelectorAll('text')].map(t => t.textContent.trim()).join(' ')"


def graph_nodes(app) -> list[str]:
    """The text of every node of the drawn graph (Graphviz's SVG: one <g class="node"> per node, one <text>
    per line of its label)."""
    expect(app.page.locator(GRAPH_NODES).first).to_be_attached()
    return [node.evaluate(NODE_TEXT_JS) for node in app.page.locator(GRAPH_NODES).all()]


def current_node(app) -> str:
    """The highlighted node's text: the one drawn with the current node's thick orange outline."""
    nodes = app.page.locator(GRAPH_NODES).filter(has=app.page.locator('[stroke="#d9652b"]'))
    expect(nodes).to_have_count(1)
    return nodes.evaluate(NODE_TEXT_JS)


def mouse_aside(app) -> None:
    """Move the mouse to the window's bottom right corner, off every button, and wait for tooltips to close."""
    size = app.page.viewport_size
    app.page.mouse.move(size["width"] - 10, size["height"] - 10)
    expect(app.page.get_by_test_id("stTooltipContent")).to_have_count(0)


def press(app, key: str) -> None:
    """Click a stepper button like a user (`App.click` parks the mouse at the window's top, where these
    buttons may be once scrolled there)."""
    mouse_aside(app)
    button = app.button(key)
    expect(button).to_be_enabled()
    button.click()


def pick(app, label: str) -> None:
    app.widget("bp_example").get_by_role("radio", name=label, exact=True).click()


# --- the tests -----------------------------------------------------------------------------------


def test_step_through_the_networks_training_step(app, screenshot):
    section(app)
    total = expect_step(app, 0)
    assert 16 <= total <= 30
    nodes = graph_nodes(app)
    assert any(n.startswith("x (209, 12288)") for n in nodes), nodes
    assert any(n.startswith("W1 (20, 12288)") for n in nodes), nodes
    assert any(n.startswith("loss") for n in nodes), nodes
    assert len(nodes) == total + 2  # the walk's nodes, and the constants x and y

    press(app, "bp_back")
    expect_step(app, 1, total)
    assert current_node(app).startswith("loss")
    for k in (2, 3):
        press(app, "bp_back")
        expect_step(app, k, total)
    assert current_node(app).startswith("h3")
    just_visited = app.page.get_by_test_id("stMarkdownContainer").filter(has_text="Just visited")
    expect(just_visited.get_by_text("z3.grad += h3.grad * (z3 > 0)", exact=True)).to_be_visible()  # by the buttons
    expect(app.page.locator("code.language-python", has_text="z3.grad += h3.grad * (z3 > 0)")).to_be_visible()
    scroll_to_buttons(app)
    screenshot(app.page, "backprop-network", docs=True)

    press(app, "bp_finish")  # to the end: W1, made first, is visited last; its gradient as 20 images
    expect_step(app, total, total)
    assert current_node(app).startswith("✓ W1")  # still outlined, and ticked: the walk is over
    node_column = app.page.get_by_test_id("stColumn").filter(
        has=app.page.get_by_role("heading", name="What happens at the current node"))
    tiles = node_column.get_by_test_id("stImageCaption").filter(has_text=re.compile(r"^unit \d+$"))
    expect(tiles).to_have_count(20)
    app.page.get_by_role("heading", name="What happens at the current node").evaluate(
        "h => h.scrollIntoView({block: 'start', behavior: 'instant'})")
    screenshot(app.page, "backprop-tiles", docs=True)

    epoch = app.epoch()
    press(app, "bp_update")
    expect_step(app, 0, total)  # the next step's forward pass, from the updated weights
    app.page.wait_for_function(f"() => ({app.EPOCH_JS})() === {epoch + 1}")
    expect(app.page.get_by_text(f"Epoch {epoch + 1}.", exact=False)).to_be_visible()
    app.assert_healthy()


def test_the_a_plus_a_example_shows_why_gradients_accumulate(app, screenshot):
    section(app)
    pick(app, "b = a + a")
    expect_step(app, 0, 2)
    nodes = graph_nodes(app)
    assert sorted(n.split()[0] for n in nodes) == ["a", "b"], nodes
    press(app, "bp_back")
    expect_step(app, 1, 2)
    assert current_node(app).startswith("b = 6"), current_node(app)
    a_node = next(n for n in graph_nodes(app) if n.startswith("a"))
    assert "grad so far 2" in a_node, a_node  # both shares have arrived before a's own turn
    expect(app.page.get_by_text("along 2 edges", exact=False)).to_be_visible()
    scroll_to_buttons(app)
    screenshot(app.page, "backprop-twice", docs=True)

    press(app, "bp_back")
    expect_step(app, 2, 2)
    assert re.search(r"grad 2\b", current_node(app)), current_node(app)
    expect(app.page.get_by_text("∂b/∂a = 2", exact=False).first).to_be_visible()
    expect(app.button("bp_back")).to_be_disabled()  # the end: nothing left to visit
    expect(app.page.get_by_text("a.grad = 2", exact=False).first).to_be_visible()
    app.assert_healthy()


def test_the_section_on_a_phone(phone_app, screenshot):
    app = phone_app
    section(app)
    vertical = app.page.get_by_role("switch", name="Top to bottom")
    expect(vertical).to_be_checked()  # a phone gets the tall graph from the start: readable at 390 px
    # the example picker wraps to two rows here: each choice a chip of its own, no row ending in a cut-off edge
    corners = app.widget("bp_example").get_by_role("radio").evaluate_all(
        "bs => bs.map(b => { const s = getComputedStyle(b); return [s.borderTopLeftRadius, s.borderTopRightRadius, "
        "s.borderBottomRightRadius, s.borderBottomLeftRadius]; })")
    assert len(corners) == 5 and all(radius != "0px" for chip in corners for radius in chip), corners
    press(app, "bp_back")
    expect_step(app, 1)
    assert current_node(app).startswith("loss")
    scroll_to_buttons(app)
    story = app.page.get_by_role("heading", name="What happens at the current node").bounding_box()
    graph = app.page.get_by_test_id("stGraphVizChart").bounding_box()
    assert story["y"] < graph["y"]  # the node's story right under the buttons, not a screen below the graph
    screenshot(app.page, "backprop-phone", docs=True)
    app.widget("bp_vertical").get_by_text("Top to bottom", exact=True).click()  # the switch's label
    expect(vertical).not_to_be_checked()  # still the visitor's choice
    expect_step(app, 1)
    app.assert_healthy()


def test_a_desktop_gets_the_wide_graph(app):
    section(app)
    expect(app.page.get_by_role("switch", name="Top to bottom")).not_to_be_checked()



# Per node and line of its label (the pieces of text at one height): how far the line as drawn sits from the centre
# of the node's box, and how close it comes to the box's left or right edge, in the graph's own units (points).
LINE_PLACEMENT_JS = """g => { const box = g.querySelector('path, polygon').getBBox(), lines = new Map();
  for (const t of g.querySelectorAll('text')) {
    const x = +t.getAttribute('x'), line = lines.get(t.getAttribute('y')) || {text: '', left: x, right: x};
    line.text += t.textContent; line.right = Math.max(line.right, x + t.getComputedTextLength());
    lines.set(t.getAttribute('y'), line); }
  return [...lines.values()].map(l => [l.text, Math.abs((l.left + l.right) / 2 - (box.x + box.width / 2)),
                                       Math.min(l.left - box.x, box.x + box.width - l.right)]); }"""


def expect_lines_centred_in_their_boxes(app, drawn: str) -> None:
    """Once a node with the text `drawn` is on the page (the graph has been drawn anew), check every node's lines."""
    nodes = app.page.locator(GRAPH_NODES)
    expect(nodes.filter(has_text=drawn).first).to_be_visible()
    for node in nodes.all():
        for line, off_centre, clearance in node.evaluate(LINE_PLACEMENT_JS):
            assert off_centre < 0.5, f"{line!r} sits {off_centre:.1f} pt off its node's centre"
            assert clearance > 4, f"{line!r} comes within {clearance:.1f} pt of its node's border"


def test_each_nodes_lines_sit_centred_inside_its_box(phone_app):
    """Graphviz places a label's text by its own font's widths. Drawn in Streamlit's font instead, lines sat
    off-centre and touched the rounded border ("pixels, constant" under x), and "t1 = -2" read "t1= -2"."""
    section(phone_app)
    expect_lines_centred_in_their_boxes(phone_app, "(209, 12288)")  # the network's graph: shapes, top to bottom
    pick(phone_app, "micrograd's README")  # a small example: values and gradients, a bold name then " = value"
    expect_lines_centred_in_their_boxes(phone_app, "grad ?")
