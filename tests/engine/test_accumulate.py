"""Gradient accumulation: in place only into an array nothing else refers to, and the same numbers either way.

Backward adds a leaf's new gradient into its existing one in place when the leaf alone holds that
array (a gradient zeroed by `p.grad = np.zeros_like(p.data)` or `p.grad[...] = 0`, step after step),
so a zeroed step allocates nothing new. These tests catch the aliasing bugs that optimisation invites.
"""
import weakref

import numpy as np
import pytest

from engine import Value


def tiny_mlp(seed=0, dtype=np.float64):
    """A 2-layer MLP's parameters and a batch, built from primitive ops only (as bench/step.py's step)."""
    rng = np.random.default_rng(seed)
    x = Value(rng.standard_normal((6, 4)).astype(dtype), requires_grad=False)
    y = (rng.random((6, 1)) < 0.5).astype(dtype)
    params = [Value(rng.standard_normal((3, 4)).astype(dtype)), Value(np.zeros(3, dtype)),
              Value(rng.standard_normal((1, 3)).astype(dtype)), Value(np.zeros(1, dtype))]
    return x, y, params


def step(x, y, params, reset, lr=0.1):
    """Forward, reset the gradients with `reset(p)`, backward, SGD."""
    w1, b1, w2, b2 = params
    p = ((x @ w1.T + b1).relu() @ w2.T + b2).sigmoid()
    cost = -(y * p.log() + (1 - y) * (1 - p).log()).mean()
    for param in params:
        reset(param)
    cost.backward()
    for param in params:
        param.data -= lr * param.grad


def zeros_like(p):
    p.grad = np.zeros_like(p.data)


def zero_in_place(p):
    p.grad[...] = 0


def set_to_none(p):
    p.grad = None


RESETS = [zeros_like, zero_in_place, set_to_none]


# ---------------------------------------------------------------- the same numbers, bit for bit
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_way_of_zeroing_trains_to_the_same_bits(dtype):
    """0 + g is g exactly, so adding into a zeroed array in place changes no bit of training."""
    finals = []
    for reset in RESETS:
        x, y, params = tiny_mlp(dtype=dtype)
        for _ in range(5):
            step(x, y, params, reset)
        assert all(p.data.dtype == dtype and p.grad.dtype == dtype for p in params)
        finals.append([p.data.copy() for p in params])
    for other in finals[1:]:
        for a, b in zip(finals[0], other):
            assert np.array_equal(a, b)


def test_two_backward_calls_add_up_to_exactly_the_sum_of_both_gradients():
    def loss_of(params, seed):
        x, y, _ = tiny_mlp(seed)
        w1, b1, w2, b2 = params
        return ((x @ w1.T + b1).relu() @ w2.T + b2).sigmoid().mean()

    _, _, params = tiny_mlp()
    loss_of(params, 1).backward()
    first = [p.grad.copy() for p in params]
    for p in params:
        p.grad = None
    loss_of(params, 2).backward()
    second = [p.grad.copy() for p in params]

    for p in params:
        p.grad = None
    loss_of(params, 1).backward()
    loss_of(params, 2).backward()  # accumulates (in place where the engine may)
    for p, g1, g2 in zip(params, first, second):
        assert np.array_equal(p.grad, g1 + g2)


# ---------------------------------------------------------------- no array changes under its holder
def test_x_plus_x_accumulates_both_paths_over_two_calls():
    x = Value([1.0, 2.0])
    twice = x + x  # add hands its own gradient array to both edges of x
    loss = twice.sum()
    loss.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])
    np.testing.assert_array_equal(twice.grad, [1.0, 1.0])  # adding x's second share into it would make 2
    loss.backward()
    np.testing.assert_array_equal(x.grad, [4.0, 4.0])
    np.testing.assert_array_equal(twice.grad, [1.0, 1.0])


@pytest.mark.parametrize("view_first", [True, False])
def test_a_leaf_whose_gradient_is_a_view_of_another_nodes_leaves_that_one_intact(view_first):
    w = Value(np.ones((2, 3)))
    flat = w.reshape(6)  # w's share from here is a view of flat's gradient
    parts = [(flat * 2).sum(), (w * 3).sum()]
    loss = parts[0] + parts[1] if view_first else parts[1] + parts[0]
    loss.backward()
    np.testing.assert_array_equal(w.grad, np.full((2, 3), 5.0))
    np.testing.assert_array_equal(flat.grad, np.full(6, 2.0))


def test_two_leaves_that_received_one_shared_array_from_add_stay_apart():
    a, b = Value([1.0, 2.0]), Value([3.0, 4.0])
    loss = (a + b).sum()  # both leaves get the very array add passed on
    loss.backward()
    loss.backward()  # adding into one leaf's array in place would add into the other's too
    np.testing.assert_array_equal(a.grad, [2.0, 2.0])
    np.testing.assert_array_equal(b.grad, [2.0, 2.0])
    (a * 1).sum().backward()
    np.testing.assert_array_equal(a.grad, [3.0, 3.0])
    np.testing.assert_array_equal(b.grad, [2.0, 2.0])


