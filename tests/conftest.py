# Shared fixtures for the whole suite. Keep this file small: put fixtures that only one area needs
# in that area's own conftest.py (tests/engine/, tests/model/, tests/app/, tests/e2e/).
import os
from pathlib import Path

import pytest

from model.paths import DATA_DIR, WEIGHTS_FILE

pytest_plugins = ["tests.local_servers"]  # local HTTP servers for the tests that fetch the data set


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The project's data/ folder with both catvnoncat files (`make data` puts them there).

    Without the files the tests that need them skip on a developer's machine, but fail in CI (env CI
    set), where a silent skip would hide a broken `make data`.
    """
    folder = DATA_DIR
    missing = [n for n in ("train_catvnoncat.h5", "test_catvnoncat.h5") if not (folder / n).is_file()]
    if missing:
        msg = f"{', '.join(missing)} not in {folder}; run `make data`"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return folder


@pytest.fixture(scope="session")
def weights_path() -> Path:
    """The shipped pretrained weights (skipped on a developer machine without them, failed in CI)."""
    if not WEIGHTS_FILE.is_file():
        msg = f"{WEIGHTS_FILE} is missing; run `make weights`"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return WEIGHTS_FILE
