"""See backprop: one backward pass walked node by node, for the page's "See backprop" section.

A `Walk` holds a loss `Value` and the generator `loss.backward_steps()`, advanced one node per press; it
reads the graph through the engine's public seams only (`op`, `parents`, `topological_order()`). The rest
turns a walk into what the page draws: the graph as Graphviz DOT, the reverse topological order, the local
rule of the current node's op, and a picture of the gradient that arrived there. `Stepper` is the section's
state in one visitor's session: the chosen example, its walk and, for the network, the pending training step.
"""
from __future__ import annotations

import contextlib
import html
import inspect
import textwrap
from dataclasses import dataclass, field

import numpy as np

from engine import Value
from model.cat import IMAGE_SHAPE, INPUT_SIZE, REFERENCE_OPTIMIZER
from model.optim import OPTIMIZERS
from ui.gallery import png_bytes, upscale
from ui.text import NBSP, NO_GRADIENT_WHY

RANK_WIDTH, MAX_GRAPH_WIDTH = 150, 800  # px per column of the graph; wider than this, it fills the column
MAX_NUMBERS = 6  # a node holding at most this many numbers shows them, not just its shape
NEGATIVE_RGB, ZERO_RGB, POSITIVE_RGB = (33, 102, 172), (247, 247, 247), (178, 24, 43)  # blue, white, red
PENDING_STYLE = 'fillcolor="#ffffff", color="#9aa0a6"'
DONE_STYLE = 'fillcolor="#e3f1e4", color="#4b8b55"'
CURRENT_STYLE = 'fillcolor="#fde4cf", color="#d9652b", penwidth=3'
CONSTANT_STYLE = 'style="rounded,dashed", fillcolor="#ffffff", color="#9aa0a6", fontcolor="#5f6368"'
FLOWED_EDGE = 'color="#d9652b", penwidth=1.6'  # the gradient has gone back along this edge
FONT, FONT_SIZE, SMALL_FONT_SIZE = "Helvetica", 12, 10  # a node's name and value; the op or kind under them
# Graphviz places each piece of a label by this font's widths at these sizes, but Streamlit draws every text of the
# chart in its own narrower font at one smaller size, so lines sat off-centre; and SVG drops the space that starts a
# piece ("t1" " = -2" read "t1= -2"). Draw them as Graphviz laid them out (Arial has Helvetica's widths; Graphviz
# writes sizes as "12.00").
GRAPH_CSS = "<style>" + " ".join(
    f'[data-testid=stGraphVizChart] svg text[font-size="{size:.2f}"] '
    f'{{ font-family: {FONT}, Arial, sans-serif; font-size: {size}px; white-space: pre; }}'
    for size in (FONT_SIZE, SMALL_FONT_SIZE)) + "</style>"
NOTHING_YET = ("Nothing yet: the forward pass has built the graph. Press **Backward one step** to start at "
               "the output, whose gradient with respect to itself is 1.")
FULL_SCREEN = " Too small? Point at the graph: a button at its top right shows it full screen."
LEAVES_NOTE = ("The leaves come last: their gradients are final once every node using them is visited, and they "
               "have nothing to pass on.")
WHY_ORDER = ("Backward visits the nodes in **reverse topological order**, so every node that used a value comes "
             "before it: by the time a node's turn comes, all the shares of its gradient have arrived and it is "
             "complete, ready to be passed on. This engine's order is simply the reverse of the order the forward "
             "pass made the nodes in.")


@dataclass(frozen=True)
class Constant:
    """An input that needs no gradient (the pixels, the labels): drawn, but never part of the walk."""

    name: str
    shape: tuple
    feeds: Value  # the node that uses it
    what: str  # "pixels, constant"


# --- the walk -------------------------------------------------------------------------------------


class Walk:
    """`loss.backward()` one node at a time: the graph under `loss`, in the order backward visits it.

    `names` maps Values to names (unnamed nodes become t1, t2, ...); `lock` is held while a step runs (the
    network's walk fills the parameters' `.grad`, which training must not touch meanwhile)."""

    def __init__(self, loss: Value, names: dict, constants=(), lock=None, leaf_word: str = "leaf",
                 batch: int | None = None, steps=None, optimizer: str = REFERENCE_OPTIMIZER):
        self.loss, self.constants, self.leaf_word, self.batch = loss, tuple(constants), leaf_word, batch
        self.optimizer = optimizer  # whose update the parameters' notes quote
        self.order = loss.topological_order()[::-1]  # the backward order: the loss first
        self._position = {node: i for i, node in enumerate(self.order)}
        self.names = _complete_names(self.order, names)
        self.done = 0  # nodes visited so far
        self.received: dict = {}  # parent -> the share of the gradient it got at the last step
        self._lock = lock if lock is not None else contextlib.nullcontext()
        self._start_steps = steps or loss.backward_steps  # called at the first step, not before
        self._steps = None

    @property
    def total(self) -> int:
        return len(self.order)

    @property
    def finished(self) -> bool:
        return self.done == self.total

    @property
    def current(self) -> Value | None:
        """The node visited last: its gradient is complete and has just been passed to its operands."""
        return self.order[self.done - 1] if self.done else None

    @property
    def status(self) -> str:
        return f"Backward step {self.done} of {self.total}"

    @property
    def numbers(self) -> bool:
        """Whether the nodes are small enough to show their numbers."""
        return all(node.size <= MAX_NUMBERS for node in self.order)

    @property
    def columns(self) -> int:
        """How many columns the graph takes left to right: the longest path from a leaf to the loss, + 1."""
        depth: dict = {}
        for node in reversed(self.order):  # operands before results
            depth[node] = 1 + max((depth[p] for p in node.parents), default=0)
        return depth[self.loss] + bool(self.constants)

    def state(self, node: Value) -> str:
        """'current' (the node visited last), 'done' or 'pending'."""
        position = self.position(node)
        return "current" if position == self.done - 1 else "done" if position < self.done else "pending"

    def ticked(self, node: Value) -> bool:
        """Whether `node` is ticked off: visited before the current one, or visited at all once the walk is over."""
        return self.position(node) < self.done - (not self.finished)

    def position(self, node: Value) -> int:
        return self._position[node]

    def name(self, node: Value) -> str:
        return self.names[node]

    def step(self) -> bool:
        """Visit the next node (one item of `backward_steps()`); False, doing nothing, once all are visited."""
        if self.finished:
            return False
        with self._lock:
            node = self.order[self.done]
            if self._steps is None:
                self._steps = self._start_steps()
            before = {parent: parent.grad.copy() for parent in node.parents}
            visited = next(self._steps)
            if visited is not node:
                raise RuntimeError("backward_steps() left the order of topological_order()")
            self.received = {parent: parent.grad - grad for parent, grad in before.items()}
            self.done += 1
        return True

    def finish(self) -> None:
        """Visit every remaining node: afterwards the gradients are exactly what `loss.backward()` leaves."""
        while self.step():
            pass


