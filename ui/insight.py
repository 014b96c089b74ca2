"""Inside the network: the first layer's 20 units as pictures, "where the model looks" heatmaps, and the layer-health
chart. Streamlit-free: the page draws the PNG bytes, captions and Vega-Lite specs made here.

Every picture is made from a session's weights and kept under its `weights_version`; while the session plays it is
remade at most every `REFRESH` seconds, so the wire carries a new set of tiles only that often (and Streamlit serves
identical PNG bytes under the same URL, so a redraw of unchanged tiles sends no image at all).
"""
from __future__ import annotations

import functools
import time
from collections import OrderedDict
from dataclasses import dataclass, replace

import numpy as np

from model.cat import IMAGE_SHAPE, cat_mlp
from model.explain import saliency
from model.nn import Linear
from ui.gallery import TILE_SCALE, png_bytes, upscale
from ui.live import thin
from ui.settings import EVAL_EVERY, FRESH
from ui.text import NO_GRADIENT_WHY

REFRESH = 2.0  # seconds: while playing, the tiles, heatmaps and health chart are remade at most this often
GREY = 128  # a weight (or gradient) of 0 is drawn mid grey; +-the tile's largest |value| as 255 / 1
PATCH_RADIUS = 2  # the heatmap differentiates by brightening (2r+1) x (2r+1) patches: 5x5 pixels
TILE_VIEWS = {
    "learned": "What each unit learned",
    "weights": "Weights",
    "gradient": "Last step's gradient",
}


# --- colours --------------------------------------------------------------------------------------


def signed_rgb(values: np.ndarray) -> np.ndarray:
    """(tiles, h, w, 3) signed numbers -> uint8 RGB, each tile on its own symmetric scale: 0 is mid grey, the
    tile's largest |value| is full brightness (255) or full darkness (1) of that colour channel."""
    values = np.asarray(values, dtype=np.float64)
    scale = np.abs(values).reshape(len(values), -1).max(axis=1, initial=0.0)
    scale = np.where(scale > 0, scale, 1.0).reshape(-1, *[1] * (values.ndim - 1))  # all zeros: plain grey
    return np.rint(GREY + (GREY - 1) * values / scale).astype(np.uint8)


# A few stops of a black-purple-orange-yellow ramp (like matplotlib's "inferno"): dark = little, bright = much.
HEAT_STOPS = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], dtype=np.float64)


def heat_colors(t: np.ndarray) -> np.ndarray:
    """Numbers in [0, 1] -> uint8 RGB along HEAT_STOPS, linearly between neighbouring stops."""
    position = np.clip(np.asarray(t, dtype=np.float64), 0, 1) * (len(HEAT_STOPS) - 1)
    low = np.minimum(position.astype(int), len(HEAT_STOPS) - 2)
    blend = (position - low)[..., None]
    return np.rint(HEAT_STOPS[low] * (1 - blend) + HEAT_STOPS[low + 1] * blend).astype(np.uint8)


# --- the first layer as pictures ------------------------------------------------------------------


def first_layer(model) -> Linear:
    return model.linears()[0]


def unit_captions(units: int) -> list[str]:
    return [f"unit {i}" for i in range(1, units + 1)]


def weight_tiles(rows: np.ndarray, image_shape=IMAGE_SHAPE) -> np.ndarray:
    """Each row of a first-layer matrix (units, pixels) as an image on its own symmetric scale: (units, h, w, 3)."""
    rows = np.asarray(rows)
    return signed_rgb(rows.reshape(len(rows), *image_shape))


def tile_pngs(tiles: np.ndarray, scale: int = TILE_SCALE, colors: int = 256) -> list[bytes]:
    """One small PNG per tile, upscaled `scale` times (crisp pixels), with `colors` colours each: noise-like
    weights do not compress, and a palette keeps a tile of 64x64 weights to a few KB."""
    return [png_bytes(upscale(tile, scale), colors) for tile in tiles]


@functools.lru_cache(maxsize=8)
def initial_first_layer(seed: int, n_in: int, n_out: int) -> np.ndarray:
    """The first layer's weights as `cat_mlp(seed=seed)` draws them (it draws that layer first, so the sizes of
    the later layers do not matter). Shared and read-only."""
    weight = cat_mlp(dims=(n_in, n_out, 1), seed=seed).layers[0].weight.data
    weight.flags.writeable = False
    return weight