@pytest.mark.parametrize("shared_by", ["add", "reshaped views of one add"])
def test_two_leaves_own_their_gradients_so_clearing_one_leaves_the_other(shared_by):
    a, b = Value(np.ones(6)), Value(np.ones(6))
    total = a + b if shared_by == "add" else a.reshape(2, 3) + b.reshape(2, 3)
    (total * 2).sum().backward()
    a.grad[...] = 0  # freezing one parameter, as users write it
    b.grad *= 0.5  # or scaling one parameter's gradient
    np.testing.assert_array_equal(a.grad, np.zeros(6))
    np.testing.assert_array_equal(b.grad, np.ones(6))


def test_an_array_the_user_assigned_and_still_holds_is_never_changed():
    a = Value([1.0, 2.0])
    mine = np.zeros(2)
    a.grad = mine
    (a * 3).sum().backward()
    np.testing.assert_array_equal(mine, [0.0, 0.0])
    np.testing.assert_array_equal(a.grad, [3.0, 3.0])


def test_a_gradient_the_user_read_and_kept_is_never_changed():
    a = Value([1.0, 2.0])
    (a * 3).sum().backward()
    kept, row_view = a.grad, a.grad[:1]
    (a * 3).sum().backward()
    np.testing.assert_array_equal(kept, [3.0, 3.0])
    np.testing.assert_array_equal(row_view, [3.0])
    np.testing.assert_array_equal(a.grad, [6.0, 6.0])


def test_a_read_only_gradient_is_replaced_not_written():
    a = Value([1.0, 2.0])
    frozen = np.zeros(2)
    frozen.flags.writeable = False
    a.grad = frozen
    del frozen  # nothing else refers to it now, but it still may not be written
    (a * 3).sum().backward()
    np.testing.assert_array_equal(a.grad, [3.0, 3.0])


def test_gradients_seen_while_stepping_never_change_afterwards():
    """What the teaching views hold at step k (partial sums included) stays as it was shown."""
    w = Value(np.arange(1.0, 7.0).reshape(2, 3))
    h = w * 2
    loss = ((h * 3).sum() + (h * 4).sum() + (w * w).sum())  # h and w each receive several shares
    shown = []
    for _ in loss.backward_steps():
        for n in loss.topological_order():
            grad = n.grad
            shown.append((grad, grad.copy()))
    assert all(np.array_equal(grad, copy) for grad, copy in shown)
    np.testing.assert_array_equal(w.grad, 14 + 2 * w.data)


# ---------------------------------------------------------------- the cheap path is taken
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_zeroed_gradient_is_accumulated_into_without_a_new_array(dtype):
    """`p.grad = np.zeros_like(p.data)`: the array nobody else holds receives the sum itself."""
    x, y, params = tiny_mlp(dtype=dtype)
    for p in params:
        zeros_like(p)
    arrays = [weakref.ref(p.grad) for p in params]  # a weak reference is no holder
    step(x, y, params, reset=lambda p: None)
    assert all(p.grad is array() for p, array in zip(params, arrays))
    assert all(p.grad.dtype == dtype and p.grad.any() for p in params)


def test_zeroing_in_place_reuses_one_array_per_parameter_step_after_step():
    x, y, params = tiny_mlp()
    for _ in range(2):  # the first array comes from a VJP and may be a view; the sum after it is ours
        step(x, y, params, zero_in_place)
    arrays = [weakref.ref(p.grad) for p in params]
    for _ in range(3):
        step(x, y, params, zero_in_place)
    assert all(p.grad is array() for p, array in zip(params, arrays))


def test_a_scalar_parameter_gets_an_array_it_can_zero_in_place():
    a = Value(2.0)
    for _ in range(3):
        a.grad[...] = 0
        (a * np.ones(3)).sum().backward()  # the share is summed down to shape ()
    assert type(a.grad) is np.ndarray and a.grad.shape == () and a.grad == 3.0


# ---------------------------------------------------------------- a big zeroed gradient is replaced
def big_layer_step(reset, dtype=np.float64, steps=2):
    """A 64 KiB+ weight (the size where backward replaces a zeroed gradient instead of adding into it)
    trained `steps` steps; returns it and each step's gradient as bytes. Its relu mask makes -0.0 entries."""
    w = Value(np.random.default_rng(7).standard_normal((60, 300)).astype(dtype))
    seen = []
    for _ in range(steps):
        loss = (w.relu() * -1.0).sum()  # d/dw is -1 where w > 0 and -1 * 0 = -0.0 elsewhere
        reset(w)
        loss.backward()
        seen.append(w.grad.tobytes())
        w.data -= 0.01 * w.grad
    return w, seen


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_way_of_zeroing_a_big_gradient_gives_the_bits_of_grad_none(dtype):
    """Replacing a +0.0 gradient by g keeps g's -0.0 entries (adding would turn them into +0.0)."""
    w, by_none = big_layer_step(set_to_none, dtype)
    assert w.grad.nbytes >= 1 << 16 and np.any(np.signbit(w.grad) & (w.grad == 0))  # the case this is about
    for reset in (zeros_like, zero_in_place):
        assert big_layer_step(reset, dtype)[1] == by_none


