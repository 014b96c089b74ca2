"""ui.backprop: the backward pass walked node by node, its graph as DOT, the rules, pictures and the stepper."""
from __future__ import annotations

import html
import re

import numpy as np
import pytest

from engine import Value
from model.cat import INPUT_SIZE
from model.functional import linear
from ui import backprop as bp
from ui import resources as shared
from ui import session
from ui.settings import FRESH

NODE_RE = re.compile(r"^  (\w+) \[label=<(.*)>, (.*)\];$", re.MULTILINE)
EDGE_RE = re.compile(r"^  (\w+) -> (\w+)(?: \[(.*)\])?;$", re.MULTILINE)


@pytest.fixture(scope="module")
def no_data(tmp_path_factory) -> shared.Resources:
    return shared.load_resources(tmp_path_factory.mktemp("empty"), tmp_path_factory.mktemp("w") / "none.npz")


def dot_nodes(dot: str) -> dict[str, tuple[str, str]]:
    """id -> (the label's text without its HTML tags, line breaks as spaces; the node's attributes)."""
    return {node_id: (html.unescape(re.sub(r"<BR/>", " ", re.sub(r"<(?!BR/)[^>]*>", "", label))), attrs)
            for node_id, label, attrs in NODE_RE.findall(dot)}


def dot_edges(dot: str) -> list[tuple[str, str, str]]:
    return EDGE_RE.findall(dot)


def node_id(dot: str, text_start: str) -> str:
    ids = [i for i, (text, _) in dot_nodes(dot).items() if text.startswith(text_start)]
    assert len(ids) == 1, (text_start, dot_nodes(dot))
    return ids[0]


def a_small_graph():
    """x used twice and a broadcast bias: enough for the order, accumulation and reductions to matter."""
    rng = np.random.default_rng(0)
    x = Value(rng.standard_normal((4, 3)), requires_grad=False)
    w, b = Value(rng.standard_normal((2, 3))), Value(np.zeros(2))
    h = (x @ w.T + b).relu()
    loss = (h * h + h).mean()
    return loss, {w: "w", b: "b", h: "h", loss: "loss"}


# --- the walk -------------------------------------------------------------------------------------


def test_the_walk_visits_the_reverse_topological_order_one_node_per_step():
    loss, names = a_small_graph()
    walk = bp.Walk(loss, names)
    order = loss.topological_order()
    assert [id(n) for n in walk.order] == [id(n) for n in reversed(order)]
    assert walk.status == f"Backward step 0 of {len(order)}" and walk.current is None
    for k in range(1, walk.total + 1):
        assert walk.step()
        assert walk.status == f"Backward step {k} of {walk.total}"
        assert walk.current is walk.order[k - 1]
        assert [walk.state(n) for n in walk.order] == ["done"] * (k - 1) + ["current"] + ["pending"] * (walk.total - k)
        ticked = k if k == walk.total else k - 1  # the current node too, once the walk is over
        assert [walk.ticked(n) for n in walk.order] == [True] * ticked + [False] * (walk.total - ticked)


def test_stepping_past_the_end_does_nothing():
    loss, names = a_small_graph()
    walk = bp.Walk(loss, names)
    walk.finish()
    grads = {n: n.grad.copy() for n in walk.order}
    assert walk.finished and walk.status == f"Backward step {walk.total} of {walk.total}"
    assert walk.step() is False and walk.done == walk.total
    walk.finish()
    assert walk.current is walk.order[-1]
    assert all(np.array_equal(n.grad, g) for n, g in grads.items())  # nothing ran twice


def test_the_order_list_marks_visited_nodes_and_the_current_one_and_ticks_all_once_all_are_visited():
    loss, names = a_small_graph()
    walk = bp.Walk(loss, names)
    first, second = (f"`{walk.name(node)}`" for node in walk.order[:2])
    assert bp.order_markdown(walk).splitlines()[:2] == [f"1. {first}", f"2. {second}"]
    walk.step()
    walk.step()
    assert bp.order_markdown(walk).splitlines()[:3] == [f"1. ✓ {first}", f"2. **▶\u00a0{second}**\u00a0←\u00a0now",
                                                         f"3. `{walk.name(walk.order[2])}`"]
    walk.finish()
    rows = bp.order_markdown(walk).splitlines()
    last = walk.name(walk.order[-1])
    assert rows[-1] == f"{walk.total}. ✓ **`{last}`**\u00a0←\u00a0last"  # still the one explained below
    assert all("✓" in row for row in rows) and not any("▶" in row for row in rows)