def start_seed(training) -> int | None:
    """The seed of the random initialization the session's weights grew from, when it is known: a fresh run's own,
    or the one the pretrained weight file names (files saved from a pretrained start do not know theirs)."""
    if training.start == FRESH:
        return training.seed
    meta = training.resources.meta
    seed = meta.get("seed")
    known = isinstance(seed, int) and not isinstance(seed, bool) and meta.get("start", FRESH) == FRESH
    return seed if known else None


@dataclass(frozen=True)
class FirstLayerView:
    """What the tiles show right now: one PNG per unit (none if there is nothing to show) and a note on it."""

    view: str
    pngs: list
    captions: list
    note: str

    @property
    def legend(self) -> str:
        """What grey, bright and dark mean in these tiles; nothing while there are none."""
        return TILE_LEGENDS[self.view] if self.pngs else ""


def first_layer_values(training, view: str) -> tuple[np.ndarray | None, str]:
    """(units, pixels) numbers for `view` and a sentence about them; None (and why) when there are none."""
    with training.lock:
        layer = first_layer(training.model)
        weight, grad, epoch = layer.weight.data.copy(), layer.weight.grad.copy(), training.epoch
        gradient_epoch = training.trainer.gradient_epoch if training.trainer else None
    epochs = training.base_epochs + epoch
    if view == "weights":
        if epochs == 0:
            return weight, "The weights as the random initialization drew them: noise, before any training."
        return weight, (f"The weights after {epochs:,} epochs of training: their random start (fine-grained noise) "
                        "plus what training added.")
    if view == "gradient":
        if not training.can_train:
            return None, "Training needs the data set, so there is no gradient to show."
        if not grad.any():
            return None, ("No gradient yet: the gradients appear after a training step (press Step or Play). A "
                          "step rolled back after a breakdown leaves none either.")
        step = (f"the step the backprop stepper walked (epoch {epoch:,} to {epoch + 1:,} of this run, not applied "
                "yet)" if gradient_epoch == epoch else f"the last step (epoch {epoch - 1:,} to {epoch:,} of this run)")
        return -grad, (f"Minus the gradient of {step}: the direction plain gradient descent moves each weight (See "
                       "backprop draws the gradient itself, in red and blue). An all-grey tile is a unit no gradient "
                       f"reaches ({NO_GRADIENT_WHY}).")
    seed = start_seed(training)
    if seed is None:
        return None, "The random start of these weights is unknown, so what training added cannot be shown."
    start = initial_first_layer(seed, layer.n_in, layer.n_out).astype(weight.dtype)
    learned = weight - start
    if not learned.any():
        return learned, ("Nothing learned yet: every tile is grey until a training step changes the weights (press "
                         "Step or Play; a step rolled back after a breakdown leaves them as they were).")
    return learned, (f"What {epochs:,} epochs of training added to each unit's weights: the weights minus their "
                     f"random start (seed {seed}), which is fine-grained noise that plain gradient descent never "
                     "removes.")


def first_layer_view(training, view: str) -> FirstLayerView:
    """The tiles for `view` ("learned", "weights" or "gradient") of the session's current weights."""
    if view not in TILE_VIEWS:
        raise ValueError(f"view must be one of {sorted(TILE_VIEWS)}, got {view!r}")
    values, note = first_layer_values(training, view)
    if values is None:
        return FirstLayerView(view, [], [], note)
    return FirstLayerView(view, tile_pngs(weight_tiles(values)), unit_captions(len(values)), note)


# --- where the model looks ------------------------------------------------------------------------


def patch_sums(values: np.ndarray, radius: int = PATCH_RADIUS) -> np.ndarray:
    """Each pixel's sum over the (2r+1) x (2r+1) patch around it (zeros beyond the border), for an (h, w) array."""
    h, w = values.shape
    padded = np.pad(values, radius)
    size = 2 * radius + 1
    return sum(padded[i:i + h, j:j + w] for i in range(size) for j in range(size))


def looks_at(gradient: np.ndarray, image_shape=IMAGE_SHAPE, radius: int = PATCH_RADIUS) -> np.ndarray:
    """(h, w) in [0, 1]: how much brightening the patch around each pixel would move the logit, |d logit / d patch|
    (the gradient summed over the patch's pixels and channels), divided by its largest value in the image.

    Per-pixel gradients of this network are speckled noise (its first layer keeps the random start's fine grain);
    summed over a small patch, that noise cancels and the regions the verdict depends on remain.
    """
    brightness = np.asarray(gradient, dtype=np.float64).reshape(image_shape).sum(axis=2)
    magnitude = np.abs(patch_sums(brightness, radius))
    top = magnitude.max()
    return magnitude / top if top > 0 else magnitude


