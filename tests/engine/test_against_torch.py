"""The same expressions in PyTorch give the same values and gradients (skipped without torch)."""
import numpy as np
import pytest

from engine import Value

torch = pytest.importorskip("torch")

rng = np.random.default_rng(1)
X, W, B, Y = rng.normal(size=(6, 4)), rng.normal(size=(3, 4)), rng.normal(size=3), rng.random((6, 3))

EXPRESSIONS = {
    "linear relu mean": lambda x, w, b, y, m: (x @ w.T + b).relu().mean(),
    "bce": lambda x, w, b, y, m: -(y * (x @ w.T + b).sigmoid().log()
                                    + (1 - y) * (1 - (x @ w.T + b).sigmoid()).log()).mean(),
    "tanh exp pow": lambda x, w, b, y, m: ((x @ w.T).tanh().exp() ** 2 / (b * b + 1)).sum(),
    "softplus axis": lambda x, w, b, y, m: m.softplus(x @ w.T - b).sum(axis=0).mean(),
    "indexing": lambda x, w, b, y, m: (x @ w.T + b)[[0, 0, 2], 1:].sum() + w[1].sum(),
    "clip reshape": lambda x, w, b, y, m: m.clip(x @ w.T + b, -0.5, 0.5).reshape(2, 9).mean(axis=1).sum(),
}


class EngineOps:
    softplus = staticmethod(lambda v: v.softplus())
    clip = staticmethod(lambda v, lo, hi: v.clip(lo, hi))


class TorchOps:
    softplus = staticmethod(lambda t: torch.nn.functional.softplus(t))
    clip = staticmethod(lambda t, lo, hi: t.clamp(lo, hi))


@pytest.mark.parametrize("name", EXPRESSIONS)
def test_matches_pytorch(name):
    f = EXPRESSIONS[name]
    ours = [Value(X, requires_grad=False), Value(W), Value(B), Value(Y, requires_grad=False)]
    theirs = [torch.tensor(a, dtype=torch.float64, requires_grad=g)
              for a, g in ((X, False), (W, True), (B, True), (Y, False))]
    out, expected = f(*ours, EngineOps), f(*theirs, TorchOps)
    out.backward()
    expected.backward()
    np.testing.assert_allclose(out.item(), expected.item(), rtol=1e-12)
    for v, t in zip(ours[1:3], theirs[1:3]):
        np.testing.assert_allclose(v.grad, t.grad.numpy(), rtol=1e-10, atol=1e-14)
