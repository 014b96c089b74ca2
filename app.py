"""Cat or not? Watch a four-layer MLP built on micrograd-np learn, and try it on your own photos.

Layout only: every value drawn here comes ready-made from ui/ (README, "Where things live").

    streamlit run app.py      # or: make run
"""
import functools
from collections.abc import Callable

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from ui import backprop, data, gallery, insight, live, photos, session, settings, text, urls
from ui import resources as shared

st.set_page_config(page_title="Cat or not? · micrograd-np", page_icon="🐱", layout="wide",
                   initial_sidebar_state="auto")  # phones open on the page, not the sidebar

GRID_REFRESH = 1.0  # seconds between redraws of the grids while training
PHOTO_WIDTH = 240  # px, the upload as the visitor sees it
VERDICT_WIDTH = 240  # px: a photo's name, the model's answer and the true-label buttons
TILE_WIDTH = gallery.TILE_WIDTH
METRIC_MIN_WIDTH = 150  # px: five metrics side by side on a laptop, two by two on a phone
PHONE_UNIT_WIDTH = 112  # px: three unit tiles a row on a phone (at 128, two filled two thirds of its width)


# --- shared, loaded once per process -------------------------------------------------------------


@st.cache_resource(show_spinner="Loading the model and the data set…", max_entries=1)  # new files replace the old
def load_resources(data_dir: str, weights_path: str, stamp: tuple) -> shared.Resources:
    """The pretrained model and the data set; `stamp` reloads them after `make data` / `make weights`."""
    return shared.load_resources(data_dir, weights_path)


@st.cache_resource(show_spinner=False, max_entries=1)
def graph_summary(_resources: shared.Resources, weights_path: str, stamp: tuple) -> text.GraphSummary:
    return text.graph_summary(_resources.model)


data_dir, weights_path = shared.default_paths()
stamp = shared.files_stamp(data_dir, weights_path)
resources = load_resources(str(data_dir), str(weights_path), stamp)
n_train, n_test = resources.data_sizes  # (0, 0) without the data set

# --- settings from a link, ?lr=0.5&epochs=300&optimizer=adam&start=fresh&seed=3 (a session's first run) ---

if "link_read" not in st.session_state:
    st.session_state.link_read = True
    from_link = urls.read_settings({key: st.query_params.get_all(key) for key in urls.KEYS},
                                   session.page_defaults(resources))
    st.session_state.update(from_link.settings)  # before the widgets and the training session are made
    if from_link.notices:
        st.toast(from_link.message(), icon=":material/link_off:", duration="long")  # 10 s: time to read it

# --- this visitor's state ------------------------------------------------------------------------

training = session.training_for(st.session_state, resources)
playing = training.playing
page_view = training.view()  # what the live section shows in this run (the live fragment redraws it)
on_a_phone = settings.is_phone(st.context.headers.get("User-Agent"))  # a few sections order themselves for it
if on_a_phone:  # a choice that wraps to a second row: chips with their own rounded borders, not a bar cut in two
    # As a bar, a button next to the selected one hands that edge to it (margin -1 px, the edge made transparent by
    # Streamlit's rules); as chips, each draws its own edges, in the border's colour (the text's at 20%).
    st.html("<style>[data-testid=stButtonGroup] [role=radiogroup] { column-gap: 4px; }"
            " [data-testid=stButtonGroup] button[data-variant=segmented_control] { border-radius: 0.5rem;"
            " margin-right: 0; }"
            " [data-testid=stButtonGroup] button[data-variant=segmented_control]:not([data-selected],"
            " [data-hovered], [data-focus-visible]) { border-color: rgb(from currentColor r g b / 0.2)"
            " !important; }</style>")


def current() -> session.TrainingSession:
    """This visitor's training, as callbacks and fragment reruns find it (they outlive this script run)."""
    return st.session_state.training


def restart() -> None:
    current().reset(start=st.session_state.start, optimizer=st.session_state.optimizer)


def switch_optimizer() -> None:
    """A new optimizer starts a new run, at its own learning rate unless the visitor had chosen one."""
    lr = settings.lr_after_switch(st.session_state.lr, current().optimizer, st.session_state.optimizer)
    if lr != st.session_state.lr:
        st.session_state.lr = lr
        current().set_lr(lr)
        st.toast(text.lr_switched(st.session_state.optimizer, lr), icon=":material/tune:")
    restart()


