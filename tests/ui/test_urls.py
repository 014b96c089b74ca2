"""Settings in the address: every bad value is ignored with a notice naming it, never an exception."""
import re

import pytest

from model.optim import OPTIMIZERS
from ui import settings, urls
from ui.urls import read_settings, share_url, sync, to_params

DEFAULTS = {"lr": settings.DEFAULT_LR, "epochs": settings.DEFAULT_EPOCHS, "optimizer": "sgd",
            "start": settings.PRETRAINED, "seed": settings.DEFAULT_SEED}


def read(**params):
    return read_settings({key: value if isinstance(value, list) else [value] for key, value in params.items()})


def test_a_teachers_link_opens_with_its_settings():
    got = read(lr="0.5", epochs="300", optimizer="adam", start="fresh", seed="3")
    assert got.settings == {"lr": 0.5, "epochs": 300, "optimizer": "adam", "start": "fresh", "seed": 3}
    assert got.notices == []
    assert got.settings["lr"] in settings.LR_CHOICES and isinstance(got.settings["epochs"], int)


def test_no_parameters_and_foreign_parameters_change_nothing():
    assert read_settings({}) == urls.FromAddress()
    assert read_settings({"utm_source": ["mail"], "embed": ["true"]}) == urls.FromAddress()


@pytest.mark.parametrize("text", [str(choice) for choice in settings.LR_CHOICES] +
                         ["0.0075", "7.5e-3", "1", "1.0", "0.0001", ".5", "+0.5", " 0.5 "])
def test_every_slider_choice_is_taken_as_it_is(text):
    got = read(lr=text)
    assert got.notices == []
    assert got.settings["lr"] in settings.LR_CHOICES
    assert got.settings["lr"] == pytest.approx(float(text))


@pytest.mark.parametrize("text, nearest", [("0.004", 0.005), ("0.0074", 0.0075), ("0.9", 1.0), ("0.00012", 0.0001),
                                           ("0.0065", 0.0075)])
def test_an_lr_between_the_slider_steps_snaps_to_the_nearest_on_the_log_scale(text, nearest):
    got = read(lr=text)
    assert got.settings["lr"] == nearest and nearest in settings.LR_CHOICES
    assert len(got.notices) == 1
    assert f"**lr={text.replace('.', chr(92) + '.')}**" in got.notices[0]
    assert "between the slider's steps" in got.notices[0]


BAD_NUMBERS = {
    "abc": "not a number",
    "nan": "not a number",
    "NaN": "not a number",
    "inf": "not a number",
    "-inf": "not a number",
    "Infinity": "not a number",
    "1e999": "outside",  # float() overflows to inf
    "-1e999": "outside",
    "0x10": "not a number",
    "1_000": "not a number",
    "١٢": "not a number",  # Arabic-Indic digits: float() would take them
    "1,5": "not a number",
    "1e": "not a number",
    "--1": "not a number",
    "½": "not a number",
}


@pytest.mark.parametrize("key", ["lr", "epochs", "seed"])
@pytest.mark.parametrize("text", list(BAD_NUMBERS))
def test_numbers_that_are_not_numbers_or_not_finite_are_ignored(key, text):
    got = read(**{key: text})
    assert key not in got.settings
    assert len(got.notices) == 1
    assert got.notices[0].startswith(f"Ignored **{key}=") and BAD_NUMBERS[text] in got.notices[0]


@pytest.mark.parametrize("key, text", [
    ("lr", "0"), ("lr", "1e-999"), ("lr", "-0.5"), ("lr", "2"), ("lr", "0.000001"), ("lr", "1e3"),
    ("epochs", "0"), ("epochs", "1e-999"), ("epochs", "-300"), ("epochs", "9"), ("epochs", "20001"), ("epochs", "1e9"),
    ("seed", "-1"), ("seed", str(2**31)), ("seed", "1e10"),
])
def test_negative_and_out_of_range_numbers_are_ignored(key, text):
    got = read(**{key: text})
    assert key not in got.settings
    assert len(got.notices) == 1 and "outside" in got.notices[0] and f"**{key}=" in got.notices[0]


def test_range_notices_name_the_range():
    assert "outside 0.00001 to 1" in read(lr="5").notices[0]
    assert "outside 10 to 20,000" in read(epochs="5").notices[0]
    assert "outside 0 to 2,147,483,647" in read(seed="-3").notices[0]