def _complete_names(order: list, names: dict) -> dict:
    """The given names, and t1, t2, ... (in forward order) for the nodes without one."""
    complete, count = {}, 0
    for node in reversed(order):
        if node in names:
            complete[node] = names[node]
        else:
            count += 1
            complete[node] = f"t{count}"
    return complete


# --- the graph as DOT -----------------------------------------------------------------------------


def format_number(x) -> str:
    """A number or a small array, short: 6 significant digits for one number, 4 in an array."""
    a = np.asarray(x, dtype=float)
    if a.size == 1:
        value = float(a.reshape(()))
        return f"{value + 0.0:.6g}"  # + 0.0 turns -0.0 into 0.0
    return np.array2string(a + 0.0, separator=", ", max_line_width=10**6,
                           formatter={"float_kind": lambda v: f"{v:.4g}"})


def shape_text(shape) -> str:
    return str(tuple(int(n) for n in shape))


def _label(walk: Walk, node: Value) -> str:
    """An HTML-like Graphviz label, three short lines: the name and its value (small examples) or shape, the
    gradient (small examples) and the op."""
    name, state = html.escape(walk.name(node)), walk.state(node)
    mark = "✓ " if walk.ticked(node) else ""
    what = f'<FONT POINT-SIZE="{SMALL_FONT_SIZE}" COLOR="#5f6368">{html.escape(node.op or walk.leaf_word)}</FONT>'
    if not walk.numbers:  # shapes; a single number (the loss, a bias of one) shows its value
        value = f"= {node.data.item():.4g}" if node.size == 1 else shape_text(node.shape)
        return f"<<B>{mark}{name}</B><BR/>{value}<BR/>{what}>"
    if state != "pending":
        grad = f"grad {html.escape(format_number(node.grad))}"
    else:  # a share may have arrived already: the gradient so far, not yet complete
        grad = f"grad so far {html.escape(format_number(node.grad))}" if node.grad.any() else "grad ?"
    return f"<<B>{mark}{name}</B> = {html.escape(format_number(node.data))}<BR/>{grad}<BR/>{what}>"


def graph_dot(walk: Walk, direction: str = "LR") -> str:
    """The walk's graph for `st.graphviz_chart`: operand -> result, left to right (or "TB": top to bottom, for
    narrow screens), the current node highlighted, visited nodes ticked and green, edges the gradient has
    flowed back along in orange."""
    ids = {node: f"n{i}" for i, node in enumerate(reversed(walk.order))}  # n0 ... in forward order
    styles = {"pending": PENDING_STYLE, "done": DONE_STYLE, "current": CURRENT_STYLE}
    spacing = "nodesep=0.2; ranksep=0.35;" if walk.numbers else "nodesep=0.12; ranksep=0.2;"
    lines = ["digraph backprop {", f'  rankdir={direction}; bgcolor="transparent"; {spacing}',
             f'  node [shape=box, style="rounded,filled", fontname="{FONT}", fontsize={FONT_SIZE}, '
             'margin="0.08,0.04"];',  # inches of room around the text: the rounded corners come close to it
             '  edge [color="#9aa0a6", arrowsize=0.6];']
    for i, constant in enumerate(walk.constants):
        label = (f'<<B>{html.escape(constant.name)}</B><BR/>{shape_text(constant.shape)}<BR/>'
                 f'<FONT POINT-SIZE="{SMALL_FONT_SIZE}">{html.escape(constant.what)}</FONT>>')
        group = "" if constant.feeds is walk.loss else ", group=ops"  # the input, in line with the ops
        lines.append(f"  c{i} [label={label}, {CONSTANT_STYLE}{group}];")
        lines.append(f"  c{i} -> {ids[constant.feeds]};")
    for node in reversed(walk.order):
        group = ", group=ops" if node.op else ""  # one group: Graphviz keeps the chain of ops straight
        lines.append(f"  {ids[node]} [label={_label(walk, node)}, {styles[walk.state(node)]}{group}];")
    for node in reversed(walk.order):
        flowed = walk.state(node) != "pending"
        for parent in node.parents:
            lines.append(f"  {ids[parent]} -> {ids[node]}" + (f" [{FLOWED_EDGE}];" if flowed else ";"))
    lines.append("}")
    return "\n".join(lines)


def graph_width(walk: Walk, direction: str = "LR") -> int | str:
    """The graph's width on the page: RANK_WIDTH px per column, or the whole column if that is too wide; top
    to bottom, its own size."""
    if direction != "LR":
        return "content"
    width = RANK_WIDTH * walk.columns
    return width if width <= MAX_GRAPH_WIDTH else "stretch"