def new_seed() -> None:
    """A new seed means a new fresh initialization: switch to Fresh init and start over from it."""
    st.session_state.start = settings.FRESH
    current().reset(start=settings.FRESH, optimizer=st.session_state.optimizer, seed=st.session_state.seed)


# --- sidebar: the controls -----------------------------------------------------------------------

with st.sidebar:
    st.header("Train the network")
    st.select_slider(
        "Learning rate", options=settings.LR_CHOICES, format_func=text.format_lr, key="lr",
        on_change=lambda: current().set_lr(st.session_state.lr), disabled=not training.can_train,
        help=text.LR_HELP)
    st.number_input(
        "Epochs to train", min_value=settings.MIN_EPOCHS, max_value=settings.MAX_EPOCHS, step=100, key="epochs",
        on_change=lambda: current().set_target(st.session_state.epochs), disabled=not training.can_train,
        help=f"Play stops after this many epochs of the current training ({settings.MIN_EPOCHS:,} to "
             f"{settings.MAX_EPOCHS:,}). One epoch is one step over all {n_train or 'the'} training "
             "images.")
    st.segmented_control(
        "Optimizer", options=list(settings.OPTIMIZER_LABELS), format_func=settings.OPTIMIZER_LABELS.get,
        required=True, key="optimizer", on_change=switch_optimizer, disabled=not training.can_train,
        width="stretch")
    st.segmented_control(
        "Start from", options=list(settings.STARTS), format_func=settings.STARTS.get, required=True, key="start",
        on_change=restart, disabled=not training.can_train or resources.model is None, width="stretch",
        help=f"The shipped weights (trained {resources.base_epochs:,} epochs), or a random initialization "
             f"(seed {training.seed}, set below) to watch the network learn from scratch.")
    # --- the seed of the fresh initialization ---
    st.number_input("Seed of the fresh init", min_value=settings.MIN_SEED, max_value=settings.MAX_SEED, step=1,
                    key="seed", on_change=new_seed, disabled=not training.can_train,
                    help=f"Any whole number from {settings.MIN_SEED} to {settings.MAX_SEED:,}; "
                         f"{settings.DEFAULT_SEED} is the course's.")
    st.caption(text.SEED_CAPTION)
    # --- end of the seed ---
    st.caption("Changing the optimizer, the starting point or the seed starts a new run, like Reset.")

    st.divider()
    st.download_button(
        "Download weights (.npz)", data=functools.partial(session.download_bytes, training),
        file_name=session.weights_filename(training),
        mime="application/octet-stream", key="download", on_click="ignore", icon=":material/download:",
        width="stretch",
        help="This session's current weights; `model.weights.load_weights()` reads the file back.")
    if not training.can_train:
        st.caption("Training needs the data set: download it under **Live training**, or run `make data`.")
    st.caption(f"Model: {text.layer_sizes(training.model)}, {text.parameter_count(training.model):,} parameters. "
               "Each visitor trains a private copy.")

# --- settings in the address: it follows every change, so it is always a link to these settings ---

link_params = urls.to_params(st.session_state, session.page_defaults(resources))
urls.sync(st.query_params, link_params)


def share_link() -> None:
    """The link to this page with these settings, to copy (the Share button of the control row)."""
    st.markdown("**Copy a link to these settings**")
    st.code(urls.share_url(st.context.url, link_params), language=None, wrap_lines=True)
    st.caption("It opens the page with this learning rate, epoch target, optimizer, start and seed (settings left "
               "at their defaults add nothing to it). It does not carry your training: whoever opens it trains a "
               "copy of their own. Copy it with the button that shows at its corner when you point at it or tap "
               "it. The page's own address carries the same settings, so your browser's Share menu sends them too.")

# --- header --------------------------------------------------------------------------------------

st.title("Cat or not?", anchor=False)  # no link icon: with it, two heading links came before Play in the Tab order
st.markdown(
    "A four-layer perceptron learns to tell cats from non-cats on 64×64 photos, running on "
    "**micrograd-np**, a tiny autograd engine written in NumPy. [Upload a photo](#your-photos) to try the "
    "shipped model, or press **Play** below and watch your own copy train.")