def heatmap(image: np.ndarray, gradient: np.ndarray) -> np.ndarray:
    """The model's input (h, w, 3) in dim grey with `looks_at` painted over it in HEAT_STOPS colours (opaque where
    it is 1, clear where it is 0): (h, w, 3) uint8."""
    amount = looks_at(gradient)[..., None]
    grey = 0.8 * np.asarray(image, dtype=np.float64).mean(axis=2, keepdims=True)
    return np.rint(amount * heat_colors(amount[..., 0]) + (1 - amount) * grey).astype(np.uint8)


@dataclass(frozen=True)
class Heatmap:
    png: bytes
    flat: bool  # no pixel moves the answer at all: the picture is the grey photo alone (see FLAT_HEATMAP_NOTE)


def heatmap_png(training, image: np.ndarray, x: np.ndarray) -> Heatmap:
    """The "where the model looks" picture of one model input x (1, pixels) and its (h, w, 3) image, upscaled as the
    page shows a model input: the page draws it beside that input, the same size."""
    with training.lock:
        gradient = saliency(training.model, x)[0]
    return Heatmap(png_bytes(upscale(heatmap(image, gradient)), colors=256), not gradient.any())


# --- kept per visitor -----------------------------------------------------------------------------


class Pictures:
    """One visitor's pictures of the network, kept under the weights version they were made from; while the
    session plays, a picture is remade only once it is `refresh` s old (the weights change every tick)."""

    def __init__(self, refresh: float = REFRESH, size: int = 64, clock=time.monotonic):
        self.refresh, self.size, self.clock = refresh, size, clock
        self._made: OrderedDict = OrderedDict()  # key -> (weights version, made at, picture)

    def get(self, training, key, make):
        """The picture `make()` gives for `key` and the session's current weights, made again only when needed."""
        now = self.clock()
        kept = self._made.get(key)
        if kept is not None:
            version, made_at, picture = kept
            if version == training.weights_version or (training.playing and now - made_at < self.refresh):
                self._made.move_to_end(key)
                return picture
        picture = make()
        self._made[key] = (training.weights_version, now, picture)
        self._made.move_to_end(key)
        while len(self._made) > self.size:
            self._made.popitem(last=False)
        return picture

    def tiles(self, training, view: str) -> FirstLayerView:
        return self.get(training, ("tiles", view), lambda: first_layer_view(training, view))

    def health(self, training) -> tuple[dict, dict]:
        """The health chart's (data, spec): unchanged between refreshes, so a redraw sends the same message."""
        return self.get(training, ("health",), lambda: health_chart(training.trainer.history,
                                                                    training.trainer.rolled_back))

    def heatmap(self, training, key, image: np.ndarray, x: np.ndarray) -> Heatmap:
        """The heatmap PNG of one input, e.g. key ("upload", file id, fit) or ("test", index)."""
        return self.get(training, ("heatmap", *key), lambda: heatmap_png(training, image, x))


# --- layer health over the run --------------------------------------------------------------------

HEALTH_POINTS = 150  # the health chart never draws more epochs than this
MIN_EPOCHS_SHOWN = 10  # the x axis spans at least this many epochs (one record alone is a dot at 0)
LOG_FLOOR = 1e-8  # log-scale panels draw anything smaller (a gradient of exactly 0) at this height
LAYER_COLORS = ("#3B6EA8", "#D9652B", "#5E9E4A", "#8E5BA8")  # layer 1, 2, 3, 4 in every panel
KEPT, ROLLED_BACK = "trained", "rolled back"
PANELS = (  # (column prefix, the LayerHealth field, title, log scale?)
    ("g", "grad_norm", "gradient norm ‖∂loss/∂W‖", True),
    ("u", "update_ratio", "update size ‖ΔW‖ / ‖W‖ (grey: the healthy range)", True),
    ("d", "dead_share", "dead units (output 0 for every image)", False),
)
HEALTHY_UPDATE = (1e-4, 1e-2)  # update sizes of a layer that learns steadily: shaded in the chart, named in the note
BAND_GREY = "#8A8F98"