def leaves_last(walk: Walk) -> bool:
    """Whether the walk visits every leaf after every op node (the engine's order often does, not always)."""
    kinds = [bool(node.op) for node in walk.order]
    return kinds == sorted(kinds, reverse=True)


def order_markdown(walk: Walk) -> str:
    """The reverse topological order as a numbered Markdown list, the current node in bold."""
    rows = []
    for i, node in enumerate(walk.order, start=1):
        text = f"`{walk.name(node)}`"
        state = walk.state(node)
        if state == "current":  # the node the "What happens" panel explains; ticked too once the walk is over
            # no-break spaces: in the narrow column "← now" wrapped away from its node, "now" alone on a line
            rows.append(f"{i}. ✓ **{text}**{NBSP}←{NBSP}last" if walk.finished
                        else f"{i}. **▶{NBSP}{text}**{NBSP}←{NBSP}now")
        else:
            rows.append(f"{i}. ✓ {text}" if walk.ticked(node) else f"{i}. {text}")
    return "\n".join(rows)


# --- the local rule at the current node -----------------------------------------------------------

UNARY_RULES = {  # op -> (forward, the operand's share), with {x} the operand and {out} the result
    "relu": ("{out} = max({x}, 0)", "{x}.grad += {out}.grad * ({x} > 0)"),
    "sigmoid": ("{out} = 1 / (1 + exp(-{x}))", "{x}.grad += {out}.grad * {out} * (1 - {out})"),
    "tanh": ("{out} = tanh({x})", "{x}.grad += {out}.grad * (1 - {out}**2)"),
    "exp": ("{out} = exp({x})", "{x}.grad += {out}.grad * {out}"),
    "log": ("{out} = log({x})", "{x}.grad += {out}.grad / {x}"),
    "softplus": ("{out} = log(1 + exp({x}))", "{x}.grad += {out}.grad * sigmoid({x})"),
    "neg": ("{out} = -{x}", "{x}.grad += -{out}.grad"),
    "pow": ("{out} = {x} ** p", "{x}.grad += {out}.grad * p * {x} ** (p - 1)"),
    "clip": ("{out} = clip({x}, lo, hi)", "{x}.grad += {out}.grad * (lo <= {x} <= hi)"),
    "reshape": ("{out} = {x}.reshape(shape)", "{x}.grad += {out}.grad.reshape({x}.shape)"),
    "transpose": ("{out} = {x}.transpose(axes)", "{x}.grad += {out}.grad, transposed back"),
    "getitem": ("{out} = {x}[index]", "{x}.grad[index] += {out}.grad  # repeated indices add up"),
}
RELU_NOTE = ("The ReLU is a gate: where `{x}` was positive the gradient passes unchanged, where it was not (the "
             "output was 0) it stops. A unit that is 0 for every image passes nothing back: a dead unit.")
BINARY_RULES = {  # op -> (symbol, left operand's share, right operand's share), operands {a} and {b}
    "add": ("+", "{a}.grad += {out}.grad", "{b}.grad += {out}.grad"),
    "sub": ("-", "{a}.grad += {out}.grad", "{b}.grad += -{out}.grad"),
    "mul": ("*", "{a}.grad += {out}.grad * {b}", "{b}.grad += {out}.grad * {a}"),
    "div": ("/", "{a}.grad += {out}.grad / {b}", "{b}.grad += -{out}.grad * {a} / {b}**2"),
    "matmul": ("@", "{a}.grad += {out}.grad @ {b}.T", "{b}.grad += {a}.T @ {out}.grad"),
}
WITH_A_CONSTANT = {  # op -> the share of the one operand that needs a gradient, the other a constant `const`
    "add": "{x}.grad += {out}.grad",
    "sub": "{x}.grad += {out}.grad  # or -{out}.grad, when {x} is the one subtracted",
    "mul": "{x}.grad += {out}.grad * const",
    "div": "{x}.grad += {out}.grad / const  # or -{out}.grad * const / {x}**2, when {x} is the divisor",
    "matmul": "{x}.grad += {out}.grad @ const.T  # or const.T @ {out}.grad, when {x} is on the right",
}
COMMUTATIVE = {"add", "mul"}


@dataclass(frozen=True)
class Rule:
    """What an op does and what each operand gets back: code lines, plus notes in Markdown."""

    forward: str
    backward: tuple = ()
    notes: tuple = ()


def summed_axes(result_shape: tuple, operand_shape: tuple) -> tuple:
    """The axes backward sums a broadcast operand's share over: added leading axes and axes that were 1."""
    lead = len(result_shape) - len(operand_shape)
    return tuple(range(lead)) + tuple(lead + i for i, n in enumerate(operand_shape)
                                      if n == 1 and result_shape[lead + i] != 1)


def _constant_name(walk: Walk, node: Value, default: str) -> str:
    return next((c.name for c in walk.constants if c.feeds is node), default)


def rule(walk: Walk, node: Value) -> Rule:
    """The local rule of `node`'s op, written with the walk's names and the data's shapes."""
    out = walk.name(node)
    if not node.op:
        return _leaf_rule(walk, node)
    if node.op == "linear":
        return _linear_rule(walk, node)
    if node.op == "bce_with_logits":
        return _bce_rule(walk, node)
    if node.op in ("sum", "mean"):
        return _sum_rule(walk, node)
    if node.op in UNARY_RULES:
        forward, share = UNARY_RULES[node.op]
        x = walk.name(node.parents[0])
        notes = (RELU_NOTE.format(x=x),) if node.op == "relu" else ()
        return Rule(forward.format(out=out, x=x), (share.format(out=out, x=x),), notes)
    if node.op in BINARY_RULES:
        return _binary_rule(walk, node)
    return Rule(f"{out} = {node.op}(...)", tuple(f"{walk.name(p)}.grad += its share of {out}.grad"
                                                 for p in node.parents))