if resources.weights_error:
    st.error(f"**The pretrained weights could not be loaded.** "
             f"{text.escape_markdown_keep_code(resources.weights_error)}"
             "  \nYou can still train from scratch: the model below starts from the course's random "
             "initialization; press **Play** below (or run `make weights` and reload).",
             icon=":material/error:")

# --- live training -------------------------------------------------------------------------------

st.header("Live training", divider="gray", anchor=False)

# --- the data set from the page, while it is missing ---


def offer_the_data_set() -> None:
    """The download button, its progress bar and, if it failed, why; a rerun picks the files up."""
    st.info("**Training needs the catvnoncat data set**, the course's photos, which this server does not have "
            "yet. Download it here (or run `make data`); the page picks it up at once. Until then, uploads "
            "work with the pretrained model.", icon=":material/database:")
    if st.button(data.FETCH_LABEL, key="fetch_data", icon=":material/download:", type="primary"):
        bar = st.progress(0.0, text="Connecting…")
        fetched = data.fetch_data(data_dir, lambda fraction, line: bar.progress(fraction, text=line))
        st.session_state.fetch_failure = fetched.message
        if fetched.ok:
            st.session_state.fetched = True
            st.rerun()  # the files changed, so does the stamp: the next run loads them
        bar.empty()
    if st.session_state.get("fetch_failure"):
        st.error(st.session_state.fetch_failure, icon=":material/cloud_off:")
    with st.expander("Why the data set is missing"):
        st.text(resources.data_error or "")


if resources.data is None:
    offer_the_data_set()
elif st.session_state.pop("fetched", False):
    st.toast("The data set is in place: press **Play** to train.", icon=":material/check_circle:")

# --- the control row: Play, Pause, Step and Reset above the metrics, on every screen size ---

# Two pairs in a row that wraps: one line on a wide screen, Play and Pause over Step and Reset on a phone.
with st.container(horizontal=True, gap="small", key="controls"):
    with st.container(horizontal=True, gap="small", width="content"):
        st.button("Play", key="play", icon=":material/play_arrow:", type="primary",
                  on_click=lambda: current().play(), disabled=not page_view.play_enabled)
        st.button("Pause", key="pause", icon=":material/pause:", on_click=lambda: current().pause(),
                  disabled=not page_view.pause_enabled)
    with st.container(horizontal=True, gap="small", width="content"):
        st.button(f"Step {settings.STEP_EPOCHS}", key="step", icon=":material/skip_next:",
                  on_click=lambda: current().step(), disabled=not training.can_train)
        st.button("Reset", key="reset", icon=":material/restart_alt:", on_click=restart,
                  disabled=not training.can_train, help="Back to the starting point chosen in the sidebar.")
    with st.popover("Share", icon=":material/share:", help="Copy a link to these settings"):
        share_link()

# --- the live view and the training: metrics, progress and the loss chart, in a fragment that trains ---
# While playing, the fragment's timer runs it again and again; each run draws the view, trains tick after tick for
# about a second and redraws the view in place after each tick. Like every fragment here it draws only into its
# own slots: when the training fragment sat at the end of the page and redrew slots made up here, Streamlit now
# and then merged its messages with the page run's into a tree the browser could not build, and the page went
# blank at Play (6 Plays of 81 with two other programs busy on the cores; 0 of 105 since, measured).


def show_metrics(cards: list[DeltaGenerator], view: live.View) -> None:
    for card, metric in zip(cards, view.metrics):
        card.metric(metric.label, metric.value, metric.delta, delta_color=metric.delta_color,
                    delta_arrow="off" if metric.delta_color == "off" else "auto", help=metric.help,
                    border=True, height="stretch")


def show_status(progress_bar: DeltaGenerator, warning: DeltaGenerator, view: live.View) -> None:
    """The progress bar with its status line, and any warning."""
    speed = f" · {view.epochs_per_second:,.0f} epochs/s" if view.playing and view.epochs_per_second else ""
    progress_bar.progress(view.progress, text=f"{view.status}{speed}")
    if view.warning:
        warning.warning(view.warning, icon=":material/warning:")
    else:
        warning.empty()


