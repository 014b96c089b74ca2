"""What the live-training section shows: the status line, the metrics and the loss chart's Vega-Lite spec."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from model.trainer import Record
from ui.scheduler import queue_text
from ui.settings import STEP_EPOCHS

CHART_POINTS = 300  # the loss chart never draws more points than this
CHART_REFRESH = 0.4  # seconds between loss-chart redraws while training (metrics redraw after every tick)


def thin(records: list, max_points: int = CHART_POINTS) -> list:
    """At most `max_points` records, evenly spread, always keeping the first and the last."""
    n = len(records)
    if n <= max_points:
        return list(records)
    if max_points < 2:
        return [records[-1]] if max_points == 1 else []
    keep = np.unique(np.linspace(0, n - 1, max_points).round().astype(int))
    return [records[i] for i in keep]


def chart_data(records: list, max_points: int = CHART_POINTS, rolled_back: list = ()) -> dict[str, list]:
    """Columns for a line chart of train and test loss against the epoch; with `rolled_back` (what a breakdown
    undid, ending with the broken weights), their training losses, continuing from the last kept record."""
    rows = thin(records, max_points)
    undone = [records[-1], *rolled_back] if rolled_back and records else []
    return {
        "epoch": [r.epoch for r in rows],
        "train loss": [r.train_loss for r in rows],
        "test loss": [r.test_loss for r in rows],
        "undone epoch": [r.epoch for r in undone],
        "undone loss": [r.train_loss for r in undone],
    }


TRAIN_COLOR, TEST_COLOR = "#D9652B", "#3B6EA8"
CHART_HEIGHT = 300  # px, the loss chart's whole height: Streamlit fits the axes and the legend inside it
UNDONE_HEADROOM = 2  # with a breakdown drawn, the y axis ends at this many times the highest kept loss


KEPT = {"filter": "datum.set != 'undone'"}  # the curves of the weights the run kept


def loss_chart(chart: dict[str, list], target: int, height: int = CHART_HEIGHT) -> tuple[dict, dict]:
    """(data, Vega-Lite spec) for the loss chart: train and test curves, a dot on the latest value of
    each, and an x axis fixed from 0 to the target so the chart does not rescale while it grows."""
    epochs, undone_epochs = chart.get("epoch", []), chart.get("undone epoch", [])
    kept = list(chart.get("train loss", [])) + list(chart.get("test loss", []))
    x_max = max([target, *epochs, *undone_epochs]) if epochs else target
    y_scale = {"zero": True}
    undone, label_layers = [], []
    if undone_epochs:  # a breakdown shoots off the top: the axis stays on the kept curves, the dashes leave it
        top = UNDONE_HEADROOM * max([loss for loss in kept if math.isfinite(loss)], default=1.0)
        y_scale = {"domain": [0, top], "nice": False}
        undone = [loss if math.isfinite(loss) and loss <= top else 2 * top for loss in chart["undone loss"]]
        # the peak's value written where its dashes leave the chart: near epoch 0 they are one short vertical stroke
        label_layers = [{"data": {"values": [{"epoch": epoch, "loss": top, "label": text}]},
                         "mark": {"type": "text", "baseline": "top", "dy": 4, "fontSize": 12, "fontWeight": "bold",
                                  **({"align": "right", "dx": -6} if epoch > x_max / 2 else
                                     {"align": "left", "dx": 6})},
                         "encoding": {"text": {"field": "label"}, "color": {"value": TRAIN_COLOR}, "tooltip": None}}
                        for epoch, text in off_the_top(undone_epochs, chart["undone loss"], top)]
    data = {
        "epoch": list(epochs) * 2 + list(undone_epochs),
        "loss": kept + undone,
        "set": ["train"] * len(epochs) + ["test"] * len(epochs) + ["undone"] * len(undone_epochs),
    }
    encoding = {
        "x": {"field": "epoch", "type": "quantitative", "title": "epoch (this run)",
              "scale": {"domain": [0, max(1, x_max)], "nice": False}, "axis": {"format": ",d"}},
        "y": {"field": "loss", "type": "quantitative", "title": "loss", "scale": y_scale},
        "color": {"field": "set", "type": "nominal", "title": None,
                  "scale": {"domain": ["train", "test"], "range": [TRAIN_COLOR, TEST_COLOR]},
                  "legend": {"orient": "top", "direction": "horizontal",
                             "labelExpr": "datum.label + ' loss'"}},
        "tooltip": [{"field": "set"}, {"field": "epoch", "format": ",d"}, {"field": "loss", "format": ".4f"}],
    }
    spec = {
        "height": height,
        "padding": {"right": 14},  # room for the last epoch label: the plot otherwise ends at the page's edge
        "encoding": encoding,
        "layer": [
            {"transform": [KEPT], "mark": {"type": "line", "strokeWidth": 2.5, "interpolate": "monotone"}},
            {"transform": [KEPT, {"joinaggregate": [{"op": "max", "field": "epoch", "as": "last"}]},
                           {"filter": "datum.epoch == datum.last"}],
             "mark": {"type": "point", "filled": True, "size": 70, "opacity": 1}},
            # what a breakdown undid: the training loss dashed and faded, as the layer-health chart draws it
            {"transform": [{"filter": "datum.set == 'undone'"}],
             "mark": {"type": "line", "strokeWidth": 2, "strokeDash": [6, 4], "opacity": 0.6, "clip": True},
             "encoding": {"color": {"value": TRAIN_COLOR}}},
            *label_layers,
        ],
    }
    return data, spec


def off_the_top(epochs: list, losses: list, top: float) -> list[tuple[int, str]]:
    """[(epoch, "↑ loss 12.91, undone")] for the highest undone training loss if it is above the axis's `top`,
    else []."""
    worst = max(range(len(losses)), key=lambda i: math.inf if math.isnan(losses[i]) else losses[i])
    loss = losses[worst]
    if loss <= top:
        return []
    value = "not a number" if math.isnan(loss) else "∞" if math.isinf(loss) else f"{loss:,.4g}"
    return [(epochs[worst], f"↑ loss {value}, undone")]


@dataclass(frozen=True)
class Metric:
    """One number on the page, formatted: label, value, delta (None: no delta shown) and its colouring."""

    label: str
    value: str
    delta: str | None = None
    delta_color: str = "normal"  # "inverse" when lower is better, "off" for a plain grey note
    help: str | None = None


def _change(x: float, fmt: str, better: str) -> tuple[str, str]:
    """(the change as signed text, its colouring): a change that rounds to zero reads ±0 in grey, not a green +0."""
    text = format(x, fmt)
    if float(text) == 0:
        return "±" + text.lstrip("-"), "off"
    return (text if text.startswith("-") else "+" + text), better


def metrics(current: Record, initial: Record | None, base_epochs: int = 0, target: int | None = None,
            n_train: int = 0, n_test: int = 0) -> list[Metric]:
    """Epoch (out of `target`), losses and accuracies of `current`, with deltas since the run began."""
    since = initial is not None and current.epoch != initial.epoch
    epoch_help = ("Epochs trained in this run" + (f", on top of the {base_epochs:,} of the pretrained "
                                                  "weights" if base_epochs else "") + ".")

    def loss(label, now, then, what):
        delta, colour = _change(now - then, ".4f", "inverse") if since else (None, "inverse")
        return Metric(label, f"{now:.4f}", delta, colour,
                      f"Binary cross-entropy on the {what}; the delta is the change since the run began.")

    def acc(label, now, then, what):
        delta, colour = _change(100 * (now - then), ".1f", "normal") if since else (None, "normal")
        return Metric(label, f"{100 * now:.1f}%", None if delta is None else delta + " pts", colour,
                      f"Share of the {what} classified correctly (P(cat) > 0.5).")

    start = initial or current
    of_target = None if not target else f"of {target:,}" if current.epoch <= target else f"target {target:,}"
    return [
        Metric("Epoch", f"{current.epoch:,}", of_target, "off", epoch_help),
        loss("Train loss", current.train_loss, start.train_loss, f"{n_train} training images"),
        loss("Test loss", current.test_loss, start.test_loss, f"{n_test} test images"),
        acc("Train accuracy", current.train_acc, start.train_acc, f"{n_train} training images"),
        acc("Test accuracy", current.test_acc, start.test_acc, f"{n_test} test images"),
    ]


@dataclass(frozen=True)
class View:
    """Everything the live training section displays, computed in one go."""

    playing: bool
    progress: float  # 0..1 toward the target
    status: str  # one line: what is happening
    epochs_per_second: float | None
    metrics: list[Metric]
    chart: dict[str, list]
    warning: str | None
    play_enabled: bool
    pause_enabled: bool


def status_line(session) -> str:
    """One line: what the session is doing."""
    epoch, target = session.epoch, session.target
    if not session.can_train:
        return "Training needs the data set."
    if session.warning:
        return f"Stopped at epoch {epoch:,}: the warning below says why."
    if session.playing and session.queued_behind:
        return f"{queue_text(session.queued_behind)} Epoch {epoch:,} of {target:,}."
    if session.playing:
        return f"Training… epoch {epoch:,} of {target:,}"
    if session.finished:
        return f"Done: {epoch:,} epochs (target {target:,}). Raise the target to train on."
    if epoch == 0:
        return f"Ready: press Play to train {target:,} epochs, or Step for {STEP_EPOCHS}."
    if session.paused:
        return f"Paused at epoch {epoch:,} of {target:,}."
    # after a Step, the backprop stepper's update or a target reached and raised: nobody pressed Pause
    return f"At epoch {epoch:,} of {target:,}: press Play to train on, or Step for {STEP_EPOCHS} more."


def live_view(session, max_points: int = CHART_POINTS) -> View:
    """Everything the live-training section displays for `session`, computed in one go."""
    epoch, target, can_train = session.epoch, session.target, session.can_train
    sizes = session.resources.data_sizes
    return View(
        playing=session.playing,
        progress=min(1.0, epoch / target) if target > 0 else 1.0,
        status=status_line(session),
        epochs_per_second=session.meter.rate,
        metrics=metrics(session.current, session.initial, session.base_epochs, target, *sizes) if can_train else [],
        chart=chart_data(session.history, max_points, session.trainer.rolled_back) if can_train else {},
        warning=session.warning,
        play_enabled=can_train and not session.playing and not session.finished,
        pause_enabled=session.playing,
    )