@pytest.mark.parametrize("key, text, value", [("epochs", "300.4", 300), ("epochs", "1e3", 1000), ("epochs", "10", 10),
                                              ("epochs", "20000", 20000), ("seed", "0", 0), ("seed", "2.6", 3),
                                              ("seed", str(2**31 - 1), 2**31 - 1), ("seed", "-0", 0),
                                              ("seed", "2.5", 3), ("epochs", "300.5", 301)])  # halves round up
def test_whole_numbers_take_the_nearest_whole_number(key, text, value):
    got = read(**{key: text})
    assert got.settings[key] == value and type(got.settings[key]) is int
    assert bool(got.notices) == (float(text) != value)
    if got.notices:
        assert "not a whole number" in got.notices[0]


@pytest.mark.parametrize("key, text", [("optimizer", "rmsprop"), ("optimizer", "sgd; drop"), ("optimizer", "1"),
                                       ("start", "random"), ("start", "pretrain"), ("start", "fresh!")])
def test_unknown_optimizers_and_starts_are_ignored(key, text):
    got = read(**{key: text})
    assert key not in got.settings
    assert len(got.notices) == 1 and "not one of" in got.notices[0]


def test_names_are_read_regardless_of_case():
    assert read(optimizer="Adam", start="FRESH").settings == {"optimizer": "adam", "start": "fresh",
                                                              "lr": settings.DEFAULT_LRS["adam"]}


def test_an_optimizer_without_a_rate_comes_at_its_own_rate():
    assert read(optimizer="adam").settings == {"optimizer": "adam", "lr": settings.DEFAULT_LRS["adam"]}
    assert read(optimizer="adam", lr="0.001").settings["lr"] == 0.001  # the link's own rate wins
    got = read_settings({"optimizer": ["adam"], "lr": ["5"]}, DEFAULTS)
    assert got.settings["lr"] == settings.DEFAULT_LRS["adam"]
    assert got.notices == ["Ignored **lr=5** in the link: outside 0.00001 to 1; the page uses lr=0.00002."]


def test_every_optimizer_has_its_own_starting_rate():
    assert set(settings.DEFAULT_LRS) == set(OPTIMIZERS)


@pytest.mark.parametrize("key", urls.KEYS)
def test_repeated_parameters_are_ignored(key):
    good = {"lr": "0.5", "epochs": "300", "optimizer": "adam", "start": "fresh", "seed": "3"}[key]
    got = read(**{key: [good, good]})
    assert key not in got.settings
    assert got.notices == [f"Ignored **{key}** in the link: given 2 times."]


@pytest.mark.parametrize("key", urls.KEYS)
@pytest.mark.parametrize("text", ["", "   "])
def test_empty_values_are_ignored(key, text):
    got = read(**{key: text})
    assert key not in got.settings
    assert got.notices == [f"Ignored **{key}** in the link: empty."]


@pytest.mark.parametrize("key", urls.KEYS)
def test_huge_values_are_ignored_and_not_repeated_in_full(key):
    huge = "9" * 100_000
    got = read(**{key: huge})
    assert key not in got.settings
    assert len(got.notices) == 1 and "100,000 characters long" in got.notices[0]
    assert len(got.notices[0]) < 200


def test_strangers_text_in_a_notice_is_shown_literally():
    got = read(optimizer="[x](javascript:1)", start="<b>hi</b>")
    assert len(got.notices) == 2
    assert "](" not in got.notices[0] and "\\[x\\]\\(javascript\\:1\\)" in got.notices[0]
    assert "<b>" not in got.notices[1] and "\\<b\\>" in got.notices[1]


@pytest.mark.parametrize("value", ["\x00", " \t", "0.5\x00", "\x1b[31m"])
def test_control_characters_never_leave_the_bold_unclosed(value):
    notice = read(lr=value).notices[0]
    bold = re.match(r"Ignored \*\*(.*?)\*\* in the link", notice)
    assert bold and bold.group(1) == bold.group(1).strip(), notice  # "**lr= **" shows its asterisks
    assert not re.search(r"[\x00-\x1f]", notice)


def test_good_values_survive_bad_neighbours():
    got = read(lr="abc", epochs="300", optimizer="", start="fresh", seed=["1", "2"])
    assert got.settings == {"epochs": 300, "start": "fresh"}
    assert len(got.notices) == 3


