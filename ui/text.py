"""The page's words: number formats, Markdown escaping for strangers' text, and the explainer."""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from model.cat import cat_mlp
from model.functional import bce_with_logits
from model.nn import Sequential
from model.optim import OPTIMIZERS, format_lr  # the page's text writes rates as the Trainer's messages do
from model.weights import DEFAULT_DTYPE
from ui.settings import DEFAULT_LRS, DEFAULT_SEED, EVAL_EVERY, LR_CHOICES, OPTIMIZER_LABELS, PRETRAINED

# Why a unit's gradient can be all zero: said under the W1 gradient tiles of See backprop and of Inside the network
NO_GRADIENT_WHY = "on every training image, the unit's own ReLU or every path above it is off"

LR_HELP = (f"Log scale, from {format_lr(LR_CHOICES[0])} to {format_lr(LR_CHOICES[-1])}. A change applies from the "
           f"next chunk of training, even while playing. SGD starts at the course's {format_lr(DEFAULT_LRS['sgd'])}; "
           f"Adam, which moves every weight by about this much at each step, at {format_lr(DEFAULT_LRS['adam'])}.")


def lr_switched(optimizer: str, lr: float) -> str:
    """The notice when a switch of optimizer brings that optimizer's own learning rate."""
    return f"Learning rate set to {format_lr(lr)}, where {OPTIMIZER_LABELS[optimizer]} trains this network."


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$=&\"'@^%/,;?])")
# GitHub's literal autolinks are found in the text after escapes are undone, so escaping cannot stop them:
# an invisible word joiner after "https", "www" or "@" breaks the patterns (https?://, www., x@y.z) instead.
_AUTOLINK_START = re.compile(r"(https?(?=:)|www(?=\.)|@)", re.IGNORECASE)
WORD_JOINER = "\u2060"
NBSP = "\u00a0"  # a space no line breaks at


def and_list(words: list, conjunction: str = "and") -> str:
    """"a", "a and b", "a, b and c" (or "a, b or c")."""
    return f"{', '.join(words[:-1])} {conjunction} {words[-1]}" if len(words) > 1 else "".join(words)


def escape_markdown(text: str) -> str:
    """Text that Streamlit's Markdown shows literally: no links, no HTML, no emphasis, no directives.

    Every ASCII punctuation character that Markdown, GitHub's extensions (autolinks, tables, strike)
    or Streamlit's own directives (:red[...], :material/icon:, $math$) could act on is backslash-escaped
    (CommonMark shows an escaped punctuation character as itself), line breaks become spaces, and a
    `WORD_JOINER` keeps web and mail addresses from turning into links.
    """
    return _escape(_AUTOLINK_START.sub(r"\1" + WORD_JOINER, str(text)))


def escape_markdown_keep_code(text: str) -> str:
    """Like `escape_markdown`, but for our own messages: `code spans` stay code (a command to run) and
    web addresses stay links (the data set's mirrors, to download by hand), clean to copy."""
    parts = re.split(r"(`[^`\r\n]+`)", str(text))
    return "".join(part if part.startswith("`") and part.endswith("`") and len(part) > 1
                   else _escape(part) for part in parts)


def _escape(text: str) -> str:
    """Every Markdown-active ASCII character backslash-escaped, and line breaks as spaces."""
    text = re.sub(r"[\r\n\t\x00-\x1f\x7f]+", " ", text)
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


@dataclass(frozen=True)
class GraphSummary:
    """The computation graph of one training step, as the engine builds it."""

    nodes: int
    input_size: int  # pixel values per image
    ops: dict  # op name -> count, in order of first appearance; "parameter" for the leaves
    parameters: int  # number of weights and biases


def layer_sizes(model: Sequential) -> str:
    """'12288 → 20 → 7 → 5 → 1': the widths of a model's layers."""
    linears = model.linears()
    return " → ".join(str(n) for n in [linears[0].n_in, *(layer.n_out for layer in linears)]) if linears else ""


def parameter_count(model: Sequential) -> int:
    return int(sum(p.data.size for p in model.parameters()))


def graph_summary(model: Sequential | None = None, batch: int = 2) -> GraphSummary:
    """Build one step's graph (forward to the loss, as the Trainer does) and count its nodes by op."""
    model = model if model is not None else cat_mlp(seed=DEFAULT_SEED)
    n_in = model.linears()[0].n_in
    x = np.zeros((batch, n_in))
    y = np.zeros((batch, 1))
    loss = bce_with_logits(model[:-1](x), y)
    ops: dict[str, int] = {}
    order = loss.topological_order()  # the order backward() walks (reversed)
    for node in order:
        name = node.op or "parameter"
        ops[name] = ops.get(name, 0) + 1
    return GraphSummary(nodes=len(order), input_size=n_in, ops=ops,
                        parameters=parameter_count(model))


