"""Settings in the page's address, so that a link opens the page set up as its sender had it:
`?lr=0.5&epochs=300&optimizer=adam&start=fresh&seed=3`.

Reading never fails: a value the page cannot use is left out with a one-line notice naming the parameter and
why. Numbers follow their widgets: a value between a widget's steps snaps to the nearest step (with a notice),
a value outside the widget's range is ignored. The address carries only the settings that differ from the
page's defaults, so the plain address stays plain.
"""
from __future__ import annotations

import math
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from model.optim import OPTIMIZERS, format_lr
from ui.settings import DEFAULT_LRS, LR_CHOICES, MAX_EPOCHS, MAX_SEED, MIN_EPOCHS, MIN_SEED, STARTS
from ui.text import and_list, escape_markdown

KEYS = ("lr", "epochs", "optimizer", "start", "seed")  # the parameters, named like the page's widget keys
MAX_CHARS = 40  # a longer value is ignored unread: people type or paste these links
SHOWN_CHARS = 20  # how much of a bad value its notice repeats
# Plain ASCII decimals only: no nan, inf, hex, 1_000 or other scripts' digits (all of which float() takes).
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", re.ASCII)


class BadValue(ValueError):
    """Why a parameter's value cannot be used: a short phrase for the notice."""


@dataclass(frozen=True)
class FromAddress:
    """What a link asks for: the usable settings, and a notice for each value ignored or adjusted."""

    settings: dict = field(default_factory=dict)  # widget key -> value, ready for the page's session state
    notices: list = field(default_factory=list)  # Markdown sentences; strangers' text in them is escaped
    headline: str = ""  # what the notices are about, in one line: all a stack of them needs before the details
    details: list = field(default_factory=list)  # each notice without the headline's words ("**lr=5**: ...")

    def message(self) -> str:
        """The notices as one Markdown text ("" if none): one toast, where one per notice would stack over
        the page's metrics. Several lead with the headline, which a toast's first lines have room for, and
        list what it leaves to say (a toast cuts each line short: "Ignored ... in the link" again left no room)."""
        if len(self.notices) <= 1:
            return "".join(self.notices)
        return self.headline + "\n" + "".join(f"\n- {detail}" for detail in self.details)


# ---------------------------------------------------------------------------------------------- parsing

def _number(text: str) -> float:
    if not _NUMBER.fullmatch(text):
        raise BadValue("not a number")
    return float(text)  # may be inf ("1e999"): the range check below turns that away


def _check_range(value: float, low, high, show) -> None:
    if not low <= value <= high:
        raise BadValue(f"outside {show(low)} to {show(high)}")


def _lr(text: str) -> tuple[float, str | None]:
    """One of the slider's choices: the nearest on its log scale."""
    value = _number(text)
    _check_range(value, LR_CHOICES[0], LR_CHOICES[-1], format_lr)
    nearest = min(LR_CHOICES, key=lambda choice: abs(math.log(choice / value)))
    exact = math.isclose(nearest, value, rel_tol=1e-9)
    return nearest, None if exact else f"between the slider's steps, so {format_lr(nearest)}"


def _whole(low: int, high: int):
    """A parser for a whole number in [low, high]: the nearest one."""

    def parse(text: str) -> tuple[int, str | None]:
        value = _number(text)
        _check_range(value, low, high, lambda n: f"{n:,}")
        whole = math.floor(value + 0.5)  # halves round up, as people read them (round() makes 2.5 into 2)
        return whole, None if whole == value else f"not a whole number, so {whole:,}"

    return parse


def _name(options):
    """A parser for one of `options` (case does not matter)."""

    def parse(text: str) -> tuple[str, None]:
        name = text.lower()
        if name not in options:
            raise BadValue(f"not one of {', '.join(options)}")
        return name, None

    return parse


PARSERS = {"lr": _lr, "epochs": _whole(MIN_EPOCHS, MAX_EPOCHS), "optimizer": _name(OPTIMIZERS),
           "start": _name(STARTS), "seed": _whole(MIN_SEED, MAX_SEED)}


def _single(values: Sequence[str]) -> str:
    """The one value given for a parameter, stripped; a repeated, empty or overlong one is a BadValue."""
    if len(values) > 1:
        raise BadValue(f"given {len(values)} times")
    text = values[0].strip()
    if not text:
        raise BadValue("empty")
    if len(text) > MAX_CHARS:
        raise BadValue(f"{len(text):,} characters long")
    return text