def show_loss_chart(slot: DeltaGenerator, view: live.View, target: int) -> None:
    """The loss curves (redrawn less often than the metrics: drawing them costs the browser far more)."""
    chart_data, chart_spec = live.loss_chart(view.chart, target)
    slot.vega_lite_chart(chart_data, chart_spec, width="stretch")


def show_live_view(view: live.View, training: session.TrainingSession) -> tuple[Callable, Callable]:
    """Draw the live view here, each part into slots (`st.empty`) that a redraw fills again in place: an element
    replaces an element, so nothing blanks and the page below never moves. Returns (redraw_metrics, redraw_chart)."""

    def draw_metric_cards() -> list[DeltaGenerator]:
        # When the grid narrows to two columns (a phone), the Epoch card takes a row of its own, so the train and
        # test cards pair up below it instead of leaving Test accuracy alone; three columns need 3 * min + 2 gaps.
        st.html(f"<style>.st-key-metric_cards {{ container-type: inline-size; }}"
                f"@container (width < calc(3 * {METRIC_MIN_WIDTH}px + 2rem)) {{ .st-key-metric_cards"
                " > [data-testid=stGridCell]:first-child { grid-column: 1 / -1; } }</style>")  # takes no space
        with st.grid(len(view.metrics), min_column_width=METRIC_MIN_WIDTH, key="metric_cards"):
            cards = [st.empty() for _ in view.metrics]
        show_metrics(cards, view)
        return cards

    def draw_status() -> tuple[DeltaGenerator, DeltaGenerator]:
        progress_bar, warning = st.empty(), st.empty()
        show_status(progress_bar, warning, view)
        return progress_bar, warning

    def draw_loss_chart() -> DeltaGenerator:
        # A box that keeps the chart's height while Vega draws a chart from nothing: without it the page below
        # jumped up 466 px and back on a phone at every Pause (measured).
        st.html(f"<style>.st-key-loss_chart {{ min-height: {live.CHART_HEIGHT}px; }}</style>")  # takes no space
        with st.container(key="loss_chart"):
            slot = st.empty()
        show_loss_chart(slot, view, training.target)
        return slot

    if not on_a_phone:  # a phone shows the status and the curve first, by Play: the cards would push them off
        cards = draw_metric_cards()
    status, chart = draw_status(), draw_loss_chart()
    st.caption(text.describe_start(training, phone=on_a_phone))  # what this run started from
    if on_a_phone:
        cards = draw_metric_cards()

    def redraw_metrics() -> None:
        now = training.view()
        show_metrics(cards, now)
        show_status(*status, now)

    def redraw_chart() -> None:
        show_loss_chart(chart, training.view(), training.target)

    return redraw_metrics, redraw_chart


page_drawn = False  # True once this run has passed the live fragment: its runs after that are its timer's


@st.fragment(run_every=session.TICK_INTERVAL if playing else None)
def live_training() -> None:
    """The live view and, while playing, the training: in the page's run a single tick that never waits for a
    turn (Play shows at once, and the page below waits 0.2 s at most), in the timer's runs about a second of
    ticks (Streamlit's fixed cost per run, ~50-80 ms here, is paid once a second instead of once per tick)."""
    training = current()
    if not training.can_train:
        return  # nothing to show: the data-set section above says how to get the data
    redraw_metrics, redraw_chart = show_live_view(training.view() if page_drawn else page_view, training)
    ticking = session.ticks if page_drawn else functools.partial(session.ticks, budget=0, wait=0)
    if session.play_loop(training, redraw_metrics, redraw_chart, ticking=ticking):
        st.rerun()  # playing stopped: redraw the controls and stop the timers


live_training()
page_drawn = True  # (the timer's runs start only once this page run has ended)

with st.expander("What happens on each tick?", icon=":material/neurology:"):
    st.markdown(text.explain_markdown(graph_summary(resources, str(weights_path), stamp), training.optimizer,
                                      n_train, n_test, session.TICK_SECONDS))

# --- inside the network: the layers' health and the first layer's units (redrawn while playing) ---

