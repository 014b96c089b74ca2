"""Fixtures for the page-logic tests: the shared resources the page loads, with and without the data set."""
import pytest

from ui import resources as shared


@pytest.fixture(scope="session")
def resources(data_dir, weights_path) -> shared.Resources:
    """The pretrained model and the data set, as the page loads them (read-only, so shared by every test)."""
    res = shared.load_resources(data_dir, weights_path)
    assert res.model is not None and res.data is not None
    return res