def test_the_walk_leaves_exactly_what_backward_leaves():
    walked, names = a_small_graph()
    plain, _ = a_small_graph()
    bp.Walk(walked, names).finish()
    plain.backward()
    pairs = list(zip(walked.topological_order(), plain.topological_order(), strict=True))
    for a, b in pairs:
        assert a.grad.dtype == b.grad.dtype
        np.testing.assert_array_equal(a.grad, b.grad)  # bit for bit, intermediate nodes too


def test_the_leaves_note_only_where_the_leaves_come_last():
    a, b = Value(2.0), Value(3.0)
    walk = bp.Walk(a * b, {a: "a", b: "b"})
    assert bp.leaves_last(walk)
    t = a * b
    c = Value(1.0)  # a leaf made after an op: backward reaches it first (the reverse of the order things were made)
    mixed = bp.Walk(t * c, {a: "a", b: "b", c: "c"})
    assert [n.op or "leaf" for n in mixed.order] == ["mul", "leaf", "mul", "leaf", "leaf"]
    assert not bp.leaves_last(mixed)


def test_unnamed_nodes_are_numbered_in_forward_order():
    a = Value(1.0)
    loss = (a * 2 + 1) * 3
    walk = bp.Walk(loss, {a: "a"})
    assert [walk.name(n) for n in reversed(walk.order)] == ["a", "t1", "t2", "t3"]


# --- the graph as DOT -----------------------------------------------------------------------------


def test_dot_draws_every_node_left_to_right_with_edges_from_operand_to_result():
    loss, names = a_small_graph()
    walk = bp.Walk(loss, names)
    dot = bp.graph_dot(walk)
    assert dot.startswith("digraph") and "rankdir=LR" in dot
    nodes = dot_nodes(dot)
    assert len(nodes) == walk.total
    by_name = {text.split()[0]: i for i, (text, _) in nodes.items()}
    edges = {(a, b) for a, b, _ in dot_edges(dot)}
    expected = {(by_name[walk.name(p)], by_name[walk.name(n)]) for n in walk.order for p in n.parents}
    assert edges == expected
    assert "rankdir=TB" in bp.graph_dot(walk, "TB")


def test_dot_highlights_the_current_node_and_marks_the_visited_ones():
    loss, names = a_small_graph()
    walk = bp.Walk(loss, names)
    for _ in range(3):
        walk.step()
    nodes = dot_nodes(bp.graph_dot(walk))
    styles = {text.removeprefix("✓ ").split()[0]: (text, attrs) for text, attrs in nodes.values()}
    for node in walk.order:
        text, attrs = styles[walk.name(node)]
        state = walk.state(node)
        style = {"current": bp.CURRENT_STYLE, "done": bp.DONE_STYLE, "pending": bp.PENDING_STYLE}[state]
        assert attrs.startswith(style), (walk.name(node), state, attrs)
        assert text.startswith("✓ ") == (state == "done")
    assert sum(attrs.startswith(bp.CURRENT_STYLE) for _, attrs in nodes.values()) == 1
    flowed = [(a, b) for a, b, attrs in dot_edges(bp.graph_dot(walk)) if attrs == bp.FLOWED_EDGE]
    assert len(flowed) == sum(len(n.parents) for n in walk.order[:3])  # the edges the gradient went back along


def test_dot_escapes_names():
    a = Value(2.0)
    loss = a * a
    dot = bp.graph_dot(bp.Walk(loss, {a: '<b>&"x', loss: "L"}))
    assert "&lt;b&gt;&amp;&quot;x" in dot and '<b>&"x' not in dot
    assert dot_nodes(dot)[node_id(dot, '<b>&"x')][0].startswith('<b>&"x = 2')