st.subheader("Inside the network", anchor=False)
# Square boxes for the tiles before their images load: each redraw sends new images, and until the browser had
# them the section shrank to its caption and the page below jumped up 1,100 px and back on a phone (measured).
# And a gap between the tiles of a row: side by side with no gap, twenty units read as one mosaic.
st.html("<style>.st-key-unit_tiles img { aspect-ratio: 1; }"
        ".st-key-unit_tiles [data-testid=stImage] { column-gap: 0.5rem; }</style>")  # takes no space


def pictures() -> insight.Pictures:
    """This visitor's tiles and heatmaps, each made once per version of the weights."""
    return st.session_state.setdefault("pictures", insight.Pictures())


def show_health_chart(training: session.TrainingSession) -> None:
    if training.can_train:
        chart_data, chart_spec = pictures().health(training)
        if not chart_data["epoch"]:
            st.caption(insight.HEALTH_EMPTY)
            return
        st.vega_lite_chart(chart_data, chart_spec, width="stretch")
        st.caption(insight.health_note(training.eval_every, training.trainer.history))


def show_first_layer(training: session.TrainingSession, tile_view: str) -> None:
    tiles = pictures().tiles(training, tile_view)
    st.caption(f"{tiles.note} {tiles.legend}")
    if tiles.pngs:
        st.image(tiles.pngs, caption=tiles.captions, width=PHONE_UNIT_WIDTH if on_a_phone else gallery.UPSCALED_WIDTH)


@st.fragment(run_every=GRID_REFRESH if playing else None)
def inside_the_network() -> None:
    """The layers' health, then the first layer's units, redrawn while the live view trains. Each redraw replaces
    the last element by element, so nothing blanks (an `st.empty` in between blanked them now and then, and the
    page below jumped by up to 1,300 px on a phone)."""
    training = current()
    with st.container(key="layer_health"):
        show_health_chart(training)
    st.markdown(insight.tiles_intro(training.model))
    tile_view = st.segmented_control("Show", options=list(insight.TILE_VIEWS), format_func=insight.TILE_VIEWS.get,
                                     required=True, default="learned", key="tile_view",
                                     label_visibility="collapsed")
    with st.container(key="unit_tiles"):
        show_first_layer(training, tile_view)


inside_the_network()

# A heatmap's caption, and an upload's "your photo", on one line in its column (below), found by the column's key:
# once per page run, for every picture the fragments below draw.
st.html("<style>:is([class*=st-key-where_it_looks], [class*=st-key-your_photo]) [data-testid=stImageCaption]"
        " { white-space: nowrap; }</style>")


def where_it_looks(training: session.TrainingSession, key: tuple, image, x) -> insight.Heatmap:
    """The heatmap of one model input (made once per version of the weights), with its note if it is flat, drawn
    here: in the card's text column (in the picture's own column it was a strip of eleven lines)."""
    picture = pictures().heatmap(training, key, image, x)
    show_flat_note(picture)
    return picture


def show_flat_note(picture: insight.Heatmap) -> None:
    if picture.flat:  # why the picture is the photo in grey alone
        st.caption(insight.FLAT_HEATMAP_NOTE)


def show_where_it_looks(picture: insight.Heatmap, key: tuple) -> None:
    # A column wide enough for the caption, the picture the size of the input beside it; a key of its own per picture
    with st.container(width=TILE_WIDTH, horizontal_alignment="center", key=f"where_it_looks_{abs(hash(key))}"):
        st.image(picture.png, width=gallery.UPSCALED_WIDTH, caption="where the model looks")


def show_heatmap_notes(picture: insight.Heatmap) -> None:
    """What a where-it-looks picture shows, and why it is grey if it is flat."""
    st.caption(insight.HEATMAP_NOTE)
    show_flat_note(picture)


