"""The settings the page offers: their choices, defaults and bounds, in one place; and how it lays out for a
visitor's device."""
from __future__ import annotations

from model.cat import REFERENCE_EPOCHS, REFERENCE_LR, REFERENCE_OPTIMIZER, REFERENCE_SEED
from model.optim import OPTIMIZERS

# Log-spaced choices for the learning-rate slider: 1, 1.5, 2, 3, 5, 7.5 per decade, 1e-5 ... 1.
LR_CHOICES = tuple(float(f"{m}e{e}") for e in range(-5, 0) for m in (1, 1.5, 2, 3, 5, 7.5)) + (1.0,)
DEFAULT_LR = REFERENCE_LR
# Each optimizer's starting rate. Adam moves every weight by about lr at each step, all 245,973 of them at once,
# so this network wants a far smaller rate than SGD's: over 1,500 epochs 2e-5 trains from either start, while
# 5e-5 switches off every unit of a fresh init and 1.5e-4 throws the pretrained weights off in one step.
DEFAULT_LRS = {"sgd": REFERENCE_LR, "adam": 2e-5}
DEFAULT_EPOCHS = REFERENCE_EPOCHS
MIN_EPOCHS, MAX_EPOCHS = 10, 20_000
STEP_EPOCHS = 10  # what one press of Step trains
OPTIMIZER_LABELS = {name: optimizer.label for name, optimizer in OPTIMIZERS.items()}
DEFAULT_OPTIMIZER = REFERENCE_OPTIMIZER
PRETRAINED, FRESH = "pretrained", "fresh"
STARTS = {PRETRAINED: "Pretrained", FRESH: "Fresh init"}
DEFAULT_SEED = REFERENCE_SEED  # the fresh initialization's seed
MIN_SEED, MAX_SEED = 0, 2**31 - 1  # NumPy takes any 32-bit seed; 2**31 - 1 keeps it a plain int everywhere
EVAL_EVERY = 10  # the Trainer records a history row every this many epochs


def lr_after_switch(lr: float, old_optimizer: str, new_optimizer: str) -> float:
    """The learning rate after a switch of optimizer: the new one's own if the visitor had kept the old one's."""
    return DEFAULT_LRS[new_optimizer] if lr == DEFAULT_LRS[old_optimizer] else lr


def is_phone(user_agent: str | None) -> bool:
    """Whether the page lays out for a phone: its browser says "Mobi" in its User-Agent, as MDN advises (tablets,
    wide enough for the desktop layout, do not)."""
    return "Mobi" in (user_agent or "")