def test_small_graphs_show_numbers_and_the_gradient_so_far():
    ex = bp.small_example("twice")
    walk = ex.walk
    texts = lambda: sorted(text for text, _ in dot_nodes(bp.graph_dot(walk)).values())  # noqa: E731
    assert texts() == ["a = 3 grad ? leaf", "b = 6 grad ? add"]
    walk.step()
    assert texts() == ["a = 3 grad so far 2 leaf", "b = 6 grad 1 add"]  # both shares arrived before a's turn
    walk.step()
    assert texts() == ["✓ a = 3 grad 2 leaf", "✓ b = 6 grad 1 add"]  # the walk is over: every node is ticked


# --- the examples ---------------------------------------------------------------------------------


def finished(key: str) -> bp.Walk:
    walk = bp.small_example(key).walk
    walk.finish()
    return walk


def grads_by_name(walk: bp.Walk) -> dict:
    return {walk.name(n): n.grad for n in walk.order}


def test_a_node_used_twice_accumulates_its_gradient():
    grads = grads_by_name(finished("twice"))
    assert grads["a"] == 2.0 and grads["b"] == 1.0
    walk = bp.small_example("twice").walk
    assert bp.detail(walk) is None  # nothing visited yet
    walk.step()
    passed = bp.detail(walk).passed
    assert passed == ("`a` receives 2 in all, along 2 edges (it is used twice here: the shares add up); "
                      "`a.grad` is now 2",)


def test_the_scalar_example_gives_the_chain_rules_numbers():
    walk = finished("scalars")
    grads = grads_by_name(walk)
    assert walk.loss.item() == -8.0
    assert {k: float(v) for k, v in grads.items()} == {"L": 1, "d": -2, "f": 4, "e": -2, "c": -2, "a": 6, "b": -4}


def test_the_broadcast_example_sums_shares_back_to_each_operands_shape():
    walk = bp.small_example("broadcast").walk
    walk.step()
    walk.step()  # c = b * m: both operands were broadcast
    rule = bp.detail(walk).rule
    assert rule.forward == "c = b * m"
    assert any("`(2, 3) -> (3,)`" in note for note in rule.notes)
    assert any("`(2, 3) -> (2, 1)`" in note for note in rule.notes)
    walk.finish()
    grads = grads_by_name(walk)
    assert walk.loss.item() == 132.0
    np.testing.assert_array_equal(grads["a"], [11, 11, 11])
    np.testing.assert_array_equal(grads["m"], [[12], [12]])
    walk = bp.small_example("broadcast").walk
    for _ in range(4):
        walk.step()  # loss, c, then m (made after b), then b = a + 2: the number gets nothing
    assert bp.detail(walk).rule.forward == "b = a + const"


def test_micrograds_readme_example_gives_micrograds_numbers():
    walk = finished("micrograd")
    grads = grads_by_name(walk)
    assert f"{walk.loss.item():.4f}" == "24.7041"
    assert (f"{grads['a'].item():.4f}", f"{grads['b'].item():.4f}") == ("138.8338", "645.5773")
    assert 16 <= walk.total <= 30


def test_an_examples_code_is_its_functions_body():
    ex = bp.small_example("twice")
    assert ex.code == "a = Value(3.0)\nb = a + a\nb.backward()"
    assert "why backward adds" in ex.about
    assert bp.small_example("scalars").code.splitlines()[-2:] == ["L = d * f", "L.backward()"]


# --- the network's training step ------------------------------------------------------------------


def test_the_network_walk_is_the_trainers_graph_with_names_and_shapes_from_the_data(resources):
    training = session.TrainingSession(resources)
    ex = bp.network_example(training)
    walk = ex.walk
    m, n_pixels = resources.train_data.x_train.shape
    assert 16 <= walk.total <= 30 and walk.total == len(ex.pending.loss.topological_order())
    assert [walk.name(n) for n in walk.order[:8]] == ["loss", "z4", "h3", "z3", "h2", "z2", "h1", "z1"]
    assert [walk.name(n) for n in walk.order[8:]] == ["b4", "W4", "b3", "W3", "b2", "W2", "b1", "W1"]
    dot = bp.graph_dot(walk)
    texts = [text for text, _ in dot_nodes(dot).values()]
    assert f"x ({m}, {n_pixels}) pixels, constant" in texts
    assert f"y ({m}, 1) labels, constant" in texts
    assert f"W1 (20, {n_pixels}) parameter" in texts and "b1 (20,) parameter" in texts
    assert f"z1 ({m}, 20) linear" in texts
    assert len(texts) == walk.total + 2
    assert ex.code.splitlines()[0] == "z1 = x @ W1.T + b1"