def show_explain_pick(training: session.TrainingSession, split, grid: list) -> None:
    """One image of the grid, picked from a list that starts with its mistakes, and where the model looks in it."""
    items = {item.index: item for item in grid}
    mistakes_first = insight.mistakes_first(items)

    def label(index: int) -> str:
        return insight.pick_label(split.name, index, items[index])

    insight.sync_pick(st.session_state, split.name, mistakes_first, label)
    with st.container(border=True, horizontal=True, gap="medium"):
        with st.container(width="stretch" if on_a_phone else 320):
            pick = st.selectbox("Where does the model look? Pick an image (its mistakes come first)",
                                options=mistakes_first, format_func=label, key="explain_pick",
                                on_change=insight.remember_pick, args=(st.session_state,))
            key = (split.name, pick)
            picture = pictures().heatmap(training, key, split.images[pick], split.x[pick:pick + 1])
            if not on_a_phone:
                show_heatmap_notes(picture)
        with st.container(horizontal=True, gap="small", width="content"):  # side by side even on a phone
            st.image(gallery.upscale(split.images[pick]), width=gallery.UPSCALED_WIDTH,
                     caption=f"{split.name} image {pick + 1}")
            show_where_it_looks(picture, key)
        if on_a_phone:  # the pictures right under the picker: eleven lines of note above pushed them off screen
            with st.container(width="stretch"):
                show_heatmap_notes(picture)


# --- see backprop --------------------------------------------------------------------------------

st.header("See backprop", divider="gray", anchor=False)
stepper = backprop.stepper_for(st.session_state, training)


def show_node_detail(detail: backprop.Detail | None) -> None:
    """What happens at the current node: its rule, its gradient, what it passed on, and a picture of it."""
    st.subheader("What happens at the current node", anchor=False)
    if detail is None:
        st.markdown(backprop.NOTHING_YET)
        return
    st.markdown(f"**{detail.title}**")
    st.code("\n".join((detail.rule.forward, *detail.rule.backward)), language="python",
            wrap_lines=True)  # long lines wrap rather than scroll: a phone would cut off the shape comments
    for note in detail.rule.notes:
        st.markdown(note)
    st.markdown(detail.gradient)
    if detail.passed:
        st.markdown(detail.passed_markdown)
    picture = detail.picture
    if picture is not None and picture.kind == "bars":
        st.vega_lite_chart(*picture.chart, width="stretch")
    elif picture is not None:
        st.image(list(picture.png), caption=list(picture.captions) or None,
                 width=96 if picture.kind == "tiles" else "content")
    if picture is not None:
        st.caption(picture.caption)


def bp_press(action: str) -> None:
    """A stepper button: the Stepper method of that name, on this visitor's session."""
    getattr(st.session_state.backprop, action)(current())


st.markdown(backprop.INTRO)
st.segmented_control("Example", options=list(backprop.EXAMPLES), format_func=backprop.EXAMPLES.get,
                     required=True, key="bp_example",
                     on_change=lambda: st.session_state.backprop.choose(st.session_state.bp_example, current()))
# A phone starts with the tall graph (the wide one is unreadable at 390 px); the toggle stays the visitor's.
st.session_state.setdefault("bp_vertical", on_a_phone)
bp_view = stepper.view(training, "TB" if st.session_state.bp_vertical else "LR")
if bp_view.example is not None:
    about, code = st.columns([2, 3])
    about.markdown(bp_view.example.about)
    code.code(bp_view.example.code, language="python", wrap_lines=True)
with st.container(horizontal=True, vertical_alignment="center"):
    st.button("Backward one step", key="bp_back", icon=":material/arrow_back:", type="primary",
              on_click=bp_press, args=("back",), disabled=not bp_view.can_step,
              help="Visit the next node: its gradient is complete, and it passes a share to each operand.")
    st.button("Finish backward", key="bp_finish", icon=":material/fast_rewind:", on_click=bp_press,
              args=("finish",), disabled=not bp_view.can_step, help="Visit every remaining node.")
    st.button("Update the weights", key="bp_update", icon=":material/model_training:", on_click=bp_press,
              args=("update",), disabled=not bp_view.can_update,
              help="Finish backward, then let the optimizer step with these gradients: one real epoch of your "
                   "run (the metrics and the loss chart above show it). Only the network's training step has "
                   "weights to update; the small examples stop at their gradients.")
    st.button("Restart", key="bp_restart", icon=":material/restart_alt:", on_click=bp_press, args=("restart",),
              help="Build the forward pass again (for the network: from its current weights).")
    st.toggle("Top to bottom", key="bp_vertical", help="Draw the graph top to bottom: easier to read on a "
              "narrow screen.")
