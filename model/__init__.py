"""micrograd-np's model side: layers, losses, optimizers, the dataset, images, weight files, training.

Streamlit-free, so every piece is unit-tested and the app stays a thin page. The names below are
imported on first use (PEP 562), so `python -m model.dataset` (`make data`) loads only what it needs
and runs without runpy's "found in sys.modules" warning.
"""
import importlib

_EXPORTS = {
    "model.dataset": ["load_catvnoncat"],
    "model.losses": ["bce_with_logits", "binary_cross_entropy"],
    "model.nn": ["Linear", "Module", "ReLU", "Sequential", "Sigmoid", "cat_mlp", "predict", "predict_proba"],
    "model.optim": ["SGD", "Adam"],
    "model.trainer": ["Trainer"],
    "model.weights": ["load_weights", "save_weights"],
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_HOME)


def __getattr__(name):
    if name in _HOME:
        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(f"module 'model' has no attribute {name!r}")


def __dir__():
    return __all__
