"""ui.text: Markdown escaping of strangers' text (file names) and of our own messages."""
import re

import pytest

from ui.text import WORD_JOINER, escape_markdown, escape_markdown_keep_code

MARKUP = [
    "[x](javascript:alert(1)).png",
    "<b>bold</b>.png",
    "<img src=x onerror=alert(1)>.png",
    "**strong** _em_ ~~strike~~ `code`.jpg",
    ":red[alert] :material/home: :cat:.png",
    "$\\frac{1}{2}$ and $$x$$.png",
    "# heading.png",
    "http://evil.example/x www.evil.example.png",
    "a | b | c.png",
    "line\nbreak\r\n.png",
]


@pytest.mark.parametrize("name", MARKUP)
def test_escape_markdown_escapes_every_active_character(name):
    escaped = escape_markdown(name)
    assert "\n" not in escaped and "\r" not in escaped
    # Every ASCII punctuation character is preceded by an (unescaped) backslash.
    i = 0
    while i < len(escaped):
        c = escaped[i]
        if c == "\\":
            assert i + 1 < len(escaped) and not escaped[i + 1].isalnum(), escaped
            i += 2
            continue
        assert c.isalnum() or c == " " or not c.isascii(), f"unescaped {c!r} in {escaped!r}"
        i += 1
    # Undoing the escapes gives the text back (line breaks as spaces, word joiners aside).
    assert re.sub(r"\\(.)", r"\1", escaped).replace(WORD_JOINER, "") == re.sub(r"[\r\n]+", " ", name)


# What GitHub's Markdown (remark-gfm, in Streamlit's page) links in plain text, escapes already undone
GFM_AUTOLINKS = [re.compile(r"(https?://|www(?=\.))[-.\w]+", re.IGNORECASE), re.compile(r"[-.\w+]+@[-\w]+(\.[-\w]+)+")]


@pytest.mark.parametrize("name", ["see https://evil.example/x", "HTTP://EVIL.example", "www.evil.example.png",
                                  "write to a@b.example", "mailto:a@b.example", "xmpp:a@b.example"])
def test_escape_markdown_leaves_no_address_that_would_become_a_link(name):
    assert any(pattern.search(name) for pattern in GFM_AUTOLINKS)  # the pattern would link the raw text
    text_as_rendered = re.sub(r"\\(.)", r"\1", escape_markdown(name))
    assert not any(pattern.search(text_as_rendered) for pattern in GFM_AUTOLINKS), text_as_rendered
    assert text_as_rendered.replace(WORD_JOINER, "") == name  # and it reads the same


def test_escape_markdown_keep_code_keeps_our_code_spans():
    text = "cat_mlp.npz does not exist (run `make weights` to train it)"
    assert escape_markdown_keep_code(text) == (
        "cat\\_mlp\\.npz does not exist \\(run `make weights` to train it\\)")
    assert escape_markdown_keep_code("a `b") == "a \\`b"