if bp_view.message:
    st.info(bp_view.message, icon=":material/info:")
if bp_view.notice:
    kind, notice = bp_view.notice
    {"success": st.success, "info": st.info, "warning": st.warning}[kind](notice)
if bp_view.example is not None:
    st.progress(bp_view.progress, text=bp_view.status)
    if bp_view.now and not on_a_phone:  # a phone has the whole story right here, next
        st.markdown(bp_view.now)
    if bp_view.done:
        st.success(bp_view.done, icon=":material/check_circle:")
    if on_a_phone:  # the node's story right under the buttons that moved it, the tall graph after it
        show_node_detail(bp_view.detail)
    graph, order = st.columns([5, 1], gap="medium")  # the order's "▶ loss ← now" on one line
    with order:
        st.markdown("**Backward order**")
        st.markdown(bp_view.order)
        if bp_view.order_note:
            st.caption(bp_view.order_note)
    with graph:
        st.html(backprop.GRAPH_CSS)  # takes no space
        st.graphviz_chart(bp_view.dot, width=bp_view.graph_width)
        st.caption(bp_view.graph_caption)
        if not on_a_phone:
            show_node_detail(bp_view.detail)

# --- your photos ---------------------------------------------------------------------------------

st.header("Your photos", divider="gray", anchor="your-photos")  # the intro links here


@st.fragment(run_every=GRID_REFRESH if playing else None)
def your_photos() -> None:
    training = current()
    # The label says which files and how big; Streamlit's own hint under the button repeats it as a list of MIME
    # types and extensions, cut off mid-word on a phone.
    st.html("<style>.st-key-upload [data-testid=stFileUploaderDropzoneInstructions] { display: none; }</style>")
    files = st.file_uploader(
        photos.UPLOAD_LABEL,
        type=list(photos.UPLOADER_TYPES), accept_multiple_files=True, key="upload")
    # --- the camera: a second way to give a photo, which then takes the uploads' path ---
    if st.toggle("Take a photo with the camera", key="camera_on",
                 help="The browser asks for the camera only once you switch this on."):
        shot = st.camera_input("Take a photo", key="camera", label_visibility="collapsed")
        if shot is not None:
            files = [*(files or []), photos.CameraShot(shot.file_id, shot.getvalue)]
    # --- end of the camera ---
    if not files:
        st.caption(photos.tips(n_train))
        return
    if photos.untrained(training):
        st.warning(photos.UNTRAINED_WARNING, icon=":material/warning:")
    # The fit is read before its control is drawn: the control appears only once a photo has been prepared (for
    # broken files alone it would be a choice about nothing). Set back into the state, it outlives the runs without it.
    fit = st.session_state.fit = st.session_state.get("fit", photos.DEFAULT_FIT)
    cache = st.session_state.uploads
    items, repeats = photos.once_each([cache.get(f.file_id, f.name, f.getvalue, fit) for f in files])
    for note in repeats:
        st.caption(note)
    for item in items:
        if not item.ok:
            st.error(item.error_markdown, icon=":material/broken_image:")
    predictions = photos.classify(training.p_cat, items)
    good = [(item, p) for item, p in zip(items, predictions) if item.ok]
    if not good:
        return
    st.segmented_control("Fit to the square", options=list(photos.FIT_LABELS),
                         format_func=photos.FIT_LABELS.get, required=True, key="fit",
                         help="Centre crop keeps proportions; Squash resizes the whole photo, as the "
                              "course did.")
    labelled = [(item, prediction, truth) for item, prediction in good
                if (truth := show_photo(training, item, prediction)) is not None]
    # under the cards, not above: on a phone these two paragraphs pushed the first verdict a screen down
    st.caption(f"{photos.PREDICTION_KEY} {photos.tips(n_train)}")  # the caveat stays in view once there is a guess
    st.caption(insight.HEATMAP_NOTE)
    if labelled:
        show_labelled_grid(labelled)


