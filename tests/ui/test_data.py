"""The page's "Download the data set" path against local HTTP servers: success, a wrong file, offline, two
visitors at once. Never the internet."""
import re
import threading
from pathlib import Path

import pytest

from model import dataset
from model.dataset import FILES, SHA256, load_catvnoncat
from ui import data
from ui.data import FetchProgress, fetch_data

pytestmark = pytest.mark.usefixtures("local_only")  # tests/local_servers.py: never the internet


def plain(markdown: str) -> str:
    """The text a reader sees: Markdown's backslash escapes removed."""
    return re.sub(r"\\(.)", r"\1", markdown)


def assert_one_paragraph_with_the_manual_ways(message: str) -> None:
    assert message.startswith("**The data set could not be downloaded.** ")
    assert "\n" not in message
    text = plain(message)
    assert "CATVNONCAT_DIR" in text and "`make data`" in message  # a code span the page shows as code


def corrupt_copy(data_dir: Path, folder: Path) -> Path:
    """Both course files with one byte flipped: same size, wrong SHA-256."""
    folder.mkdir()
    for name in FILES:
        raw = bytearray((data_dir / name).read_bytes())
        raw[1000] ^= 0xFF
        (folder / name).write_bytes(bytes(raw))
    return folder


def test_the_page_downloads_from_catvnoncat_urls_with_progress(data_dir, tmp_path, serve, monkeypatch):  # noqa: F811
    server = serve(data_dir)
    monkeypatch.setenv(dataset.URLS_ENV, f"{empty_mirror(tmp_path)} {server.url}")
    reports = []
    dest = tmp_path / "page-data"
    fetched = fetch_data(dest, lambda fraction, text: reports.append((fraction, text)))
    assert fetched == data.Fetched(True)
    assert dict(server.requests) == {name: 1 for name in FILES}
    for name in FILES:
        assert dataset.sha256_of(dest / name) == SHA256[name]
    assert sorted(p.name for p in dest.iterdir()) == sorted(FILES)  # no partial files left
    assert load_catvnoncat(dest).x_train.shape[0] == 209

    fractions = [f for f, _ in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and 0 < fractions[0] < 0.5
    assert 2 < len(reports) <= 2 * 101  # whole percents only: a few dozen messages, not one per 64 KB
    assert any(t.startswith(f"{FILES[0]} (file 1 of 2): ") for _, t in reports)
    assert re.fullmatch(rf"{FILES[1]} \(file 2 of 2\): (\d+\.\d) of \1 MB", reports[-1][1])


def empty_mirror(tmp_path: Path) -> str:
    """A first mirror that fails (a file: URL of a folder with nothing in it): the page must try the next."""
    return (tmp_path / "empty-mirror").as_uri() + "/"


def test_files_already_in_place_are_kept(data_dir, tmp_path, serve):  # noqa: F811
    server = serve(data_dir)
    dest = tmp_path / "dest"
    assert fetch_data(dest, urls=[server.url]).ok
    mtimes = [(dest / name).stat().st_mtime_ns for name in FILES]
    assert fetch_data(dest, urls=[server.url]).ok
    assert [(dest / name).stat().st_mtime_ns for name in FILES] == mtimes
    assert sum(server.requests.values()) == 2


def test_a_mirror_with_the_wrong_files_installs_nothing(data_dir, tmp_path, serve):  # noqa: F811
    server = serve(corrupt_copy(data_dir, tmp_path / "tampered"))
    dest = tmp_path / "dest"
    fetched = fetch_data(dest, urls=[server.url])
    assert not fetched.ok
    assert_one_paragraph_with_the_manual_ways(fetched.message)
    text = plain(fetched.message)
    assert f"{server.url}{FILES[0]} (wrong SHA-256)" in text
    assert list(dest.iterdir()) == []  # neither the bad file nor a partial one


def test_offline_says_what_failed_at_once(tmp_path, refused_url):  # noqa: F811
    fetched = fetch_data(tmp_path / "dest", urls=[refused_url])
    assert not fetched.ok
    assert_one_paragraph_with_the_manual_ways(fetched.message)
    assert f"{refused_url}{FILES[0]} (connection refused)" in plain(fetched.message)


def test_the_built_in_mirrors_when_nothing_is_set(tmp_path, refused_url):  # noqa: F811
    fetched = fetch_data(tmp_path / "dest")  # MIRRORS is patched to a refused port above
    assert not fetched.ok and f"{refused_url}{FILES[0]}" in plain(fetched.message)


def test_two_visitors_pressing_at_once_download_once(data_dir, tmp_path, serve):  # noqa: F811
    server = serve(data_dir, delay=0.3)  # keeps the first download in flight while the second visitor asks
    dest = tmp_path / "shared-data"
    results, started = [None, None], threading.Barrier(2)

    def visitor(i):
        started.wait()
        results[i] = fetch_data(dest, lambda fraction, text: None, urls=[server.url])

    threads = [threading.Thread(target=visitor, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == [data.Fetched(True), data.Fetched(True)]
    assert dict(server.requests) == {name: 1 for name in FILES}


def test_an_unwritable_data_folder_names_the_folder_setting(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    fetched = fetch_data(blocker / "data", urls=[])
    assert not fetched.ok
    assert_one_paragraph_with_the_manual_ways(fetched.message)
    text = plain(fetched.message)
    assert "cannot create" in text.lower() and "MICROGRAD_DATA_DIR" in text and str(blocker / "data") in text


def test_an_unexpected_error_becomes_a_message(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(data, "fetch_catvnoncat", broken)
    fetched = fetch_data(tmp_path / "dest")
    assert not fetched.ok
    assert_one_paragraph_with_the_manual_ways(fetched.message)
    assert "Unexpected RuntimeError: disk on fire" in plain(fetched.message)


class PageStopped(BaseException):
    """Like Streamlit's StopException / RerunException: a BaseException that ends the script run."""


def test_a_stopped_page_run_stops_the_download_and_leaves_nothing(data_dir, tmp_path, serve):  # noqa: F811
    server = serve(data_dir)
    dest = tmp_path / "dest"

    def report(fraction, text):
        raise PageStopped

    with pytest.raises(PageStopped):
        fetch_data(dest, report, urls=[server.url])
    assert list(dest.iterdir()) == []


def test_strangers_text_in_the_message_is_shown_literally(tmp_path, refused_url):  # noqa: F811
    hostile = f"{refused_url}[x](javascript:alert(1))/"  # CATVNONCAT_URLS is whatever the host set
    fetched = fetch_data(tmp_path / "dest", urls=[hostile])
    assert not fetched.ok and "[x](javascript:alert(1))" in plain(fetched.message)
    assert "](" not in fetched.message.replace("\\](", "").replace("\\]\\(", "")


def test_progress_fills_one_bar_for_both_files():
    reports = []
    progress = FetchProgress(lambda fraction, text: reports.append((round(fraction, 3), text)), files=("a", "b"))
    for done in range(0, 2_600_001, 26_000):  # file a in 100 chunks: a message per whole percent of the bar
        progress(done, 2_600_000, "a")
    progress(300_000, 600_000, "b")
    progress(300_000, 600_000, "b")  # no change: no message
    progress(600_000, 600_000, "b")
    assert len(reports) == 51 + 2 and [f for f, _ in reports][:3] == [0.0, 0.01, 0.02]
    assert reports[50] == (0.5, "a (file 1 of 2): 2.6 of 2.6 MB")
    assert reports[-2:] == [(0.75, "b (file 2 of 2): 0.3 of 0.6 MB"), (1.0, "b (file 2 of 2): 0.6 of 0.6 MB")]


def test_progress_without_a_length_shows_the_bytes_so_far():
    reports = []
    progress = FetchProgress(lambda fraction, text: reports.append((fraction, text)), files=("a", "b"))
    progress(250_000, None, "b")
    progress(260_000, None, "b")  # less than 0.1 MB more: no message
    progress(1_500_000, None, "b")
    assert reports == [(0.5, "b (file 2 of 2): 0.2 MB"), (0.5, "b (file 2 of 2): 1.5 MB")]