def _sum_rule(walk: Walk, node: Value) -> Rule:
    """A sum, or a mean (a sum divided by the count n): backward copies the gradient to every element."""
    out, x = walk.name(node), node.parents[0]
    x_name, op = walk.name(x), node.op
    share, scaled = (f"{out}.grad", "") if op == "sum" else (f"{out}.grad / n", ", divided by n, the number averaged")
    return Rule(f"{out} = {x_name}.{op}()" if node.ndim == 0 else f"{out} = {x_name}.{op}(axis)",
                (f"{x_name}.grad += {share}  # copied to every element: {shape_text(node.shape)} -> "
                 f"{shape_text(x.shape)}",),
                (f"A {op}'s backward is a broadcast, the mirror of a broadcast's backward (a sum): every element "
                 f"that was added in gets the whole gradient{scaled}.",))


def _binary_rule(walk: Walk, node: Value) -> Rule:
    out, (symbol, left, right) = walk.name(node), BINARY_RULES[node.op]
    names = [walk.name(p) for p in node.parents]
    if len(names) == 2:
        a, b = names
        backward = (left.format(out=out, a=a, b=b), right.format(out=out, a=a, b=b))
        notes = ["The same node on both sides: both shares land in it and add up."] if a == b else []
        forward = f"{out} = {a} {symbol} {b}"
    else:
        x = names[0]
        backward = (WITH_A_CONSTANT[node.op].format(out=out, x=x),)
        notes = ["The other operand, `const`, is a constant (a plain number, say): it needs no gradient, so it "
                 "gets none."]
        forward = f"{out} = {x} {symbol} const" + ("" if node.op in COMMUTATIVE else f"  # or const {symbol} {x}")
    for parent, name in zip(node.parents, names):
        if parent.shape != node.shape:
            axes = summed_axes(node.shape, parent.shape)
            notes.append(f"`{name}` {shape_text(parent.shape)} was broadcast to {shape_text(node.shape)}, so its "
                         f"share is summed back over axis {', '.join(map(str, axes))}: "
                         f"`{shape_text(node.shape)} -> {shape_text(parent.shape)}`.")
    return Rule(forward, backward, tuple(notes))


def _linear_operands(node: Value) -> dict:
    """{'x': ..., 'W': ..., 'b': ...} among the parents of a `linear` node (a constant x is not one)."""
    if len(node.parents) == 3:
        return dict(zip("xWb", node.parents))
    return {("b" if p.ndim == 1 else "W" if not p.parents else "x"): p for p in node.parents}


def _linear_rule(walk: Walk, node: Value) -> Rule:
    out, operands = walk.name(node), _linear_operands(node)
    x, w, b = (operands.get(k) for k in "xWb")
    x_name = walk.name(x) if x is not None else _constant_name(walk, node, "x")
    w_name, b_name = (walk.name(v) if v is not None else k for v, k in ((w, "W"), (b, "b")))
    batch, n_out = node.shape
    n_in = w.shape[1] if w is not None else x.shape[1]
    backward, notes = [], []
    if w is not None:
        backward.append(f"{w_name}.grad += {out}.grad.T @ {x_name}  # {shape_text((n_out, batch))} @ "
                        f"{shape_text((batch, n_in))} -> {shape_text(w.shape)}")
    if b is not None:
        backward.append(f"{b_name}.grad += {out}.grad.sum(axis=0)  # {shape_text(node.shape)} -> "
                        f"{shape_text(b.shape)}")
        notes.append(f"`{b_name}` was added to every one of the {batch} rows (broadcast), so its share is "
                     f"`{out}.grad` summed over the batch axis, `{shape_text(node.shape)} -> {shape_text(b.shape)}`: "
                     "the broadcasting fix this engine exists for.")
    if x is not None:
        backward.append(f"{x_name}.grad += {out}.grad @ {w_name}  # {shape_text(node.shape)} @ "
                        f"{shape_text((n_out, n_in))} -> {shape_text(x.shape)}")
    else:
        notes.append(f"`{x_name}` is a constant (`requires_grad=False`): its {shape_text((batch, n_in))} gradient "
                     "is never computed.")
    return Rule(f"{out} = {x_name} @ {w_name}.T + {b_name}", tuple(backward), tuple(notes))


def _bce_rule(walk: Walk, node: Value) -> Rule:
    out, z = walk.name(node), node.parents[0]
    z_name, y = walk.name(z), _constant_name(walk, node, "y")
    m = z.shape[0] if z.ndim else 1
    return Rule(f"{out} = mean(softplus({z_name}) - {y} * {z_name})  # binary cross-entropy, from the logits "
                f"{z_name} (the scores before the sigmoid)",
                (f"{z_name}.grad += {out}.grad * (sigmoid({z_name}) - {y}) / {m}",),
                (f"BCE is binary cross-entropy, -[y log p + (1 - y) log(1 - p)] averaged over the images, with "
                 f"p = sigmoid({z_name}) = P(cat). Written with the logit {z_name} (the score before the sigmoid), "
                 "softplus(z) = log(1 + e^z), it is the same number and never takes log(0).",
                 f"Each of the {m} images sends back its P(cat) minus its label: negative for a cat (its logit "
                 "should rise), positive for a non-cat, near zero for an image the model already gets right "
                 "with confidence.",))


def _leaf_rule(walk: Walk, node: Value) -> Rule:
    name, root = walk.name(node), walk.name(walk.loss)
    if walk.leaf_word == "parameter":
        optimizer = OPTIMIZERS[walk.optimizer]
        end = f"the optimizer's update will use it ({optimizer.label}: {optimizer.update_rule.format(w=name)})."
    else:
        end = f"it says how {root} moves when `{name}` does."
    return Rule(f"{name}  # a {walk.leaf_word}: no op made it",
                notes=(f"Nothing to pass on: `{name}` is a {walk.leaf_word}, made by no op. Its gradient is final, "
                       f"and {end}",))