def test_the_network_walk_shows_exactly_the_gradients_backward_gives(resources):
    walked, plain = session.TrainingSession(resources), session.TrainingSession(resources)
    walk = bp.network_example(walked).walk
    walk.finish()
    pending = plain.forward_step()
    pending.loss.backward()
    for a, b in zip(walk.order, reversed(pending.loss.topological_order()), strict=True):
        assert a.op == b.op and a.grad.dtype == b.grad.dtype
        np.testing.assert_array_equal(a.grad, b.grad)
    for p, q in zip(walked.model.parameters(), plain.model.parameters()):
        np.testing.assert_array_equal(p.grad, q.grad)


def test_the_rules_name_the_reductions_and_the_constant_input(resources):
    training = session.TrainingSession(resources)
    walk = bp.network_example(training).walk
    m = resources.train_data.x_train.shape[0]
    rules = {}
    while walk.step():
        rules[walk.name(walk.current)] = bp.detail(walk)
    z1 = rules["z1"].rule
    assert z1.forward == "z1 = x @ W1.T + b1"
    assert f"W1.grad += z1.grad.T @ x  # (20, {m}) @ ({m}, 12288) -> (20, 12288)" in z1.backward
    assert f"b1.grad += z1.grad.sum(axis=0)  # ({m}, 20) -> (20,)" in z1.backward
    assert any(f"`({m}, 20) -> (20,)`" in note for note in z1.notes)
    assert any("`x` is a constant" in note for note in z1.notes)
    assert not any(line.startswith("x.grad") for line in z1.backward)  # never computed
    assert f"h3.grad += z4.grad @ W4  # ({m}, 1) @ (1, 5) -> ({m}, 5)" in rules["z4"].rule.backward
    assert rules["loss"].rule.backward == (f"z4.grad += loss.grad * (sigmoid(z4) - y) / {m}",)
    assert rules["h1"].rule.backward == ("z1.grad += h1.grad * (z1 > 0)",)
    assert rules["loss"].gradient.startswith("`loss.grad` = ∂loss/∂loss = **1**")
    assert [line.split("`")[1] for line in rules["z1"].passed] == ["W1", "b1"]


@pytest.mark.parametrize("optimizer, update", [("sgd", "`W1 -= lr * W1.grad`"),
                                               ("adam", "Adam: a step against its gradient")])
def test_a_parameters_note_quotes_the_update_of_the_runs_own_optimizer(resources, optimizer, update):
    walk = bp.network_example(session.TrainingSession(resources, optimizer=optimizer)).walk
    walk.finish()
    note = " ".join(bp.detail(walk).rule.notes)  # the last node visited: W1
    assert update in note and ("SGD" in note) == (optimizer == "sgd")


def test_the_line_beside_the_buttons_names_the_node_just_visited_and_its_rule(resources):
    training, stepper = session.TrainingSession(resources), bp.Stepper(bp.NETWORK)
    assert stepper.view(training, "TB").now == ""  # nothing visited yet
    for _ in range(3):
        stepper.back(training)
    assert stepper.view(training, "TB").now == "Just visited: `h3`, `relu` · `z3.grad += h3.grad * (z3 > 0)`"
    stepper.finish(training)
    assert stepper.view(training, "TB").now == ("Just visited: `W1`, a parameter · its gradient is final, nothing to "
                                                "pass on")


def test_pictures_of_the_gradients(resources):
    training = session.TrainingSession(resources)
    walk = bp.network_example(training).walk
    pictures = {}
    while walk.step():
        pictures[walk.name(walk.current)] = bp.picture(walk, walk.current)
    tiles = pictures["W1"]
    assert tiles.kind == "tiles" and len(tiles.images) == 20 and tiles.captions[0] == "unit 1"
    assert all(image.shape == (128, 128, 3) and image.dtype == np.uint8 for image in tiles.images)
    assert pictures["z1"].kind == "heatmap" and pictures["z1"].images[0].ndim == 3
    assert pictures["b1"].kind == "bars" and len(pictures["b1"].chart[0]["gradient"]) == 20
    assert pictures["z4"].kind == "bars" and "training image" in pictures["z4"].caption
    assert pictures["z4"].caption.endswith(bp.LOGITS_BARS) and bp.LOGITS_BARS not in pictures["b1"].caption
    assert pictures["b4"] is None  # one number: its value says it all


