"""Fixtures for the AppTest tests: the page started in-process, with the data set and the weights either
present or made missing through the env vars the page reads (MICROGRAD_DATA_DIR, MICROGRAD_WEIGHTS)."""

import pytest
from streamlit.testing.v1 import AppTest

from model.paths import REPO_ROOT
from ui.resources import DATA_ENV, WEIGHTS_ENV

APP = REPO_ROOT / "app.py"
TIMEOUT = 60  # seconds per script run: generous, the CI machine may be busy


@pytest.fixture
def start_app(monkeypatch, data_dir, weights_path):
    """start_app(data_dir=..., weights=...) -> an AppTest that has run once.

    By default the page gets the real data set and weights; pass a path that does not exist (or a
    corrupt file) to simulate a checkout without them.
    """

    def start(data=data_dir, weights=weights_path) -> AppTest:
        monkeypatch.setenv(DATA_ENV, str(data))
        monkeypatch.setenv(WEIGHTS_ENV, str(weights))
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
        at.run()
        return at

    return start


@pytest.fixture
def app(start_app) -> AppTest:
    """The page with the data set and the pretrained weights, after its first run."""
    return start_app()