def health_rows(history: list, rolled_back: list = (), max_points: int = HEALTH_POINTS) -> list[tuple[str, object]]:
    """(phase, Record) pairs to plot: the recorded steps of the run (thinned), then what a roll-back undid, joined to
    the last kept step so its dashed lines continue the solid ones; that step's update size goes with them alone."""
    kept = thin([r for r in history if r.health is not None], max_points)
    undone = [r for r in rolled_back if r.health is not None]
    if not undone:
        return [(KEPT, r) for r in kept]
    # the last kept record's update size is that of the step taken from it, which the roll-back undid
    last = kept[-1:]
    solid = [replace(r, health=replace(r.health, update_ratio=())) for r in last]
    return [(KEPT, r) for r in kept[:-1] + solid] + [(ROLLED_BACK, r) for r in last + undone]


def health_data(rows: list[tuple[str, object]]) -> dict[str, list]:
    """Columns: epoch, phase, and one per (panel, layer), e.g. "g1" = layer 1's gradient norm (None where a row has
    no such number: the broken weights of a roll-back have dead shares only)."""
    data = {"epoch": [r.epoch for _, r in rows], "phase": [phase for phase, _ in rows]}
    for prefix, field, _, log in PANELS:
        layers = max((len(getattr(r.health, field)) for _, r in rows), default=0)
        for i in range(layers):
            values = [getattr(r.health, field)[i] if i < len(getattr(r.health, field)) else None for _, r in rows]
            data[f"{prefix}{i + 1}"] = [None if v is None or not np.isfinite(v) else
                                        max(float(v), LOG_FLOOR) if log else 100 * float(v) for v in values]
    return data


def health_panel(prefix: str, columns: list[str], title: str, log: bool, x_scale: dict, height: int,
                 rolled_back: bool) -> dict:
    """One panel: a line per layer (colour) and phase (solid: trained; dashed, if any: rolled back), over the
    healthy band in the update-size panel (so a step near 1, which wipes out what the layer knew, stands out)."""
    if log:
        y_scale, y_axis = {"type": "log"}, {"format": "~e", "tickCount": 4}
    else:
        y_scale, y_axis = {"domain": [0, 100]}, {"tickCount": 3, "labelExpr": "datum.label + '%'"}
    return {
        "title": {"text": title, "fontSize": 12, "anchor": "start"},
        "height": height,
        "width": "container",
        "layer": [*([healthy_band()] if prefix == "u" else []),
                  health_lines(prefix, columns, title, log, x_scale, y_scale, y_axis, rolled_back)],
    }


def healthy_band() -> dict:
    """The update-size panel's grey band from HEALTHY_UPDATE's low to high end, across the whole panel (its
    title names it: a label inside would hide under the lines)."""
    low, high = HEALTHY_UPDATE
    return {"data": {"values": [{"low": low, "high": high}]},
            "mark": {"type": "rect", "color": BAND_GREY, "opacity": 0.24},
            "encoding": {"y": {"field": "low", "type": "quantitative"}, "y2": {"field": "high"}}}


def health_lines(prefix: str, columns: list[str], title: str, log: bool, x_scale: dict, y_scale: dict,
                 y_axis: dict, rolled_back: bool) -> dict:
    """A panel's lines: its columns folded into one value per (epoch, layer)."""
    return {
        "transform": [{"fold": columns, "as": ["column", "value"]},
                      {"calculate": f"'layer ' + replace(datum.column, '{prefix}', '')", "as": "layer"},
                      {"filter": "isValid(datum.value)"}],
        "mark": {"type": "line", "strokeWidth": 2, "point": {"size": 18, "filled": True}},
        "encoding": {
            "x": {"field": "epoch", "type": "quantitative", "title": None, "scale": x_scale,
                  # about one label per 100 px: Vega's default put one every 50 epochs, packed edge to edge
                  "axis": {"format": ",d", "tickMinStep": 1, "tickCount": {"expr": "ceil(width / 100)"}}},
            "y": {"field": "value", "type": "quantitative", "title": None, "scale": y_scale, "axis": y_axis},
            "color": {"field": "layer", "type": "nominal", "title": None,
                      "scale": {"domain": [f"layer {i}" for i in range(1, len(LAYER_COLORS) + 1)],
                                "range": list(LAYER_COLORS)},
                      "legend": {"orient": "top", "direction": "horizontal"}},
            "detail": {"field": "phase"},
            "tooltip": [{"field": "layer"}, {"field": "epoch", "format": ",d"}, {"field": "phase"},
                        {"field": "value", "format": ".3~g" if log else ".0f", "title": title}],
            **({"strokeDash": {"field": "phase", "type": "nominal", "legend": None,  # the caption says "dashed"
                               "scale": {"domain": [KEPT, ROLLED_BACK], "range": [[1, 0], [4, 3]]}},
                "opacity": {"field": "phase", "type": "nominal", "legend": None,  # and faded: a lone dot has no dash
                            "scale": {"domain": [KEPT, ROLLED_BACK], "range": [1.0, 0.6]}}}
               if rolled_back else {}),
        },
    }


