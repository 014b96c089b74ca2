"""Optimizers: they read each parameter's `.grad` and update `.data` in place, outside any graph; and how a
learning rate is written for people (`format_lr`)."""
import numpy as np


class Optimizer:
    """Updates `params` in place from their `.grad`; `label` is the name people know it by, `update_rule` what it
    does to a parameter `{w}` with its gradient, in words and Python (the page's texts format it)."""

    label = ""
    update_rule = ""

    def __init__(self, params, lr: float):
        self.params = list(params)
        self.lr = lr

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def reset(self) -> None:
        """Forget any running state (after a diverged step has been rolled back)."""

    def step(self, measure: bool = False) -> list[float] | None:
        """Update every parameter; with `measure`, return each update's norm ||new - old|| (layer health)."""
        raise NotImplementedError


class SGD(Optimizer):
    """Plain gradient descent: w <- w - lr * dL/dw.

    The update runs over blocks of at most 32768 numbers, so `lr * grad` is never a whole-layer
    temporary: a fresh 2 MB array each step is handed back to the OS and faulted in again (~900 page
    faults, a quarter of a float64 step) and adds 2 MB to the peak. Same arithmetic, same bits.
    """

    label = "SGD"
    update_rule = "a small step against its gradient, `{w} -= lr * {w}.grad`"
    BLOCK = 1 << 15

    def step(self, measure: bool = False) -> list[float] | None:
        norms = [self.lr * float(np.linalg.norm(p.grad)) for p in self.params] if measure else None
        for p in self.params:
            w, g = p.data, p.grad
            if w.size <= self.BLOCK or not w.flags.c_contiguous:
                w -= self.lr * g
                continue
            w, g = w.reshape(-1), g.reshape(-1)  # w is contiguous: a view, so the updates land in the weights
            for i in range(0, w.size, self.BLOCK):
                w[i : i + self.BLOCK] -= self.lr * g[i : i + self.BLOCK]
        return norms


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015): per-weight steps scaled by running moments of the gradient.

    Algorithm 1 of the paper (and PyTorch's): eps is added to the bias-corrected sqrt(v_hat), so
    weights whose gradients are tiny still take steps of about lr.
    """

    label = "Adam"
    update_rule = ("a step against its gradient, scaled by running averages of `{w}.grad` and of its square, so "
                   "each weight gets a step size of its own")

    def __init__(self, params, lr: float = 0.001, betas=(0.9, 0.999), eps: float = 1e-8):
        super().__init__(params, lr)
        self.betas, self.eps = betas, eps
        self.reset()

    def reset(self) -> None:
        self.t = 0
        self.m = [np.zeros_like(p.data) for p in self.params]
        self.v = [np.zeros_like(p.data) for p in self.params]

    def step(self, measure: bool = False) -> list[float] | None:
        b1, b2 = self.betas
        self.t += 1
        # Python floats keep float32 weights float32.
        step_size = self.lr / (1 - b1**self.t)
        v_scale = 1 / (1 - b2**self.t) ** 0.5
        norms = [] if measure else None
        for p, m, v in zip(self.params, self.m, self.v):
            g = p.grad
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * (g * g)
            update = step_size * m / (np.sqrt(v) * v_scale + self.eps)
            if measure:
                norms.append(float(np.linalg.norm(update)))
            p.data -= update
        return norms


# Every optimizer the Trainer, the CLI and the page offer, by the name they are chosen with.
OPTIMIZERS = {"sgd": SGD, "adam": Adam}


def format_lr(lr: float) -> str:
    """0.0075 -> '0.0075', 1.0 -> '1', 0.00015 -> '0.00015' (never scientific notation)."""
    text = f"{lr:.6f}".rstrip("0").rstrip(".")
    return text or "0"
