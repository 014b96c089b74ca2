import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from model.cat import cat_mlp, predict, predict_proba
from model.weights import WeightsError, load_weights, save_weights, weights_bytes

SHIPPED = Path(__file__).resolve().parents[2] / "weights" / "cat_mlp.npz"
X = np.random.default_rng(0).random((3, 12288))


def small_model(seed=1):
    return cat_mlp(dims=(6, 4, 1), seed=seed)


def test_round_trip_keeps_predictions_and_metadata(tmp_path):
    model = cat_mlp(seed=1)
    meta = save_weights(model, tmp_path / "m.npz", epochs=3, lr=0.0075, optimizer="sgd",
                        train_accuracy=np.float64(0.5))
    loaded, read = load_weights(tmp_path / "m.npz")
    np.testing.assert_array_equal(predict_proba(loaded, X), predict_proba(model, X))
    assert read == meta
    assert read["layers"][:2] == [{"type": "Linear", "in": 12288, "out": 20}, {"type": "ReLU"}]
    assert read["layers"][-1] == {"type": "Sigmoid"}
    assert {"preprocessing", "dtype", "created", "epochs", "lr", "optimizer"} <= set(read)
    assert read["train_accuracy"] == 0.5


def test_float32_models_stay_float32(tmp_path):
    save_weights(small_model().astype(np.float32), tmp_path / "m.npz")
    model, meta = load_weights(tmp_path / "m.npz")
    assert meta["dtype"] == "float32" and all(p.dtype == np.float32 for p in model.parameters())


def test_bytes_for_a_download_load_back():
    model = small_model()
    loaded, _ = load_weights(weights_bytes(model, epochs=1))
    np.testing.assert_array_equal(loaded.layers[0].weight.data, model.layers[0].weight.data)


def test_an_interrupted_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    save_weights(small_model(seed=1), path)
    before = path.read_bytes()

    def crash(file, **arrays):
        file.write(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        save_weights(small_model(seed=2), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def test_the_shipped_weights_score_as_stated(dataset):
    model, meta = load_weights(SHIPPED)
    train = np.mean(predict(model, dataset.x_train) == dataset.y_train)
    test = np.mean(predict(model, dataset.x_test) == dataset.y_test)
    assert train >= 0.98 and test >= 0.80
    assert (meta["epochs"], meta["lr"], meta["optimizer"], meta["seed"]) == (2500, 0.0075, "sgd", 1)
    assert meta["train_accuracy"] == pytest.approx(train) and meta["test_accuracy"] == pytest.approx(test)


# ---------------------------------------------------------------- every kind of bad file
def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def good_arrays():
    with np.load(io.BytesIO(weights_bytes(small_model())), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def with_meta(arrays, **changes):
    meta = json.loads(str(arrays["__meta__"]))
    meta.update(changes)
    return {**arrays, "__meta__": np.array(json.dumps(meta))}


def corrupt(case) -> bytes:
    good = weights_bytes(small_model())
    arrays = good_arrays()
    if case == "truncated":
        return good[: len(good) // 2]
    if case == "empty":
        return b""
    if case == "not a zip":
        return b"\x89PNG\r\n\x1a\n" + bytes(100)
    if case == "missing array":
        return npz_bytes(**{k: v for k, v in arrays.items() if k != "2.bias"})
    if case == "extra array":
        return npz_bytes(**arrays, extra=np.zeros(3))
    if case == "wrong shape":
        return npz_bytes(**{**arrays, "0.weight": np.zeros((4, 7))})
    if case == "other architecture":
        return npz_bytes(**with_meta(arrays, layers=[{"type": "Linear", "in": 6, "out": 1}, {"type": "Sigmoid"}]))
    if case == "unknown layer":
        return npz_bytes(**with_meta(arrays, layers=[{"type": "Softmax"}]))
    if case == "bad sizes":
        return npz_bytes(**with_meta(arrays, layers=[{"type": "Linear", "in": -6, "out": "4"}]))
    if case == "no metadata":
        return npz_bytes(**{k: v for k, v in arrays.items() if k != "__meta__"})
    if case == "bad json":
        return npz_bytes(**{**arrays, "__meta__": np.array("{not json")})
    if case == "other format":
        return npz_bytes(**with_meta(arrays, format="keras"))
    if case == "integer dtype":
        return npz_bytes(**with_meta(arrays, dtype="int64"))
    if case == "npy file":
        buffer = io.BytesIO()
        np.save(buffer, np.zeros(3))
        return buffer.getvalue()
    if case in ("unknown dtype", "dtype not text"):
        return npz_bytes(**with_meta(arrays, dtype="foo" if case == "unknown dtype" else [4]))
    if case == "nan weights":
        return npz_bytes(**{**arrays, "0.bias": np.full(4, np.nan)})
    if case == "pickled object":
        return npz_bytes(**{**arrays, "0.bias": np.array([{"evil": 1}] * 4, dtype=object)})
    raise AssertionError(case)


CASES = ["truncated", "empty", "not a zip", "missing array", "extra array", "wrong shape", "other architecture",
         "unknown layer", "bad sizes", "no metadata", "bad json", "other format", "integer dtype",
         "unknown dtype", "dtype not text", "npy file", "nan weights", "pickled object"]


@pytest.mark.parametrize("case", CASES)
def test_every_corruption_is_a_clear_error(case, tmp_path):
    path = tmp_path / "broken.npz"
    path.write_bytes(corrupt(case))
    with pytest.raises(WeightsError) as error:
        load_weights(path)
    message = str(error.value)
    assert "broken.npz" in message and "\n" not in message


def test_a_missing_file_says_how_to_make_it(tmp_path):
    with pytest.raises(WeightsError, match="does not exist.*make weights"):
        load_weights(tmp_path / "nope.npz")


def test_no_pickle_is_ever_loaded(tmp_path, monkeypatch):
    import pickle

    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled"))
    path = tmp_path / "p.npz"
    path.write_bytes(corrupt("pickled object"))
    with pytest.raises(WeightsError):
        load_weights(path)


def test_weight_files_are_plain_zip_archives_of_npy(tmp_path):
    save_weights(small_model(), tmp_path / "m.npz")
    with zipfile.ZipFile(tmp_path / "m.npz") as z:
        assert sorted(z.namelist()) == sorted(
            ["0.weight.npy", "0.bias.npy", "2.weight.npy", "2.bias.npy", "__meta__.npy"])
