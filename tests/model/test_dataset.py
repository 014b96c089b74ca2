"""model.dataset: loading, the read-only arrays, and the checksum guard on every load (fetching: test_fetch.py)."""

import numpy as np
import pytest

from model import dataset
from model.dataset import FILES, DatasetError, check_catvnoncat, load_catvnoncat, read_only
from model.paths import REPO_ROOT


@pytest.fixture(scope="module")
def ds(data_dir):
    return load_catvnoncat(data_dir)



def test_shapes_and_dtypes(ds):
    assert ds.x_train.shape == (209, 12288) and ds.x_train.dtype == np.float64
    assert ds.y_train.shape == (209, 1) and ds.y_train.dtype == np.float64
    assert ds.x_test.shape == (50, 12288) and ds.x_test.dtype == np.float64
    assert ds.y_test.shape == (50, 1) and ds.y_test.dtype == np.float64
    assert ds.images_train.shape == (209, 64, 64, 3) and ds.images_train.dtype == np.uint8
    assert ds.images_test.shape == (50, 64, 64, 3) and ds.images_test.dtype == np.uint8


def test_ranges_and_labels(ds):
    for x in (ds.x_train, ds.x_test):
        assert x.min() >= 0.0 and x.max() <= 1.0 and x.max() > 0.9
    for y in (ds.y_train, ds.y_test):
        assert set(np.unique(y)) == {0.0, 1.0}
    assert int(ds.y_train.sum()) == 72
    assert int(ds.y_test.sum()) == 33


def test_classes(ds):
    assert ds.classes == ["non-cat", "cat"]
    assert all(type(c) is str for c in ds.classes)


def test_image_to_x_layout(ds):
    for i in (0, 1, 100, 208):
        np.testing.assert_array_equal(ds.x_train[i], ds.images_train[i].reshape(-1) / 255)
    np.testing.assert_array_equal(ds.x_test[49], ds.images_test[49].reshape(-1) / 255)
    # channel fastest: element 0..2 are the R, G, B of pixel (0, 0)
    np.testing.assert_array_equal(ds.x_train[3, :3], ds.images_train[3, 0, 0, :] / 255)


def test_arrays_are_read_only(ds):
    for name in ("x_train", "y_train", "x_test", "y_test", "images_train", "images_test"):
        arr = getattr(ds, name)
        assert not arr.flags.writeable, name
        with pytest.raises(ValueError):
            arr[0] = 0
    with pytest.raises(AttributeError):  # frozen dataclass
        ds.x_train = None


def test_default_dir_works_from_any_cwd(data_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_catvnoncat().x_train.shape == (209, 12288)
    assert load_catvnoncat("data").x_test.shape == (50, 12288)  # relative: falls back to the repo root
    monkeypatch.chdir(REPO_ROOT)
    assert load_catvnoncat("data").y_test.shape == (50, 1)
    assert load_catvnoncat(str(data_dir)).y_train.shape == (209, 1)


def test_repr_is_short(ds):
    text = repr(ds)
    assert "209" in text and "72 cats" in text and len(text) < 200


@pytest.mark.parametrize("name", FILES)
def test_checksum_failure_names_file_and_make_data(course_copy, name):
    folder = course_copy("d", corrupt=[name])
    with pytest.raises(DatasetError) as info:
        load_catvnoncat(folder)
    msg = str(info.value)
    assert name in msg and "make data" in msg and "SHA-256" in msg
    assert "\n" not in msg


@pytest.mark.parametrize("name", FILES)
def test_missing_file(course_copy, name):
    folder = course_copy("d")
    (folder / name).unlink()
    with pytest.raises(DatasetError, match="missing") as info:
        load_catvnoncat(folder)
    assert name in str(info.value) and "make data" in str(info.value)


def test_missing_folder(tmp_path):
    with pytest.raises(DatasetError, match="make data"):
        load_catvnoncat(tmp_path / "nowhere")


def test_unreadable_h5_with_matching_hash(tmp_path, monkeypatch):
    folder = tmp_path / "d"
    folder.mkdir()
    for name in FILES:
        (folder / name).write_bytes(b"not an HDF5 file " + name.encode())
        monkeypatch.setitem(dataset.SHA256, name, dataset.sha256_of(folder / name))
    with pytest.raises(DatasetError, match="not a readable") as info:
        load_catvnoncat(folder)
    assert "train_catvnoncat.h5" in str(info.value) and "make data" in str(info.value)


def test_check_returns_the_paths_of_good_files(data_dir, course_copy):
    assert check_catvnoncat(data_dir) == [data_dir / name for name in FILES]
    with pytest.raises(DatasetError, match="wrong SHA-256"):
        check_catvnoncat(course_copy("d", corrupt=[FILES[1]]))


def test_read_only_marks_and_returns_the_same_array():
    array = np.zeros(3)
    assert read_only(array) is array and not array.flags.writeable