def _shown(key: str, values: Sequence[str]) -> str:
    """`**lr=abc**` for a notice: the parameter and (the start of) its value, shown literally."""
    text = values[0].strip() if len(values) == 1 else ""
    if len(text) > SHOWN_CHARS:
        text = text[:SHOWN_CHARS].rstrip() + "…"
    # stripped again once escaped, which makes control characters spaces: a space before the closing ** leaves the
    # bold unclosed and the asterisks on the screen ("lr=%00" showed "**lr= **")
    shown = escape_markdown(text).strip()
    return f"**{key}={shown}**" if shown else f"**{key}**"


def read_settings(params: Mapping[str, Sequence[str] | str], defaults: Mapping | None = None) -> FromAddress:
    """The settings a link asks for. `params`: each parameter's values, as `st.query_params.get_all` gives
    them (a plain string counts as one value); parameters other than KEYS are not ours and are skipped.
    A notice for an ignored value names what the page uses instead: `defaults`, or the link's optimizer's own rate
    (a link that names an optimizer and no valid lr gets that optimizer's)."""
    settings, problems = {}, []  # problems: (key, values, why, ignored)
    for key, parse in PARSERS.items():
        values = params.get(key) or []
        values = [values] if isinstance(values, str) else list(values)
        if not values:
            continue
        try:
            settings[key], note = parse(_single(values))
        except BadValue as why:
            problems.append((key, values, str(why), True))
            continue
        if note:
            problems.append((key, values, note, False))
    if "optimizer" in settings and "lr" not in settings:  # ?optimizer=adam alone: at Adam's rate, not SGD's
        settings["lr"] = DEFAULT_LRS[settings["optimizer"]]
    used = {**(defaults or {}), **settings}  # what the page will use for each setting
    notices, details = [], []
    for key, values, why, ignored in problems:
        instead = f"; the page uses {key}={link_text(key, used[key])}" if ignored and key in used else ""
        details.append(f"{_shown(key, values)}: {why}{instead}.")
        notices.append(f"{'Ignored ' if ignored else ''}{_shown(key, values)} in the link: {why}{instead}.")
    return FromAddress(settings, notices, _headline(problems), details)


def _headline(problems) -> str:
    """"Ignored **lr** and **seed** in the link, and adjusted **epochs**:" for a stack of notices."""
    if not problems:
        return ""
    ignored = [f"**{key}**" for key, _, _, was_ignored in problems if was_ignored]
    adjusted = [f"**{key}**" for key, _, _, was_ignored in problems if not was_ignored]
    if not ignored:
        return f"Adjusted {and_list(adjusted)} from the link:"
    return f"Ignored {and_list(ignored)} in the link" + (f", and adjusted {and_list(adjusted)}:" if adjusted else ":")


# ---------------------------------------------------------------------------------------------- writing

def to_params(state: Mapping, defaults: Mapping) -> dict[str, str]:
    """What the address should carry: each setting in `state` that differs from `defaults`, as link text; the lr
    too whenever the optimizer is written (else the link would read as that optimizer's own rate)."""
    params = {}
    for key in KEYS:
        value = state.get(key)
        if value is not None and value != defaults.get(key):
            params[key] = link_text(key, value)
    if "optimizer" in params and "lr" not in params and state.get("lr") is not None:
        params["lr"] = link_text("lr", state["lr"])
    return params


def link_text(key: str, value) -> str:
    """A setting's value as a link writes it: lr=0.0075, epochs=2500, optimizer=sgd."""
    return format_lr(value) if key == "lr" else str(value)


def sync(query_params, wanted: Mapping[str, str]) -> None:
    """Make `query_params` (st.query_params, or any mapping with get_all) hold exactly `wanted` among KEYS,
    touching nothing that is already right; parameters that are not ours stay as they are."""
    for key in KEYS:
        if key in wanted:
            if query_params.get_all(key) != [wanted[key]]:
                query_params[key] = wanted[key]
        elif key in query_params:
            del query_params[key]


def share_url(base: str | None, wanted: Mapping[str, str]) -> str:
    """The page's address `base` (without a query) with the settings `wanted`; just the query without a base."""
    query = urllib.parse.urlencode(wanted)
    parts = urllib.parse.urlsplit(base or "")
    base = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path or ("/" if parts.netloc else ""), "", ""))
    return f"{base}?{query}" if query else base
