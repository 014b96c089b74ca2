"""The public seams the teaching views use: op, parents, topological_order(), backward_steps()."""
import numpy as np
import pytest

from engine import Value, no_grad


def small_step(seed=0):
    """A tiny two-layer training step with a node used twice, so the walk has a real order to respect."""
    rng = np.random.default_rng(seed)
    x = Value(rng.standard_normal((5, 4)), requires_grad=False)
    w1, b1 = Value(rng.standard_normal((3, 4))), Value(np.zeros(3))
    w2 = Value(rng.standard_normal((1, 3)))
    h = (x @ w1.T + b1).relu()
    z = h @ w2.T
    loss = (z * z + z).mean()  # z feeds two ops: its gradient needs both shares
    return loss, (w1, b1, w2)


def test_op_and_parents_describe_the_graph():
    a, b = Value(2.0), Value(3.0)
    c = a * b
    assert (a.op, c.op, (c + 1).op) == ("", "mul", "add")
    assert c.parents == (a, b) and a.parents == ()
    k = Value(1.0, requires_grad=False)
    assert (a * k).parents == (a,)  # a constant receives no gradient, so it is no parent


def test_topological_order_puts_operands_before_results_and_self_last():
    loss, params = small_step()
    order = loss.topological_order()
    assert order[-1] is loss
    position = {id(node): i for i, node in enumerate(order)}
    for node in order:
        for parent in node.parents:
            assert position[id(parent)] < position[id(node)]
    assert all(any(node is p for node in order) for p in params)
    assert len({id(n) for n in order}) == len(order)


def test_topological_order_is_the_order_the_nodes_were_made_in():
    a = Value(1.0)
    t = a * 2
    b = Value(3.0)  # a leaf made after an op
    u = b + 1
    loss = u * t  # a depth-first walk from here would reach u's side (b) before t's
    assert loss.topological_order() == [a, t, b, u, loss]


def test_backward_steps_yields_the_reverse_order_with_complete_gradients():
    loss, _ = small_step()
    order = loss.topological_order()
    seen = []
    for node in loss.backward_steps():
        seen.append(node)
        # everything that used `node` has already been visited: its gradient is final here
        for later in order[order.index(node) + 1:]:
            if any(p is node for p in later.parents):
                assert any(s is later for s in seen[:-1])
    assert [id(n) for n in seen] == [id(n) for n in reversed(order)]


def small_step_gradients_by_hand(seed=0):
    """small_step's parameter gradients, derived on paper and written in plain NumPy."""
    rng = np.random.default_rng(seed)
    x, w1, b1, w2 = rng.standard_normal((5, 4)), rng.standard_normal((3, 4)), np.zeros(3), rng.standard_normal((1, 3))
    pre = x @ w1.T + b1
    h = np.maximum(pre, 0)
    z = h @ w2.T
    dz = (2 * z + 1) / z.size  # d mean(z^2 + z) / dz
    dpre = (dz @ w2) * (pre > 0)
    return dpre.T @ x, dpre.sum(axis=0), dz.T @ h


def test_backward_and_backward_steps_to_the_end_give_the_gradients_derived_by_hand():
    expected = small_step_gradients_by_hand(3)
    loss_a, params_a = small_step(3)
    loss_a.backward()
    loss_b, params_b = small_step(3)
    for _ in loss_b.backward_steps():
        pass
    for pa, pb, hand in zip(params_a, params_b, expected, strict=True):
        np.testing.assert_allclose(pa.grad, hand, rtol=1e-12, atol=1e-15)
        assert np.array_equal(pa.grad, pb.grad)  # the stepper's walk and backward(): the same bits


def test_backward_steps_accumulates_into_leaves_like_backward():
    a = Value([1.0, 2.0])
    (a * 3).sum().backward()
    list((a * 3).sum().backward_steps())
    np.testing.assert_array_equal(a.grad, [6.0, 6.0])


def test_a_node_used_twice_gets_the_sum_of_both_paths_when_stepping():
    a = Value(2.0)
    b = a + a
    steps = b.backward_steps()
    assert next(steps) is b
    assert next(steps) is a
    assert a.grad == 2.0
    with pytest.raises(StopIteration):
        next(steps)


def test_backward_steps_raises_the_same_errors_as_backward_at_the_call():
    with no_grad():
        v = Value(1.0) * 2
    with pytest.raises(RuntimeError, match="not part of a graph"):
        v.backward_steps()
    with pytest.raises(ValueError, match="pass grad="):
        Value([1.0, 2.0]).backward_steps()
