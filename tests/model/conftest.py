from pathlib import Path

import pytest

from model.dataset import FILES, load_catvnoncat


@pytest.fixture(scope="session")
def dataset(data_dir):
    """The catvnoncat data, loaded once (arrays are read-only, so sharing is safe)."""
    return load_catvnoncat(data_dir)


@pytest.fixture
def course_copy(data_dir, tmp_path):
    """course_copy(folder, corrupt=()) -> tmp_path/folder holding both course files, those named in
    `corrupt` with one byte flipped (same size, wrong SHA-256)."""

    def copy(folder: str, corrupt=()) -> Path:
        target = tmp_path / folder
        target.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            raw = bytearray((data_dir / name).read_bytes())
            if name in corrupt:
                raw[1000] ^= 0xFF
            (target / name).write_bytes(bytes(raw))
        return target

    return copy