def describe_start(training, phone: bool = False) -> str:
    """One line on where this run started and how it trains, for under the chart; on a `phone`, where the sidebar
    hides."""
    if training.start == PRETRAINED:
        epochs = training.resources.base_epochs
        start = "the pretrained weights" + (f" (already trained {epochs:,} epochs)" if epochs else "")
    else:
        kind = "reference " if training.seed == DEFAULT_SEED else ""  # the course's draw
        start = f"a fresh {kind}initialization (seed {training.seed})"
    text = (f"This run started from {start} and trains with {OPTIMIZER_LABELS[training.optimizer]} at learning "
            f"rate {format_lr(training.lr)}.")
    if training.start == PRETRAINED and training.can_train:
        text += (" More training mostly fits the training images ever more tightly, so the test numbers wobble: to "
                 "watch the network learn from scratch, pick **Fresh init** in the sidebar"
                 + (" (» at the top left)." if phone else "."))
    elif training.can_train:
        text += majority_note(training.resources) + precision_note(training)
    return text


def majority_note(resources) -> str:
    """Why a fresh run's test accuracy can fall first: answering the commoner class every time already scores."""
    labels = np.asarray(resources.split("test").labels).reshape(-1)
    cats = int(labels.sum())
    common, count = (1, cats) if 2 * cats >= len(labels) else (0, len(labels) - cats)
    name = resources.classes[common]
    return (f" Answering \"{name}\" to every image already scores {count / len(labels):.0%} on the test set ({count} "
            f"of its {len(labels)} images are {name}s), so test accuracy may dip below that before it climbs past it.")


def precision_note(training) -> str:
    """For the pretrained weights' own recipe: why this run's numbers drift from theirs ('' for any other run)."""
    resources, dtype = training.resources, np.dtype(training.dtype).name
    meta = resources.meta
    theirs = meta.get("dtype", DEFAULT_DTYPE)
    recipe = (training.seed, training.optimizer, training.lr)
    if not meta or recipe != (meta.get("seed"), meta.get("optimizer"), meta.get("lr")) or theirs == dtype:
        return ""
    epochs = f" for {resources.base_epochs:,} epochs" if resources.base_epochs else ""
    return (f" The pretrained weights are this recipe run{epochs} in {theirs}; the page trains in {dtype}, for speed, "
            "so its losses drift a little from theirs.")


def explain_markdown(summary: GraphSummary, optimizer: str, n_train: int, n_test: int, tick_seconds: float) -> str:
    """Markdown for the explainer: forward builds the graph, backward walks it, the optimizer steps."""
    linears, relus = summary.ops.get("linear", 0), summary.ops.get("relu", 0)
    counts = ", ".join(f"{n} parameters (the leaves)" if op == "parameter" else f"{n} `{op}`"
                       for op, n in summary.ops.items())
    update = f"{OPTIMIZERS[optimizer].label} moves each weight {OPTIMIZERS[optimizer].update_rule.format(w='w')}."
    return f"""
While **Play** runs, the page trains in chunks of about {tick_seconds:g} s and redraws between them.
Each epoch inside a chunk is one step over all {n_train} training images:

1. **Forward pass builds the graph.** `model(x)` pushes the ({n_train}, {summary.input_size}) batch of pixels through
   {linears} linear layers and {relus} ReLUs; the loss is binary cross-entropy on the logits. Every operation
   returns a `Value` that remembers its operands and how to send a gradient back to them. One step's
   graph has **{summary.nodes} nodes**: {counts}. The pixels are constants: no gradient is computed for them.
2. **`loss.backward()` walks the graph in reverse topological order**: starting from d(loss)/d(loss) = 1,
   each node hands its gradient to its operands, so every one of the {summary.parameters:,} weights and
   biases ends up with its `.grad`.
3. **The optimizer steps.** {update} The graph is then dropped and freed.

Every {EVAL_EVERY} epochs the {n_test} test images go through the network too, without building a graph, to draw
the test curve. Training and test loss drifting apart is the model memorizing its {n_train} images.
""".strip()


# Test accuracy after the course's recipe (2500 epochs of full-batch SGD at lr 0.0075) from seeds 1, 2 and 3, as
# this page trains (model.trainer.Trainer, float32): 40, 37 and 39 of the 50 test images on an AMD EPYC, 38, 37 and
# 39 on an Intel Xeon, with the same NumPy and OpenBLAS and on one BLAS thread or two alike. A 2500-step run carries
# float32's last-bit differences into the result; in float64 seed 1 gives 40 on both (seed 2: 34 and 36, seed 3: 39).
SEED_CAPTION = ("A new seed draws new random starting weights and starts a fresh run. After the course's 2500 "
                "epochs, seeds 1 to 3 end between 74% and 80% test accuracy (the exact number can even differ "
                "from one computer to another, by rounding): the course's 80% is partly a lucky draw.")
