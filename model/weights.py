"""Weight files: a plain .npz of arrays plus one JSON string naming every layer, so the file alone rebuilds
the model. No pickle; saves are atomic (a temporary file beside the target, then a rename).
"""
from __future__ import annotations

import datetime
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from model.nn import LAYERS, Linear, Sequential

FORMAT = "micrograd-np weights v1"
META_KEY = "__meta__"
DEFAULT_DTYPE = "float64"  # what a file's weights are read as when its metadata does not say
PREPROCESSING = "RGB 64x64, x = pixels.reshape(m, -1) / 255 (row-major, channel fastest)"


class WeightsError(ValueError):
    """A weight file that cannot be used; the message says why in one sentence."""


def architecture(model: Sequential) -> list[dict]:
    """The JSON description of a Sequential's layers."""
    spec = []
    for layer in model.layers:
        if isinstance(layer, Linear):
            spec.append({"type": "Linear", "in": layer.n_in, "out": layer.n_out})
        elif LAYERS.get(type(layer).__name__) is type(layer):
            spec.append({"type": type(layer).__name__})
        else:
            raise TypeError(f"cannot describe layer {layer!r} in a weight file")
    return spec


def build(spec: list[dict]) -> Sequential:
    """An (untrained) Sequential from `architecture()`'s description."""
    layers = []
    for item in spec:
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "Linear":
            n_in, n_out = item.get("in"), item.get("out")
            if not (isinstance(n_in, int) and isinstance(n_out, int) and n_in > 0 and n_out > 0):
                raise WeightsError(f"the layer description {item} has no valid sizes")
            layers.append(Linear(n_in, n_out, np.random.RandomState(0)))
        elif kind in LAYERS and kind != "Linear":
            layers.append(LAYERS[kind]())
        else:
            raise WeightsError(f"unknown layer {item!r} in the weight file")
    return Sequential(*layers)


def save_weights(model: Sequential, path, **meta) -> dict:
    """Write `model` and `meta` (epochs, lr, accuracies, ...) to `path` (a path or a binary file object).

    Returns the metadata as written.
    """
    params = model.parameters()
    meta = {
        "format": FORMAT,
        "layers": architecture(model),
        "preprocessing": PREPROCESSING,
        "dtype": str(params[0].dtype) if params else DEFAULT_DTYPE,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **meta,
    }
    arrays = {**model.state_dict(), META_KEY: np.array(json.dumps(meta, default=_jsonable))}
    if hasattr(path, "write"):
        np.savez(path, **arrays)
        return meta
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return meta


def weights_bytes(model: Sequential, **meta) -> bytes:
    """The weight file as bytes (for a download button)."""
    buffer = io.BytesIO()
    save_weights(model, buffer, **meta)
    return buffer.getvalue()


def load_weights(path) -> tuple[Sequential, dict]:
    """Rebuild the model stored in `path` (a path, a file object or bytes); returns (model, meta).

    Any problem (not a weight file, truncated, missing or extra arrays, wrong shapes, non-finite
    values, an unknown layer) raises WeightsError saying which.
    """
    source = io.BytesIO(path) if isinstance(path, (bytes, bytearray)) else path
    name = Path(path).name if isinstance(path, (str, os.PathLike)) else "the weight file"
    try:
        loaded = np.load(source, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a .npy file: one bare array
            raise WeightsError(f"{name} holds a single array (.npy), not a weight file (.npz)")
        with loaded as npz:
            arrays = {key: npz[key] for key in npz.files}
    except FileNotFoundError:
        raise WeightsError(f"{name} does not exist (run `make weights` to train it)") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise WeightsError(f"{name} is not a readable weight file (.npz): {e}") from None
    if META_KEY not in arrays:
        raise WeightsError(f"{name} has no metadata: it was not written by micrograd-np")
    try:
        meta = json.loads(str(arrays.pop(META_KEY)))
        if meta.get("format") != FORMAT:
            raise WeightsError(f"format {meta.get('format')!r}, expected {FORMAT!r}")
        model = build(meta["layers"])
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
        raise WeightsError(f"{name} has unreadable metadata") from None
    except WeightsError as e:
        raise WeightsError(f"{name}: {e}") from None
    dtype = meta.get("dtype", DEFAULT_DTYPE)
    if dtype not in ("float32", "float64"):  # compared as text: np.dtype() of a stranger's string may raise anything
        raise WeightsError(f"{name} has dtype {dtype!r}; expected float32 or float64")
    try:
        model.astype(dtype).load_state_dict(arrays)
    except ValueError as e:
        raise WeightsError(f"{name} does not match its architecture: {e}") from None
    if not all(np.isfinite(p.data).all() for p in model.parameters()):
        raise WeightsError(f"{name} contains infinite or NaN weights")
    return model, meta


def _jsonable(value):
    """numpy scalars in metadata (an accuracy, an lr) become plain numbers."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def clone_model(model: Sequential, dtype=None) -> Sequential:
    """A new model with the same layers and copies of the weights, optionally in another dtype."""
    clone = build(architecture(model))
    clone.astype(model.parameters()[0].dtype if dtype is None else dtype)
    clone.load_state_dict(model.state_dict())
    return clone
