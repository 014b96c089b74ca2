"""The page's "See backprop" section, driven in-process by AppTest (see test_app.py for how AppTest runs)."""
from __future__ import annotations

import re

from ui import backprop

STATUS_RE = re.compile(r"^Backward step (\d+) of (\d+)$")
KEYS = ("bp_back", "bp_finish", "bp_update", "bp_restart")


def no_exception(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def status(at) -> tuple[int, int]:
    """(k, N) of the stepper's 'Backward step k of N'."""
    texts = [p.proto.text for p in at.get("progress") if STATUS_RE.match(p.proto.text)]
    assert len(texts) == 1, [p.proto.text for p in at.get("progress")]
    k, n = STATUS_RE.match(texts[0]).groups()
    return int(k), int(n)


def press(at, key: str):
    at.button(key=key).click()
    at.run()
    no_exception(at)
    return at


def dot(at) -> str:
    charts = at.get("graphviz_chart")
    assert len(charts) == 1
    return charts[0].proto.spec


def texts(at) -> str:
    return "\n".join(e.value for kind in (at.markdown, at.caption, at.code, at.success) for e in kind)


def test_the_section_is_on_the_page_with_its_controls(app):
    no_exception(app)
    assert any(h.value == "See backprop" for h in app.header)
    for key in KEYS:
        assert app.button(key=key).key == key
    assert app.segmented_control(key="bp_example").value == backprop.NETWORK
    assert status(app) == (0, 16)
    graph = dot(app)
    assert "rankdir=LR" in graph and "<B>W1</B><BR/>(20, 12288)" in graph and "<B>x</B><BR/>(209, 12288)" in graph


def test_backward_steps_advance_the_status_and_finish_reaches_the_end(app):
    press(app, "bp_back")
    assert status(app) == (1, 16)
    assert "`loss.grad` = ∂loss/∂loss = **1**" in texts(app)
    press(app, "bp_back")
    assert status(app) == (2, 16)
    assert "z4 = h3 @ W4.T + b4" in texts(app)
    press(app, "bp_finish")
    assert status(app) == (16, 16)
    assert app.button(key="bp_back").disabled and app.button(key="bp_finish").disabled
    assert any("Backward is done" in s.value for s in app.success)


def test_update_trains_one_real_epoch(app):
    training = app.session_state["training"]
    epoch = training.epoch
    press(app, "bp_back")
    press(app, "bp_update")
    assert training.epoch == epoch + 1
    assert next(m.value for m in app.metric if m.label == "Epoch") == f"{epoch + 1:,}"
    assert status(app) == (0, 16)  # the next step's forward pass, from the updated weights
    assert any(f"Epoch {epoch + 1}." in s.value for s in app.info)  # from the pretrained weights: the loss went up


def test_switching_examples(app):
    app.segmented_control(key="bp_example").set_value("twice").run()
    no_exception(app)
    assert status(app) == (0, 2)
    assert "b = a + a" in texts(app)
    assert app.button(key="bp_update").disabled  # only the network's step has weights to update
    press(app, "bp_back")
    press(app, "bp_back")
    assert status(app) == (2, 2)
    assert "`a.grad` = ∂b/∂a = **2**" in texts(app)
    assert app.button(key="bp_back").disabled  # the end: nothing left to step (the Walk ignores a late press)
    app.segmented_control(key="bp_example").set_value("micrograd").run()
    no_exception(app)
    assert status(app) == (0, 27)
    press(app, "bp_finish")
    assert "`a.grad` = 138.834" in texts(app) and "`b.grad` = 645.577" in texts(app)
    app.segmented_control(key="bp_example").set_value(backprop.NETWORK).run()
    assert status(app) == (0, 16)


def test_playing_mid_walk_freezes_the_walk_until_restart(app):
    press(app, "bp_back")
    press(app, "bp_back")
    app.button(key="play").click().run()  # the live fragment trains one tick in this run
    no_exception(app)
    assert any(backprop.WHILE_PLAYING == i.value for i in app.info)
    assert app.button(key="bp_back").disabled and app.button(key="bp_update").disabled
    app.button(key="pause").click().run()
    no_exception(app)
    assert app.session_state["training"].epoch > 0
    assert any(backprop.STALE == i.value for i in app.info)
    assert status(app) == (2, 16) and app.button(key="bp_back").disabled
    press(app, "bp_restart")
    assert status(app) == (0, 16) and not app.button(key="bp_back").disabled
    assert not any(backprop.STALE == i.value for i in app.info)


def test_without_the_data_set_the_small_examples_still_work(start_app, tmp_path):
    at = start_app(data=tmp_path / "no-data-here")
    no_exception(at)
    assert at.segmented_control(key="bp_example").value == "scalars"
    assert status(at) == (0, 7)
    press(at, "bp_finish")
    assert status(at) == (7, 7)
    at.segmented_control(key="bp_example").set_value(backprop.NETWORK).run()
    no_exception(at)
    assert any(backprop.NEEDS_DATA == i.value for i in at.info)
    assert at.button(key="bp_back").disabled and at.button(key="bp_update").disabled
    assert not at.get("graphviz_chart")