def test_a_plain_string_counts_as_one_value():
    assert read_settings({"lr": "0.5"}).settings == {"lr": 0.5}


# --- writing the address ---------------------------------------------------------------------------


def test_the_address_carries_only_what_differs_from_the_defaults():
    assert to_params(DEFAULTS, DEFAULTS) == {}
    state = {**DEFAULTS, "lr": 0.00015, "seed": 3, "start": settings.FRESH, "training": object()}
    assert to_params(state, DEFAULTS) == {"lr": "0.00015", "start": "fresh", "seed": "3"}


@pytest.mark.parametrize("lr", settings.LR_CHOICES)
def test_every_setting_round_trips_through_the_address(lr):
    state = {"lr": lr, "epochs": 300, "optimizer": "adam", "start": settings.FRESH, "seed": 2**31 - 1}
    got = read_settings({key: [value] for key, value in to_params(state, DEFAULTS).items()})
    assert got.notices == [] and {**DEFAULTS, **got.settings} == state


class FakeQueryParams(dict):
    """What `sync` needs of st.query_params: one value per key, get_all, item assignment and deletion."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.writes = 0

    def get_all(self, key):
        return [self[key]] if key in self else []

    def __setitem__(self, key, value):
        self.writes += 1
        super().__setitem__(key, value)

    def __delitem__(self, key):
        self.writes += 1
        super().__delitem__(key)


def test_sync_writes_what_changed_and_leaves_other_parameters_alone():
    params = FakeQueryParams(lr="abc", epochs="300", utm_source="mail")
    params.writes = 0
    sync(params, {"epochs": "300", "seed": "3"})
    assert params == {"epochs": "300", "seed": "3", "utm_source": "mail"}
    assert params.writes == 2  # lr removed, seed added; epochs was right already
    sync(params, {"epochs": "300", "seed": "3"})
    assert params.writes == 2


def test_share_url():
    wanted = {"lr": "0.5", "start": "fresh"}
    assert share_url("http://localhost:8501/", wanted) == "http://localhost:8501/?lr=0.5&start=fresh"
    assert share_url("https://x.streamlit.app/?old=1", wanted) == "https://x.streamlit.app/?lr=0.5&start=fresh"
    assert share_url("http://localhost:8501/", {}) == "http://localhost:8501/"
    assert share_url("http://127.0.0.1:8501", wanted) == "http://127.0.0.1:8501/?lr=0.5&start=fresh"
    assert share_url("https://x.streamlit.app/~/+/#top", wanted) == "https://x.streamlit.app/~/+/?lr=0.5&start=fresh"
    assert share_url(None, wanted) == "?lr=0.5&start=fresh"


def test_a_notice_says_what_the_page_uses_instead_of_an_ignored_value():
    got = read_settings({"lr": ["5"], "optimizer": ["rmsprop"], "epochs": ["300.4"]}, DEFAULTS)
    assert got.notices == [
        "Ignored **lr=5** in the link: outside 0.00001 to 1; the page uses lr=0.0075.",
        "**epochs=300\\.4** in the link: not a whole number, so 300.",  # adjusted, not ignored: nothing else to say
        "Ignored **optimizer=rmsprop** in the link: not one of sgd, adam; the page uses optimizer=sgd.",
    ]


def test_several_notices_make_one_message_that_names_every_parameter_first():
    got = read_settings({"lr": ["5"], "optimizer": ["rmsprop"], "epochs": ["300.4"]}, DEFAULTS)
    assert got.message().splitlines() == [
        "Ignored **lr** and **optimizer** in the link, and adjusted **epochs**:",  # what a toast's first lines show
        "",
        "- **lr=5**: outside 0.00001 to 1; the page uses lr=0.0075.",  # the headline's words not again
        "- **epochs=300\\.4**: not a whole number, so 300.",
        "- **optimizer=rmsprop**: not one of sgd, adam; the page uses optimizer=sgd.",
    ]
    adjusted = read_settings({"epochs": ["300.4"], "lr": ["0.004"]}, DEFAULTS)
    assert adjusted.message().startswith("Adjusted **lr** and **epochs** from the link:\n\n- ")


def test_one_notice_is_its_own_message_and_a_good_link_has_none():
    one = read_settings({"lr": ["abc"]}, DEFAULTS)
    assert one.message() == one.notices[0]
    assert read_settings({"lr": ["0.5"]}, DEFAULTS).message() == ""