def show_photo(training: session.TrainingSession, item, prediction) -> int | None:
    """One photo: its name, the model's answer and a choice of true label, then the photo as given, as the model
    sees it and where it looks; returns its true label once the visitor has set one."""
    with st.container(border=True, horizontal=True, gap="medium"):
        # first: on a phone the pictures wrap below it, not above; there it takes the card's width (at 240 px the
        # P(cat) bar stopped two thirds of the way across)
        with st.container(width="stretch" if on_a_phone else VERDICT_WIDTH):
            st.markdown(f"**{text.escape_markdown(item.name)}**")
            st.subheader(prediction.caption(resources.classes), anchor=False)
            st.progress(prediction.p_cat, text=prediction.probability_text)
            truth = st.segmented_control(
                "True label", options=[1, 0], format_func=lambda c: resources.classes[c],
                key=f"truth_{item.file_id}", help="What the photo really shows. Labelled photos get a TL/MP grid "
                "below.")
            key = ("upload", item.file_id, st.session_state.fit)
            picture = where_it_looks(training, key, item.prepared.preview, item.prepared.x)
        # keyed for the caption's one-line style above: under a tall photo, drawn narrow, it broke as "your / photo"
        with st.container(width=PHOTO_WIDTH, horizontal_alignment="center", key=f"your_photo_{item.file_id}"):
            st.image(item.prepared.display, caption="your photo",
                     width=photos.display_width(item.prepared.display.size, PHOTO_WIDTH))
        with st.container(horizontal=True, gap="small", width="content"):  # side by side even on a phone
            st.image(gallery.upscale(item.prepared.preview), width=gallery.UPSCALED_WIDTH,
                     caption="what the model sees")
            show_where_it_looks(picture, key)
    return truth


def show_labelled_grid(labelled: list) -> None:
    """The visitor's labelled photos as a TL/MP grid, like the test set's."""
    labels = [truth for _, _, truth in labelled]
    p_cat = [prediction.p_cat for _, prediction, _ in labelled]
    st.subheader("Your labelled photos", anchor=False)  # the section header below is the test set's grid
    st.caption(gallery.summarize(labels, p_cat).text)
    grid = gallery.grid_items(labels, p_cat, classes=resources.classes)
    st.image([gallery.png_bytes(gallery.tile(item.prepared.preview, mistake=not g.correct))
              for (item, _, _), g in zip(labelled, grid)],
             caption=[g.markdown for g in grid], width=TILE_WIDTH)


your_photos()

# --- the TL/MP grid ------------------------------------------------------------------------------

st.header("True label vs. model prediction", divider="gray", anchor=False)
# A mistake's red caption at full strength (here and in "Your labelled photos"): Streamlit fades captions to 60%,
# which left the red a pink at about 3:1 on white, hard to read on a phone.
st.html("<style>[data-testid=stImageCaption] [data-testid=stCaptionContainer]:has(.stMarkdownColoredText)"
        " { opacity: 1; }</style>")  # takes no space


@st.fragment(run_every=GRID_REFRESH if playing else None)
def tl_mp_grid() -> None:
    training = current()
    if resources.data is None:
        st.info("The test images come with the data set: download it under **Live training** (or run "
                "`make data`).", icon=":material/database:")
        return
    with st.container(horizontal=True, vertical_alignment="bottom", gap="medium"):  # wrapped on a phone: no 4 rem hole
        split_name = st.segmented_control(
            "Images", options=["test", "train"], required=True, key="grid_split",
            format_func={"test": f"Test set ({n_test})", "train": f"Training set ({n_train})"}.get)
        mistakes_only = st.toggle("Mistakes only", key="mistakes_only")
    split = resources.split(split_name)
    p_cat = training.p_cat(split.x)
    st.caption(f"{gallery.summarize(split.labels, p_cat).text}. Mistakes are framed in red; a tile's number is "
               "its image's number in the picker. "
               f"{gallery.TL_KEY}, {gallery.MP_KEY}, refreshed as the model trains.")
    grid = gallery.grid_items(split.labels, p_cat, classes=resources.classes)
    show_explain_pick(training, split, grid)
    items = gallery.mistakes(grid) if mistakes_only else grid
    if not items:
        st.success("No mistakes on these images.", icon=":material/check_circle:")
        return
    st.image([split.tiles.get(item.index, mistake=not item.correct) for item in items],
             caption=[item.markdown for item in items], width=TILE_WIDTH)


tl_mp_grid()