def share_of_ones(w: Value) -> None:
    """backward of a loss whose gradient with respect to `w` is all ones."""
    (w * 1.0).sum().backward()


def test_a_big_gradient_that_is_not_zero_is_still_added_into_in_place():
    w, _ = big_layer_step(set_to_none, steps=1)
    start = np.arange(w.size, dtype=float).reshape(w.shape)  # its first entry is 0: every byte gets looked at
    w.grad = start.copy()
    array = weakref.ref(w.grad)  # a weak reference is no holder
    share_of_ones(w)
    np.testing.assert_array_equal(w.grad, start + 1.0)
    assert w.grad is array()  # nobody else's array, so the sum went into it in place


def test_a_big_zeroed_gradient_the_user_holds_is_never_changed():
    w, _ = big_layer_step(set_to_none, steps=1)
    mine = np.zeros_like(w.data)
    w.grad = mine
    share_of_ones(w)
    assert not mine.any()
    np.testing.assert_array_equal(w.grad, np.ones_like(w.data))


def test_a_big_zeroed_gradient_is_kept_until_its_replacement_exists():
    """Dropped when backward starts instead, a float64 W1's 2 MB would go back to the OS and be faulted in
    again by the share: ~970 page faults a step in a training loop (README, Tour of engine/)."""
    w = Value(np.random.default_rng(7).standard_normal((60, 300)))
    x = Value(np.ones((4, 300)), requires_grad=False)
    loss = (x @ w.T).relu().sum()
    w.grad = np.full(w.shape, 5.0)  # last step's gradient, held by w alone
    w.grad[...] = 0  # as users zero it, in place
    zeroed = weakref.ref(w.grad)  # a weak reference is no holder
    for node in loss.backward_steps():  # each node is yielded once it has passed its gradient on
        if w in node.parents:
            break
        assert zeroed() is not None, f"the zeroed gradient was freed before w's share arrived (at {node.op})"
    assert zeroed() is None  # replaced by the share, not added into
    np.testing.assert_array_equal(w.grad, ((x.data @ w.data.T) > 0).T.astype(float) @ x.data)


# ---------------------------------------------------------------- writes after zeroing still count
# Backward may assign a share instead of adding it only if the gradient is still zero when the share
# arrives. Reading the zeros any earlier (when assigned, or as backward starts, while they are still in
# the cache) is tempting, and these are the writes that could come in between.
def big_layer_and_its_share():
    """A 64 KiB+ weight, a loss on it, and the gradient of that loss with respect to the weight."""
    w = Value(np.random.default_rng(7).standard_normal((60, 300)))
    x = Value(np.ones((4, 300)), requires_grad=False)
    loss = (x @ w.T).relu().sum()
    return w, loss, ((x.data @ w.data.T) > 0).T.astype(float) @ x.data


def walk_writing_after_the_first_node(loss, write) -> None:
    """loss.backward_steps() to the end, with `write()` once the walk has started (no share has arrived)."""
    steps = loss.backward_steps()
    next(steps)
    write()
    for _ in steps:
        pass


def test_a_zeroed_gradient_written_through_grad_while_stepping_is_added_into():
    w, loss, share = big_layer_and_its_share()
    w.grad = np.zeros_like(w.data)

    def write():
        w.grad[...] = 1.0

    walk_writing_after_the_first_node(loss, write)
    np.testing.assert_array_equal(w.grad, 1.0 + share)


def test_a_zeroed_gradient_the_user_writes_to_while_stepping_and_then_drops_is_added_into():
    w, loss, share = big_layer_and_its_share()
    mine = [np.zeros_like(w.data)]
    w.grad = mine[0]

    def write():
        mine.pop()[...] = 1.0  # and drop it: the engine holds the array alone again, no longer zero

    walk_writing_after_the_first_node(loss, write)
    np.testing.assert_array_equal(w.grad, 1.0 + share)


def test_a_zeroed_gradient_the_user_writes_to_and_drops_before_backward_is_added_into():
    """So backward cannot read the zeros when they are assigned: the user may still write to them."""
    w, loss, share = big_layer_and_its_share()
    mine = np.zeros_like(w.data)
    w.grad = mine
    mine += 1.0
    del mine
    loss.backward()
    np.testing.assert_array_equal(w.grad, 1.0 + share)


def test_a_float64_share_is_added_into_a_float32_gradient_as_float32():
    w = Value(np.ones(3, np.float32))
    w.grad = np.zeros(3, np.float32)
    (w * np.arange(3.0)).sum().backward()  # a float64 node: its share arrives as float64
    assert w.grad.dtype == np.float32
    np.testing.assert_array_equal(w.grad, [0.0, 1.0, 2.0])


def test_assigning_a_gradient_checks_its_shape_and_casts_its_dtype():
    w = Value(np.ones((2, 3), np.float32))
    w.grad = np.zeros((2, 3))
    assert w.grad.dtype == np.float32
    with pytest.raises(ValueError, match=r"grad: shape \(3,\) does not match the data's \(2, 3\)"):
        w.grad = np.zeros(3)