def test_a_gradient_that_few_images_carry_says_why_its_picture_is_mostly_white(resources):
    def h3_caption(training):
        walk = bp.network_example(training).walk
        while walk.step() and walk.name(walk.current) != "h3":
            pass
        return walk, bp.picture(walk, walk.current).caption

    walk, caption = h3_caption(session.TrainingSession(resources))  # the shipped weights: most images are right
    grad = walk.current.grad
    few = bp.images_holding_half(grad)
    assert few <= len(grad) // 10
    assert f"Half of this gradient (by its squared size) comes from {few} of the {len(grad)} images" in caption
    _, caption = h3_caption(session.TrainingSession(resources, start=FRESH))  # random weights: all are wrong
    assert "Half of this gradient" not in caption


def test_images_holding_half_counts_the_largest_rows_first():
    grad = np.array([[3.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])  # squared sizes 9, 1, 2, 0 of 12
    assert bp.images_holding_half(grad) == 1
    assert bp.images_holding_half(np.ones((4, 3))) == 2


def test_a_first_layer_unit_that_gets_no_gradient_is_named():
    rng = np.random.default_rng(1)
    x = Value(rng.random((3, INPUT_SIZE)), requires_grad=False)
    w, b = Value(rng.standard_normal((2, INPUT_SIZE)) * 0.01), Value(np.array([0.0, -100.0]))  # unit 2 is dead
    loss = linear(x, w, b).relu().sum()
    walk = bp.Walk(loss, {w: "W1", b: "b1"}, leaf_word="parameter")
    walk.finish()
    tiles = bp.picture(walk, w)
    assert tiles.kind == "tiles" and len(tiles.images) == 2
    assert tiles.caption.endswith(f"Unit 2: all zero, no gradient reaches it ({bp.NO_GRADIENT_WHY}).")
    assert (tiles.images[1] == bp.ZERO_RGB).all() and not (tiles.images[0] == bp.ZERO_RGB).all()
    b.data[0], w.grad, b.grad = -100.0, None, None  # both dead, and the first walk's gradients cleared
    walk = bp.Walk(linear(x, w, b).relu().sum(), {w: "W1", b: "b1"}, leaf_word="parameter")
    walk.finish()
    caption = bp.picture(walk, w).caption
    assert caption.endswith(f"Units 1, 2: all zero, no gradient reaches them ({bp.NO_GRADIENT_WHY}).")


def test_gradient_tiles_share_the_scale_of_their_channel_sums():
    """The tiles sum three channels, so full colour is the largest |sum|: a gradient of one sign everywhere (every
    pixel is >= 0, so a unit's row is often its error times a mean image) shows its pattern instead of a flat block."""
    x = Value(np.linspace(0.1, 1.0, 2 * INPUT_SIZE).reshape(2, INPUT_SIZE), requires_grad=False)
    w = Value(np.zeros((1, INPUT_SIZE)))
    walk = bp.Walk((x @ w.T).sum(), {w: "W1"}, leaf_word="parameter")
    walk.finish()
    tiles = bp.picture(walk, w)
    sums = w.grad.reshape(64, 64, 3).sum(axis=-1)
    assert f"±{sums.max():.2g}" in tiles.caption
    image = tiles.images[0]
    assert (image == bp.POSITIVE_RGB).all(axis=-1).mean() < 0.02  # only the pixels with the largest sums are full red
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 100  # and the rest a gradient of shades


def test_the_diverging_scale_is_symmetric_around_white():
    rgb = bp.diverging_rgb(np.array([-2.0, -1.0, 0.0, 1.0, 2.0]), limit=2.0)
    assert tuple(rgb[2]) == bp.ZERO_RGB
    assert tuple(rgb[0]) == bp.NEGATIVE_RGB and tuple(rgb[4]) == bp.POSITIVE_RGB
    assert np.abs(rgb[1].astype(int) - bp.ZERO_RGB).sum() == pytest.approx(
        np.abs(np.array(bp.NEGATIVE_RGB) - bp.ZERO_RGB).sum() / 2, abs=2)
    assert tuple(bp.diverging_rgb(np.array([10.0]), limit=2.0)[0]) == bp.POSITIVE_RGB  # beyond: clipped


# --- the stepper in a session ---------------------------------------------------------------------


def test_update_applies_the_walked_gradients_as_one_epoch(resources):
    walked, plain = session.TrainingSession(resources), session.TrainingSession(resources)
    stepper = bp.Stepper(bp.NETWORK)
    stepper.open(walked)
    stepper.back(walked)  # half a walk: update finishes it first
    rows_before = len(walked.history)
    stepper.update(walked)
    plain.step(1)
    assert walked.epoch == plain.epoch == 1 and walked.current == plain.current
    assert len(walked.history) == rows_before + 1
    for p, q in zip(walked.model.parameters(), plain.model.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    assert "Epoch 1." in stepper.notice[1]
    view = stepper.view(walked)
    assert view.status == "Backward step 0 of 16" and walked.is_current(view.example.pending)


def test_training_in_between_freezes_a_stepped_walk_until_restart(resources):
    training = session.TrainingSession(resources)
    stepper = bp.Stepper(bp.NETWORK)
    stepper.open(training)
    stepper.back(training)
    stepper.back(training)
    training.step(10)
    stepper.back(training)
    view = stepper.view(training)
    assert view.status == "Backward step 2 of 16"  # not stepped on stale weights
    assert view.message == bp.STALE and not view.can_step and not view.can_update
    stepper.update(training)
    assert training.epoch == 10  # nothing applied
    stepper.restart(training)
    view = stepper.view(training)
    assert view.status == "Backward step 0 of 16" and view.can_step and view.message is None


def test_an_untouched_walk_follows_the_weights_and_playing_blocks_the_network(resources):
    training = session.TrainingSession(resources)
    stepper = bp.Stepper(bp.NETWORK)
    first = stepper.open(training)
    training.step(1)
    assert stepper.open(training) is not first and not stepper.stale(training)  # rebuilt on the next look
    training.play()
    view = stepper.view(training)
    assert view.message == bp.WHILE_PLAYING and not view.can_step
    stepper.back(training)
    assert stepper.opened.walk.done == 0
    stepper.choose("twice", training)  # the small examples still work
    stepper.back(training)
    assert stepper.view(training).status == "Backward step 1 of 2"


def test_without_the_data_set_the_network_says_so_and_the_examples_work(no_data):
    training = session.TrainingSession(no_data)
    state = {}
    stepper = bp.stepper_for(state, training)
    assert state["bp_example"] == "scalars"
    stepper.choose(bp.NETWORK, training)
    view = stepper.view(training)
    assert view.example is None and view.message == bp.NEEDS_DATA and not view.can_step
    stepper.back(training)
    stepper.update(training)
    stepper.choose("broadcast", training)
    stepper.finish(training)
    assert stepper.view(training).status == "Backward step 5 of 5"


def test_a_mean_is_one_step_whose_rule_divides_by_the_count():
    loss, names = a_small_graph()  # ends in (h * h + h).mean()
    walk = bp.Walk(loss, names)
    walk.step()
    rule = bp.rule(walk, walk.current)
    assert walk.current is loss and loss.op == "mean"
    assert rule.forward.startswith("loss = ") and rule.forward.endswith(".mean()")
    assert rule.backward[0].split("  #")[0].endswith(".grad += loss.grad / n")
    assert "divided by n" in rule.notes[0]


def test_an_update_that_raises_the_loss_says_why(resources):
    """At the pretrained weights one step at the course's rate hops across the valley: the loss goes up."""
    run = session.TrainingSession(resources)
    stepper = bp.Stepper(bp.NETWORK)
    stepper.update(run)
    kind, notice = stepper.notice
    assert kind == "info" and "up, not down: the step overshot the bottom of the valley" in notice


def test_an_update_that_lowers_the_loss_is_a_success(resources):
    run = session.TrainingSession(resources, start=FRESH)  # far from any minimum: the step goes downhill
    stepper = bp.Stepper(bp.NETWORK)
    stepper.update(run)
    kind, notice = stepper.notice
    assert kind == "success" and "Epoch 1." in notice and "up, not down" not in notice
