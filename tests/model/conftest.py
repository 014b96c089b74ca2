import pytest

from model.dataset import load_catvnoncat


@pytest.fixture(scope="session")
def dataset(data_dir):
    """The catvnoncat data, loaded once (arrays are read-only, so sharing is safe)."""
    return load_catvnoncat(data_dir)