def forward_code(walk: Walk) -> str:
    """The forward pass as code, one line per op, from the rules (what the graph computes)."""
    lines = [rule(walk, node).forward for node in reversed(walk.order) if node.op]
    return "\n".join(lines + [f"{walk.name(walk.loss)}.backward()  # the walk below, one node per press"])


# --- pictures of a gradient -----------------------------------------------------------------------

HEATMAP_WIDTH, HEATMAP_MIN_HEIGHT, MAX_CELL = 600, 120, 40  # px


def diverging_rgb(values, limit: float) -> np.ndarray:
    """uint8 RGB of `values` on a symmetric scale: -limit blue, 0 white, +limit red (beyond: clipped)."""
    t = np.clip(np.asarray(values, dtype=float) / (limit or 1.0), -1, 1)[..., None]
    zero, pos, neg = (np.array(c, dtype=float) for c in (ZERO_RGB, POSITIVE_RGB, NEGATIVE_RGB))
    rgb = np.where(t >= 0, zero + t * (pos - zero), zero - t * (neg - zero))
    return np.round(rgb).astype(np.uint8)


def heatmap(values: np.ndarray, limit: float) -> np.ndarray:
    """A 2-D array as an image about HEATMAP_WIDTH px wide: at least HEATMAP_MIN_HEIGHT px tall, cells at
    most MAX_CELL px."""
    rows, columns = values.shape
    width = max(1, min(MAX_CELL, HEATMAP_WIDTH // columns))
    height = max(width, min(MAX_CELL, -(-HEATMAP_MIN_HEIGHT // rows)))
    return upscale(diverging_rgb(values, limit), height, width)


def image_rows(values: np.ndarray) -> tuple[list[np.ndarray], float]:
    """Each row of a (units, 12288) array as a 64x64 image, its three colour channels summed, all on one
    scale: (the images, the largest |sum|, drawn as full colour)."""
    images = values.reshape(len(values), *IMAGE_SHAPE).sum(axis=-1)
    limit = float(np.abs(images).max())  # of the sums: the entries' own largest |value| would saturate them
    return [upscale(diverging_rgb(image, limit)) for image in images], limit  # 64 px shown at 128, as the tiles


def bars_chart(values: np.ndarray, axis_title: str, height: int = 160) -> tuple[dict, dict]:
    """(data, Vega-Lite spec): one bar per value, red above zero and blue below."""
    colours = ["#%02x%02x%02x" % (POSITIVE_RGB if v >= 0 else NEGATIVE_RGB) for v in values]
    data = {axis_title: list(range(1, len(values) + 1)), "gradient": [float(v) for v in values], "colour": colours}
    spec = {
        "mark": {"type": "bar", "tooltip": True},
        "encoding": {
            "x": {"field": axis_title, "type": "ordinal", "axis": {"labelOverlap": True, "labelAngle": 0}},
            "y": {"field": "gradient", "type": "quantitative", "axis": {"format": ".2g"}},
            "color": {"field": "colour", "type": "nominal", "scale": None, "legend": None},
        },
        "height": height,
    }
    return data, spec


@dataclass
class Picture:
    """A gradient drawn: 'tiles' (one image per row), 'heatmap' (one image) or 'bars' (a chart)."""

    kind: str
    caption: str  # what the picture shows and its colour scale (Markdown)
    images: tuple = ()  # uint8 RGB arrays
    captions: tuple = ()
    chart: tuple | None = None  # (data, spec) for bars
    png: tuple = field(init=False)  # the images as PNG, encoded once: a redraw of the same step reuses them

    def __post_init__(self):
        self.png = tuple(png_bytes(image) for image in self.images)


def _axes_of(walk: Walk, node: Value) -> tuple[str, str]:
    """What one row and one column of a node's gradient stand for (a 1-D gradient: one unit each)."""
    if node.ndim == 1:
        return "unit", "unit"
    if node.op and walk.batch and node.shape[0] == walk.batch:
        return "training image", "unit"
    if not node.op and walk.leaf_word == "parameter":
        return "unit", "input"
    return "row", "column"


def _colour_scale(limit: float, bars: bool = False) -> str:
    return ("Red: raising that number raises the loss; blue: lowers it (the update moves against it). "
            + (f"The longest bar is ±{limit:.2g}." if bars else f"White is 0, full colour ±{limit:.2g}."))


LOGITS_BARS = (" The long bars are the images the model gets most wrong: blue, a cat it scores too low; red, a "
               "non-cat it scores too high. Images it already gets right with confidence are near 0.")


def images_holding_half(grad: np.ndarray) -> int:
    """How many rows (training images) of `grad` hold half of its squared size, the largest first."""
    shares = np.sort(np.einsum("ij,ij->i", grad, grad))[::-1]
    return int(np.searchsorted(np.cumsum(shares), shares.sum() / 2)) + 1


def few_images_note(walk: Walk, grad: np.ndarray, row: str) -> str:
    """Why a gradient picture of a trained network is mostly white, when few images carry its gradient: "" if not."""
    if walk.loss.op != "bce_with_logits" or row != "training image" or not grad.any():
        return ""
    few, images = images_holding_half(grad), len(grad)
    if few > images // 10:
        return ""
    return (f" Half of this gradient (by its squared size) comes from {few} of the {images} images: each image's "
            "share starts at the loss as its error, P(cat) − label, so the images the model already gets right "
            "pass almost nothing back and stay near white.")


def _feeds_the_bce(walk: Walk, node: Value) -> bool:
    """Whether `node` holds the logits the loss is BCE of: its gradient is (P(cat) - label) / images, per image."""
    return walk.loss.op == "bce_with_logits" and node in walk.loss.parents


def picture(walk: Walk, node: Value) -> Picture | None:
    """The gradient that arrived at `node`, drawn; None where its numbers say it all (or for 3-D and up)."""
    grad, name = node.grad, walk.name(node)
    if grad.size <= MAX_NUMBERS or grad.ndim > 2:
        return None
    row, column = _axes_of(walk, node)
    if grad.ndim == 2 and grad.shape[1] == INPUT_SIZE:
        images, limit = image_rows(grad)
        blank = [str(i) for i, g in enumerate(grad, start=1) if not g.any()]
        rows, them = (f"{row}s", "them") if len(blank) > 1 else (row, "it")
        why = "" if not blank else (f" {rows.capitalize()} {', '.join(blank)}: all zero, no gradient reaches {them} "
                                    f"({NO_GRADIENT_WHY}).")
        return Picture("tiles", f"`{name}.grad`, one image per {row}: its {INPUT_SIZE:,} numbers as a "
                       f"{IMAGE_SHAPE[0]}×{IMAGE_SHAPE[1]} picture, the three colour channels summed. "
                       + _colour_scale(limit) + " Inside the network draws minus this gradient, in colour: the way "
                       "the weights move." + why,
                       tuple(images), tuple(f"{row} {i}" for i in range(1, len(grad) + 1)))
    limit = float(np.abs(grad).max())
    if grad.ndim == 1 or 1 in grad.shape:
        axis = column if grad.ndim == 2 and grad.shape[0] == 1 else row
        return Picture("bars", f"`{name}.grad`, one bar per {axis}. " + _colour_scale(limit, bars=True)
                       + (LOGITS_BARS if _feeds_the_bce(walk, node) else ""), chart=bars_chart(grad.reshape(-1), axis))
    scale = _colour_scale(limit) + few_images_note(walk, grad, row)
    if grad.shape[0] > grad.shape[1]:  # the long side across the page
        return Picture("heatmap", f"`{name}.grad` {shape_text(grad.shape)}, transposed to fit: one column per "
                       f"{row}, one row per {column}. " + scale, (heatmap(grad.T, limit),))
    return Picture("heatmap", f"`{name}.grad` {shape_text(grad.shape)}: one row per {row}, one column per "
                   f"{column}. " + scale, (heatmap(grad, limit),))


# --- what happens at the current node -------------------------------------------------------------


@dataclass(frozen=True)
class Detail:
    """The current node, explained: its rule, the gradient that arrived, where it went, a picture."""

    step: str  # "Step 3 of 16"
    node: str  # Markdown: the node's name and its op ("`h3`, `relu`")
    rule: Rule
    gradient: str  # Markdown
    passed: tuple  # Markdown, one per operand
    picture: Picture | None

    @property
    def title(self) -> str:
        return f"{self.step}: {self.node}"

    @property
    def passed_markdown(self) -> str:
        return "Passed on:\n" + "\n".join(f"- {line}" for line in self.passed) if self.passed else ""


def detail(walk: Walk) -> Detail | None:
    """What happened at the node visited last; None before the first step."""
    node = walk.current
    if node is None:
        return None
    name, root = walk.name(node), walk.name(walk.loss)
    what = f"`{node.op}`" if node.op else f"a {walk.leaf_word}"
    if walk.numbers or node.size == 1:
        gradient = f"`{name}.grad` = ∂{root}/∂{name} = **{format_number(node.grad)}**"
    else:
        gradient = (f"`{name}.grad` = ∂{root}/∂{name}: shape {shape_text(node.shape)}, "
                    f"norm **{np.linalg.norm(node.grad):.4g}** (its size: √ of the sum of the squares)")
    if node is walk.loss:
        gradient += ": the seed, where backward starts"
    else:
        gradient += ", complete: every node that used it has passed its share back"
    return Detail(f"Step {walk.done} of {walk.total}", f"`{name}`, {what}", rule(walk, node), gradient,
                  _passed(walk, node), picture(walk, node))


def _passed(walk: Walk, node: Value) -> tuple:
    """One Markdown line per operand that received a share at this step."""
    lines = []
    for parent in dict.fromkeys(node.parents):  # each operand once, in order
        name, share, edges = walk.name(parent), walk.received.get(parent), node.parents.count(parent)
        if share is None:
            continue
        times = "twice" if edges == 2 else f"{edges} times"
        in_all = f" in all, along {edges} edges (it is used {times} here: the shares add up)" if edges > 1 else ""
        if walk.numbers:
            text = (f"`{name}` receives {format_number(share)}{in_all}; `{name}.grad` is now "
                    f"{format_number(parent.grad)}")
        else:
            text = f"`{name}` {shape_text(parent.shape)} receives a share of norm {np.linalg.norm(share):.4g}{in_all}"
        lines.append(text)
    return tuple(lines)


# --- the examples ---------------------------------------------------------------------------------
# Each small example is a function whose body the page shows as its code: the names on the graph are
# its variable names (`locals()`), so what you read is exactly what ran.


def scalars():
    """Scalars, as micrograd draws them: every node holds one number."""
    a = Value(2.0)
    b = Value(-3.0)
    c = Value(10.0)
    e = a * b
    d = e + c
    f = Value(-2.0)
    L = d * f
    return L, locals()


def twice():
    """A node used twice. `b` sends its gradient to `a` along both edges, and the two shares add up: `a.grad`
    becomes 2, as it must (b = 2a). That is why backward adds (`+=`) into `.grad` instead of assigning it:
    an assignment would leave 1, the bug micrograd's README warns about."""
    a = Value(3.0)
    b = a + a
    return b, locals()


def broadcast():
    """Broadcasting: a vector plus a number, then times a column. Backward sums each share back to its
    operand's own shape, so `b` and `m` get gradients of their shapes, not of (2, 3)."""
    a = Value([1, 2, 3])
    b = a + 2  # the 2 is broadcast to [2, 2, 2]: a constant, it gets no gradient
    m = Value([[1], [10]])
    c = b * m  # (3,) times (2, 1): both broadcast to (2, 3)
    loss = c.sum()
    return loss, locals()


def micrograd_readme():
    """The example in micrograd's README, here on the vectorized engine: at the end `a.grad` is 138.8338 and
    `b.grad` 645.5773, as micrograd prints. The unnamed nodes are numbered t1, t2, ...; watch `a` and `b`
    collect shares from many nodes before their own turn comes."""
    a = Value(-4.0)
    b = Value(2.0)
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    return g, locals()


SMALL_EXAMPLES = {"scalars": scalars, "twice": twice, "broadcast": broadcast, "micrograd": micrograd_readme}
EXAMPLES = {  # the example picker: key -> label
    "network": "This network's training step",
    "scalars": "(a·b + c)·f",
    "twice": "b = a + a",
    "broadcast": "[1, 2, 3] + 2",
    "micrograd": "micrograd's README",
}
NETWORK = "network"


@dataclass(frozen=True)
class Example:
    """An example's walk, the code it comes from and a paragraph about it."""

    key: str
    code: str
    about: str  # Markdown
    walk: Walk
    pending: object | None = None  # the network's PendingStep (model.trainer), applied by Update


def example_source(function) -> str:
    """The body of an example function as its reader should see it: `return L, locals()` becomes
    `L.backward()`."""
    body = textwrap.dedent(inspect.getsource(function).split('"""', 2)[2]).strip().splitlines()
    root = body[-1].removeprefix("return ").split(",")[0]
    return "\n".join(body[:-1] + [f"{root}.backward()"])


def small_example(key: str) -> Example:
    function = SMALL_EXAMPLES[key]
    root, scope = function()
    names = {value: name for name, value in scope.items() if isinstance(value, Value)}
    about = " ".join(inspect.getdoc(function).split())
    return Example(key, example_source(function), about, Walk(root, names))


def network_names(loss: Value, linears: list) -> dict:
    """W1, b1, ... for the layers' parameters; z1 (linear), h1 (ReLU), ... for what they compute; loss."""
    names = {}
    for k, layer in enumerate(linears, start=1):
        names[layer.weight], names[layer.bias] = f"W{k}", f"b{k}"
    layer_of = {layer.weight: k for k, layer in enumerate(linears, start=1)}
    for node in loss.topological_order():
        if node.op == "linear":
            k = next(layer_of[p] for p in node.parents if p in layer_of)
            names[node] = f"z{k}"
        elif node.op == "relu" and node.parents[0] in names:
            names[node] = "h" + names[node.parents[0]][1:]
    names[loss] = "loss"
    return names


def network_example(training) -> Example | None:
    """One training step of this session's model, built by its Trainer; None without the data set."""
    pending = training.forward_step()
    if pending is None:
        return None
    trainer = pending.trainer
    linears = training.model.linears()
    names = network_names(pending.loss, linears)
    first = next(node for node in names if node.op == "linear" and linears[0].weight in node.parents)
    batch = trainer.x_train.shape[0]
    constants = (Constant("x", trainer.x_train.shape, first, "pixels, constant"),
                 Constant("y", trainer.y_train.shape, pending.loss, "labels, constant"))
    walk = Walk(pending.loss, names, constants, lock=training.lock, leaf_word="parameter", batch=batch,
                steps=pending.backward_steps, optimizer=training.optimizer)
    about = (f"One full-batch training step of your model at epoch {trainer.epoch:,} of this run, exactly as "
             f"**Play** takes it: the {batch} training images forward through {len(linears)} layers to the loss "
             f"(**{pending.loss.item():.6f}**), then backward through the graph's {walk.total} nodes. The pixels "
             "`x` and the labels `y` are constants: no gradient is ever computed for them.")
    return Example(NETWORK, forward_code(walk), about, walk, pending)


# --- the section's state in one session -----------------------------------------------------------


NEEDS_DATA = ("**This network's training step needs the catvnoncat data set**, which is not in this checkout: "
              "run `make data` and reload the page. The small examples work without it.")
WHILE_PLAYING = ("Training is running, so the weights change on every tick: **Pause** (under **Live training**) "
                 "to step through one training step of the weights you stop at. The small examples work meanwhile.")
STALE = ("The weights have changed since this forward pass (training ran), so its gradients belong to weights "
         "that no longer exist. Press **Restart** to build the forward pass from the current weights.")


@dataclass(frozen=True)
class SectionView:
    """Everything the section draws, ready-made."""

    example: Example | None  # None: the network without the data set
    message: str | None  # Markdown, shown instead of (or above) the graph
    notice: tuple | None  # ("success" | "info" | "warning", Markdown) from the last press
    can_step: bool
    can_update: bool
    status: str
    progress: float
    dot: str | None
    graph_width: int | str  # px for a small graph, "stretch" (the column's width) for a big one
    order: str
    detail: Detail | None
    done: str | None = None  # Markdown, once every node is visited
    order_note: str | None = None  # Markdown under the order, when it applies

    @property
    def graph_caption(self) -> str:
        return WHY_ORDER + (FULL_SCREEN if self.graph_width == "stretch" else "")

    @property
    def now(self) -> str:
        """The current node and what it just did, in one line beside the buttons (its full story is below the
        graph; a phone draws that story here instead)."""
        if self.detail is None:
            return ""
        backward = "; ".join(f"`{line.split('  #')[0]}`" for line in self.detail.rule.backward)  # code, no comments
        return f"Just visited: {self.detail.node} · " + (backward or "its gradient is final, nothing to pass on")


class Stepper:
    """The chosen example and its walk, built on first use and kept until the visitor asks for another.

    The network's walk belongs to the weights it was built from: when they change (Play, Step, Reset), a
    walk nobody has stepped yet is rebuilt on the next look, and a stepped one is frozen until Restart."""

    def __init__(self, example: str):
        self.example = example
        self.opened: Example | None = None
        self.notice: tuple | None = None
        self._detail: tuple = (None, -1, None)  # (walk, step, Detail): pictures are drawn once per step

    def open(self, training) -> Example | None:
        """The chosen example, built if it is not yet (or is an untouched network walk of old weights)."""
        opened = self.opened
        rebuild = opened is None or opened.key != self.example or (
            self.stale(training) and opened.walk.done == 0 and not training.playing)
        if rebuild:
            self.opened = network_example(training) if self.example == NETWORK else small_example(self.example)
        return self.opened

    def stale(self, training) -> bool:
        opened = self.opened
        return opened is not None and opened.pending is not None and not training.is_current(opened.pending)

    def blocked(self, training) -> str | None:
        """Why the network's walk cannot go on now (None if it can, and for the small examples)."""
        if self.example != NETWORK:
            return None
        if not training.can_train:
            return NEEDS_DATA
        if training.playing:
            return WHILE_PLAYING
        return STALE if self.stale(training) else None

    # ---------------------------------------------------------------- the buttons
    def choose(self, example: str, training) -> None:
        self.example, self.opened, self.notice = example, None, None
        self.open(training)

    def restart(self, training) -> None:
        self.opened, self.notice = None, None
        self.open(training)

    def back(self, training) -> None:
        """One backward step (bp_back)."""
        if self._usable(training):
            self.opened.walk.step()

    def finish(self, training) -> None:
        """The rest of the backward pass (bp_finish)."""
        if self._usable(training):
            self.opened.walk.finish()

    def update(self, training) -> None:
        """Finish the walk, then apply the optimizer step with its gradients: one epoch (bp_update)."""
        if not self._usable(training) or self.opened.pending is None:
            return
        self.opened.walk.finish()
        before = self.opened.pending.loss.item()
        if not training.apply_step(self.opened.pending):
            self.notice = ("warning", STALE)
            return
        self.restart(training)
        if training.warning:
            self.notice = ("warning", training.warning)
        else:
            after = training.current.train_loss
            # up, not down: the pretrained weights sit at the bottom of a narrow valley, and at the course's rate
            # full-batch steps hop across it (the hand-written reference's own steps go 0.08841, 0.08894, 0.09096)
            overshoot = (" — up, not down: the step overshot the bottom of the valley the weights sit in, as steps "
                         "this size do near a minimum; from a fresh start the same steps bring the loss down"
                         if after > before else "")
            kind = "info" if overshoot else "success"  # a step that worked as it should, but no success to cheer
            self.notice = (kind, f"**Epoch {training.epoch:,}.** The optimizer moved every weight a step "
                           f"against its gradient: the training loss went from {before:.6f} to {after:.6f}"
                           f"{overshoot}. Below is the next step's forward pass.")

    def _usable(self, training) -> bool:
        """Whether a press can act on this session's walk; the last press's notice goes either way."""
        self.notice = None
        return self.open(training) is not None and not self.blocked(training)

    # ---------------------------------------------------------------- reading
    def view(self, training, direction: str = "LR") -> SectionView:
        """What to draw; `direction` "LR" (left to right) or "TB" (top to bottom)."""
        opened, message = self.open(training), self.blocked(training)
        if opened is None:
            return SectionView(example=None, message=message, notice=self.notice, can_step=False, can_update=False,
                               status="", progress=0.0, dot=None, graph_width="content", order="", detail=None)
        walk = opened.walk
        ready = message is None
        return SectionView(example=opened, message=message, notice=self.notice,
                           can_step=ready and not walk.finished, can_update=ready and opened.pending is not None,
                           status=walk.status, progress=walk.done / walk.total,
                           dot=graph_dot(walk, direction), graph_width=graph_width(walk, direction),
                           order=order_markdown(walk), detail=self.current_detail(), done=done_note(opened),
                           order_note=LEAVES_NOTE if leaves_last(walk) else None)

    def current_detail(self) -> Detail | None:
        """`detail()` of the current walk, computed once per step (its pictures are the costly part)."""
        walk = self.opened.walk if self.opened else None
        cached_walk, cached_step, cached = self._detail
        if cached_walk is not walk or cached_step != (walk.done if walk else -1):
            cached = detail(walk) if walk else None
            self._detail = (walk, walk.done if walk else -1, cached)
        return cached


def done_note(example: Example) -> str | None:
    """What the end of the walk means, once it is there."""
    walk = example.walk
    if not walk.finished:
        return None
    if example.pending is not None:
        return ("**Backward is done:** every parameter holds its gradient, bit for bit what `loss.backward()` "
                "leaves. **Update the weights** lets the optimizer step with them: one epoch of your run.")
    leaves = ", ".join(f"`{walk.name(n)}.grad` = {format_number(n.grad)}" for n in reversed(walk.order) if not n.op)
    return f"**Backward is done:** every node holds its gradient. The leaves: {leaves}."


def stepper_for(state, training) -> Stepper:
    """This visitor's stepper, kept in `state` (the page's session state), with the picker's default:
    the network when there is data to train on, else the scalar example."""
    state.setdefault("bp_example", NETWORK if training.can_train else "scalars")
    if "backprop" not in state:
        state["backprop"] = Stepper(state["bp_example"])
    return state["backprop"]


INTRO = ("The forward pass builds a graph: every operation returns a `Value` that remembers its operands. "
         "`loss.backward()` then visits the nodes in reverse topological order and, at each one, applies its op's "
         "local rule (the chain rule, one node at a time) to pass the gradient on to the operands. Walk it here "
         "one node per press: through your network's real training step, or through a small example whose nodes "
         "show their numbers.")
