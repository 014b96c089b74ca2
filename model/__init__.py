"""micrograd-np's machine learning: layers, fused ops, the cat task, optimizers, data, weight files, training.

Streamlit-free; README "Where things live" maps each module.
"""
from model.cat import CLASSES, INPUT_SIZE, cat_mlp, is_cat, predict, predict_proba
from model.dataset import load_catvnoncat
from model.explain import saliency
from model.functional import bce_with_logits, binary_cross_entropy, linear
from model.nn import Linear, Module, ReLU, Sequential, Sigmoid
from model.optim import OPTIMIZERS, SGD, Adam
from model.trainer import Divergence, Trainer
from model.weights import load_weights, save_weights

__all__ = [
    "CLASSES", "INPUT_SIZE", "OPTIMIZERS", "SGD", "Adam", "Divergence", "Linear", "Module", "ReLU", "Sequential",
    "Sigmoid", "Trainer", "bce_with_logits", "binary_cross_entropy", "cat_mlp", "is_cat", "linear",
    "load_catvnoncat", "load_weights", "predict", "predict_proba", "saliency", "save_weights",
]