def health_chart(history: list, rolled_back: list = (), height: int = 110) -> tuple[dict, dict]:
    """(data, Vega-Lite spec) for the layer-health chart: three panels, one line per layer, over the epochs recorded
    so far (not up to the target, as the loss chart: a network that dies in its first epochs fills the chart)."""
    data = health_data(health_rows(history, rolled_back))
    x_scale = {"domain": [0, max([MIN_EPOCHS_SHOWN, *data["epoch"]])], "nice": False}
    panels = []
    for prefix, _, title, log in PANELS:
        columns = [c for c in data if c.startswith(prefix) and c[len(prefix):].isdigit()]
        if columns:
            panels.append(health_panel(prefix, columns, title, log, x_scale, height, ROLLED_BACK in data["phase"]))
    if panels:
        lines_of(panels[-1])["encoding"]["x"]["title"] = "epoch"  # the panels share the epoch axis: named once, below
    # fit-x with padding: a layered panel (the band) would otherwise draw its axis outside the page's column
    spec = {"autosize": {"type": "fit-x", "contains": "padding"}, "vconcat": panels, "spacing": 18,
            "resolve": {"scale": {"color": "shared", "strokeDash": "shared"}}}
    return data, spec


def lines_of(panel: dict) -> dict:
    """A health panel's layer of lines (drawn last, over any band)."""
    return panel["layer"][-1]


def mistakes_first(items: dict) -> list:
    """The picker's order of {index: grid item}: the model's mistakes, then the rest, each in the grid's order."""
    return sorted(items, key=lambda index: items[index].correct)  # sorted() is stable


def pick_for(split_name: str, order: list, picks: dict, showing: tuple | None = None) -> int:
    """The image the picker shows: the visitor's own last pick on this split (`picks`: split -> image), else the
    image it shows now while it stays on this split (`showing`: (split, image)), else the split's first mistake."""
    shown = showing[1] if showing and showing[0] == split_name else None
    return next((pick for pick in (picks.get(split_name), shown) if pick in order), order[0])


def remember_pick(state) -> None:
    """The picker's on_change: keep the visitor's pick for the split it was made on, to come back to."""
    state.setdefault("explain_picks", {})[state["explain_split"]] = state["explain_pick"]


def sync_pick(state, split_name: str, order: list, label) -> int:
    """Set the picker's value in `state` (the page's session state, keys explain_*) before the picker is drawn.

    Assigned again whenever its label changes, even to the same image: the browser shows the label it was last
    sent, so a new split or a new MP would sit under the old words (unfixed until streamlit/streamlit#13788)."""
    pick = pick_for(split_name, order, state.get("explain_picks", {}),
                    (state.get("explain_split"), state.get("explain_pick")))
    words = label(pick)
    if pick != state.get("explain_pick") or words != state.get("explain_label"):
        state["explain_pick"] = pick
    state["explain_split"], state["explain_label"] = split_name, words
    return pick


def pick_label(split_name: str, index: int, item) -> str:
    """'Test image 12 · TL: cat | MP: non-cat ✗' for the picker of grid images."""
    return f"{split_name.capitalize()} image {index + 1} · {item.caption}" + ("" if item.correct else " ✗")


# --- the page's words for these views -------------------------------------------------------------


def tiles_intro(model) -> str:
    layer = first_layer(model)
    return (f"**The first layer's {layer.n_out} units.** Each unit multiplies every one of the {layer.n_in:,} pixel "
            "values of a photo by a weight of its own and adds them up; laid out like the photo, its weights are a "
            f"{IMAGE_SHAPE[0]}×{IMAGE_SHAPE[1]} picture of what it looks for.")


_OWN_SCALE = "Each tile has its own scale: its largest value is full brightness."
TILE_LEGENDS = {  # what grey, bright and dark mean in each view's tiles
    "learned": ("Grey is 0 (training left that weight where it started); a brighter red, green or blue means training "
                "raised the weight on that colour there, darker that it lowered it. " + _OWN_SCALE),
    "weights": ("Grey is 0 (the unit ignores that pixel); a brighter red, green or blue is a positive weight on that "
                "colour (the unit responds more when the photo is bright there), darker a negative one. " + _OWN_SCALE),
    "gradient": ("Grey is 0 (gradient descent would leave that weight alone); a brighter red, green or blue means it "
                 "would raise the weight on that colour there, darker that it would lower it. " + _OWN_SCALE),
}
_PATCH = f"{2 * PATCH_RADIUS + 1}×{2 * PATCH_RADIUS + 1}"
FLAT_HEATMAP_NOTE = ("No colour anywhere, only the photo in grey: nothing here moves the answer. For this image "
                     "every path from the pixels to the output passes a ReLU that is off (a layer whose units all "
                     "give 0), so no small change to any pixel changes P(cat): the model answers from its biases "
                     "alone.")
HEATMAP_NOTE = (f"**Where the model looks**: how much brightening each {_PATCH} patch of the "
                f"{IMAGE_SHAPE[0]}×{IMAGE_SHAPE[1]} input would move the verdict (the gradient of the logit with "
                "respect to the pixels, by the engine's own backward pass), painted over the photo in grey: purple "
                "where it would move a little, bright yellow where most in this image; towards cat or away looks "
                "the same. "
                "A fully connected network has no idea which pixels are neighbours, so expect it to look all over "
                "the picture rather than just at the cat.")


HEALTH_EMPTY = (f"**Layer health** appears once this run has trained. Every {EVAL_EVERY} epochs the training step "
                "also records, for each layer, its gradient norm, how far the update moved its weights and how many "
                "of its units are dead.")


def axis_number(x: float) -> str:
    """A power of ten as the chart's log axis writes it: 1e-4 (Python's own format gives 1e-04)."""
    return f"{x:.0e}".replace("e-0", "e-").replace("e+0", "e")


def health_note(eval_every: int, history: list = ()) -> str:
    low, high = HEALTHY_UPDATE
    return (f"**Layer health**, recorded every {eval_every} epochs from the training step itself. A healthy layer "
            f"moves by about {100 * low:g}% to {100 * high:g}% of its size per step (update size {axis_number(low)} to "
            f"{axis_number(high)}, the grey band); below it the layer hardly changes any more (it has settled, or the "
            f"learning rate is small for it); near 1, one step wipes out what it knew. A dead unit outputs 0 for "
            "every training image, so no gradient reaches its weights: it learns nothing until the layers before it "
            "change its inputs enough to wake it (in layer 1, whose inputs are the pixels, it stays dead). Dashed and "
            "faded: steps undone when training diverged (the weights before them were kept)."
            + dead_units_now(history) + next_record(eval_every, history))


def stepped(record) -> bool:
    """Whether a record holds a step's layer health (gradients, updates), not only a broken step's dead units."""
    return record.health is not None and bool(record.health.grad_norm)


def next_record(eval_every: int, history: list) -> str:
    """While a run has recorded one step only, when the next comes: one dot per line looks like a broken chart."""
    recorded = [r.epoch for r in history if stepped(r)]
    if len(recorded) != 1:
        return ""
    return (f" Only epoch {recorded[0]:,}'s step is recorded so far; the next record comes with epoch "
            f"{recorded[0] + eval_every:,}'s.")


def dead_units_now(history: list) -> str:
    """The last recorded dead shares in words: lines at the same share hide each other in the chart."""
    last = next((r for r in reversed(history) if stepped(r)), None)
    if last is None:
        return ""
    shares = ", ".join(f"layer {i} {100 * share:.0f}%" for i, share in enumerate(last.health.dead_share, start=1))
    layers, relus = len(last.health.grad_norm), len(last.health.dead_share)
    output = f"; layer {layers}, the output, has no ReLU" if layers > relus else ""
    # "the last record": the page's epoch is usually a few past it (a record comes every eval_every epochs)
    return (f" Dead units at the last record, epoch {last.epoch:,}: {shares} (lines at the same share lie on top of "
            f"each other{output}).")
