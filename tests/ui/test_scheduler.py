"""The training scheduler: fair turns, one per core, BLAS limited to a turn's share, a cap, stale visitors.

Work inside a turn is faked (a short sleep) except where the BLAS limit itself is checked. Nothing here
asserts on a time: threads meet through events and counters, and every wait has a generous timeout.
"""
from __future__ import annotations

import collections
import logging
import threading

import numpy as np
import pytest
import threadpoolctl

from ui import scheduler as sched
from ui.scheduler import Full, Scheduler, max_playing_from, queue_text

TIMEOUT = 20.0  # s: only a broken scheduler makes a test wait this long


class Clock:
    """A clock the test moves by hand (the scheduler's notion of 'silent for N seconds')."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A stand-in for the BLAS limit: records every thread count set, and how many turns were training."""

    def __init__(self):
        self.calls: list[int] = []
        self.training = 0  # turns inside their block, kept by the tests' work functions
        self.training_at_change: list[int] = []

    def __call__(self, threads: int) -> None:
        self.calls.append(threads)
        self.training_at_change.append(self.training)


def play(scheduler: Scheduler, keys, turns: int, work, wait: float | None = 0.5) -> collections.Counter:
    """Every key in its own thread takes turns (running `work(key, turn)`) until `turns` turns were taken."""
    done = collections.Counter()
    lock = threading.Lock()
    errors = []
    start = threading.Barrier(len(keys))  # nobody has a head start

    def visitor(key):
        try:
            start.wait(TIMEOUT)
            while True:
                with lock:
                    if sum(done.values()) >= turns:
                        return
                with scheduler.turn(key, wait=wait) as turn:
                    if turn:
                        work(key, turn)
                        with lock:
                            done[key] += 1
        except Exception as e:  # reported in the main thread
            errors.append(e)

    threads = [threading.Thread(target=visitor, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a visitor never got its turns"
    assert not errors, errors
    return done


def try_turn(scheduler: Scheduler, key):
    """Ask for a turn without waiting; a granted one ends at once."""
    with scheduler.turn(key, wait=0) as turn:
        return turn


def sleepy(seconds: float = 0.005):
    def work(key, turn):
        threading.Event().wait(seconds)
    return work


# --- fairness and concurrency -----------------------------------------------------------------------


@pytest.mark.parametrize("cores", [1, 2])
def test_every_visitor_gets_a_fair_share_of_turns(cores):
    scheduler = Scheduler(cores, set_threads=Recorder())
    done = play(scheduler, [f"visitor {i}" for i in range(5)], turns=300, work=sleepy(0.002))
    assert len(done) == 5
    assert min(done.values()) / max(done.values()) >= 0.8, done


def test_turns_go_round_robin():
    """With one slot, nobody has a second turn before every other waiting visitor had one."""
    scheduler = Scheduler(1, set_threads=Recorder())
    order = []
    play(scheduler, list("abc"), turns=30, work=lambda key, turn: (order.append(key), sleepy()(key, turn)),
         wait=None)
    rounds = [order[i:i + 3] for i in range(6, len(order) - 2, 3)]  # the first rounds depend on arrival
    assert all(sorted(r) == ["a", "b", "c"] for r in rounds), order


def test_no_more_turns_at_once_than_cores_and_one_per_visitor():
    scheduler = Scheduler(2, set_threads=Recorder())
    lock, now, most, per_key = threading.Lock(), [0], [0], collections.Counter()

    def work(key, turn):
        with lock:
            now[0] += 1
            per_key[key] += 1
            most[0] = max(most[0], now[0])
            assert per_key[key] == 1, f"{key} has two turns at once"
        threading.Event().wait(0.01)
        with lock:
            now[0] -= 1
            per_key[key] -= 1

    play(scheduler, list(range(6)), turns=60, work=work)
    assert most[0] == 2  # both cores used, never more


# --- the BLAS limit ---------------------------------------------------------------------------------


def openblas_threads() -> int | None:
    for pool in threadpoolctl.threadpool_info():
        if pool["internal_api"] == "openblas":
            return pool["num_threads"]
    return None


@pytest.fixture
def restore_blas():
    """Put the process's BLAS thread count back as it was, whatever the test set."""
    np.ones((2, 2)) @ np.ones((2, 2))  # NumPy's BLAS is loaded
    before = threadpoolctl.threadpool_info()
    yield
    threadpoolctl.threadpool_limits(limits={p["prefix"]: p["num_threads"] for p in before})


def test_a_turn_runs_with_its_share_of_the_cores(restore_blas):
    if openblas_threads() is None:
        pytest.skip("NumPy's BLAS is not OpenBLAS here")
    scheduler = Scheduler(2)  # the real threadpoolctl limit
    with scheduler.turn("alone") as turn:
        assert turn.threads == 2 and openblas_threads() == 2  # a visitor alone has the whole machine
    scheduler.join("second")
    with scheduler.turn("alone") as turn:
        assert turn.threads == 1 and openblas_threads() == 1  # two share: one thread each
    scheduler.leave("second")
    assert openblas_threads() == 2  # back to all cores between turns, for whoever is left


def test_turns_on_other_threads_set_the_limit_after_the_main_thread_did(restore_blas):
    """threadpoolctl ignores a limit set by any thread but the first one, unless the scheduler takes over."""
    if openblas_threads() is None:
        pytest.skip("NumPy's BLAS is not OpenBLAS here")
    threadpoolctl.threadpool_limits(limits=2, user_api="blas")  # the main thread now "controls" OpenBLAS
    scheduler, seen = Scheduler(2), []

    def two_visitors():
        scheduler.join("other")
        with scheduler.turn("me") as turn:
            seen.append((turn.threads, openblas_threads()))

    thread = threading.Thread(target=two_visitors)
    thread.start()
    thread.join(TIMEOUT)
    assert seen == [(1, 1)]


def test_the_thread_count_changes_only_while_no_turn_trains():
    recorder = Recorder()
    scheduler = Scheduler(2, set_threads=recorder)
    inside, release, second = threading.Event(), threading.Event(), threading.Event()

    def alone():
        with scheduler.turn("a") as turn:
            recorder.training += 1
            assert turn.threads == 2
            inside.set()
            release.wait(TIMEOUT)
            recorder.training -= 1

    def newcomer():
        with scheduler.turn("b") as turn:
            assert turn.threads == 1
            second.set()

    first = threading.Thread(target=alone)
    first.start()
    assert inside.wait(TIMEOUT)
    other = threading.Thread(target=newcomer)
    other.start()
    assert not second.wait(0.3), "b trained with 1 thread while a's 2-thread turn was still training"
    release.set()
    first.join(TIMEOUT)
    other.join(TIMEOUT)
    assert second.is_set()
    assert recorder.calls == [2, 1] and recorder.training_at_change == [0, 0]


# --- the queue --------------------------------------------------------------------------------------


def test_queue_position_is_reported_and_kept():
    scheduler = Scheduler(1, set_threads=Recorder())
    with scheduler.turn("a") as turn:
        assert turn and turn.ahead == 0
        b, c = try_turn(scheduler, "b"), try_turn(scheduler, "c")
        assert (bool(b), b.ahead, bool(c), c.ahead) == (False, 1, False, 2)
        assert scheduler.ahead("b") == 1 and scheduler.ahead("c") == 2  # places kept after giving up
    assert scheduler.ahead("a") == 2  # a had its turn: behind b and c now
    assert try_turn(scheduler, "b")
    assert queue_text(3) == "Queued behind 3 other visitors: the cores take turns."
    assert queue_text(1) == "Queued behind 1 other visitor: the cores take turns."


def test_leaving_while_waiting_ends_the_wait_without_a_turn():
    scheduler = Scheduler(1, set_threads=Recorder())
    got = []
    with scheduler.turn("a"):
        waiter = threading.Thread(target=lambda: got.append(scheduler.turn("b").__enter__()))
        waiter.start()
        while scheduler.playing != 2:  # b has joined and waits
            threading.Event().wait(0.01)
        scheduler.leave("b")
        waiter.join(TIMEOUT)
    assert len(got) == 1 and not got[0]


def test_an_exception_inside_a_turn_frees_the_slot():
    scheduler = Scheduler(1, set_threads=Recorder())
    with pytest.raises(ValueError, match="boom"), scheduler.turn("a"):
        raise ValueError("boom")
    assert try_turn(scheduler, "b") and try_turn(scheduler, "a")


# --- the cap and stale visitors ---------------------------------------------------------------------


def test_beyond_the_cap_a_visitor_is_refused_with_a_message():
    scheduler = Scheduler(2, max_playing=2, set_threads=Recorder())
    scheduler.join("a")
    scheduler.join("b")
    scheduler.join("a")  # already playing: fine
    with pytest.raises(Full, match="All 2 training places on this server are taken"):
        scheduler.join("c")
    with pytest.raises(Full), scheduler.turn("c", wait=0):
        pass
    scheduler.leave("a")
    scheduler.join("c")
    assert scheduler.playing == 2


def test_a_silent_visitor_is_dropped_and_rejoins_by_asking_for_a_turn():
    clock = Clock()
    scheduler = Scheduler(2, max_playing=1, stale_after=10, clock=clock, set_threads=Recorder())
    with scheduler.turn("closed tab") as turn:
        assert turn
    clock.now += 5
    with pytest.raises(Full):
        scheduler.join("newcomer")
    clock.now += 6  # 11 s without a word: the tab is gone
    assert scheduler.playing == 0
    scheduler.join("newcomer")
    clock.now += 11
    with scheduler.turn("closed tab", wait=0) as turn:  # it came back: it joins again
        assert turn and scheduler.playing == 1


def test_a_visitor_in_its_turn_or_waiting_is_never_dropped():
    clock = Clock()
    scheduler = Scheduler(1, stale_after=10, clock=clock, set_threads=Recorder())
    got = []
    with scheduler.turn("training"):
        assert not try_turn(scheduler, "gave up")  # waited, gave up and went silent: may go stale
        waiter = threading.Thread(target=lambda: got.append(try_turn_blocking(scheduler, "waiting")))
        waiter.start()
        while scheduler.playing != 3:
            threading.Event().wait(0.01)
        clock.now += 60
        assert scheduler.playing == 2 and scheduler.ahead("waiting") == 1
    waiter.join(TIMEOUT)
    assert len(got) == 1 and got[0]


def try_turn_blocking(scheduler: Scheduler, key):
    with scheduler.turn(key, wait=TIMEOUT) as turn:
        return turn


def test_threads_return_to_all_cores_when_a_visitor_is_left_alone():
    recorder = Recorder()
    scheduler = Scheduler(2, set_threads=recorder)
    scheduler.join("b")
    with scheduler.turn("a") as turn:
        assert turn.threads == 1
    scheduler.leave("b")
    with scheduler.turn("a") as turn:
        assert turn.threads == 2
    assert recorder.calls == [1, 2]


# --- the thread count a lone visitor trains with, measured ------------------------------------------


def lone_turns(scheduler: Scheduler, turns: int, rate_with) -> list[int]:
    """A visitor alone takes `turns` turns, each reporting 10 epochs at `rate_with(threads)` epochs/s."""
    seen = []
    for _ in range(turns):
        with scheduler.turn("alone") as turn:
            seen.append(turn.threads)
            turn.trained(10, 10 / rate_with(turn.threads))
    return seen


def test_a_lone_visitor_keeps_both_cores_while_they_train_faster():
    """An idle machine: two threads win, and one turn in PROBE_EVERY checks that one still does not."""
    scheduler = Scheduler(2, set_threads=Recorder())
    seen = lone_turns(scheduler, 3 * sched.PROBE_EVERY, {2: 150.0, 1: 100.0}.get)
    probe = sched.PROBE_EVERY - 1
    assert seen == ([2] * probe + [1]) * 3
    assert scheduler.thread_choice.best(2) == 2


def test_a_lone_visitor_moves_to_one_thread_when_another_program_holds_a_core():
    """A browser on the same machine: one thread trains faster, so after the first probe it is kept; when
    the machine is idle again, the next probe of two threads brings them back."""
    scheduler = Scheduler(2, set_threads=Recorder())
    busy = {2: 45.0, 1: 140.0}
    seen = lone_turns(scheduler, 2 * sched.PROBE_EVERY, busy.get)
    probe = sched.PROBE_EVERY - 1
    assert seen == [2] * probe + [1] * sched.PROBE_EVERY + [2]  # measured at 2 once more: still the slower
    assert scheduler.thread_choice.best(2) == 1
    with scheduler.turn("alone") as turn:
        assert turn.threads == 1
    idle = {2: 400.0, 1: 150.0}  # fast enough to win even averaged with the busy rate it measured before
    seen = lone_turns(scheduler, 2 * probe + 1, idle.get)
    assert seen == [1] * probe + [2] + [2] * probe and scheduler.thread_choice.best(2) == 2


def test_turns_that_report_no_work_change_no_thread_count():
    scheduler = Scheduler(2, set_threads=Recorder())
    for _ in range(3 * sched.PROBE_EVERY):
        with scheduler.turn("alone") as turn:
            assert turn.threads == 2
            turn.trained(0, 0.2)  # a chunk stopped at once (the target reached): no rate to learn from
    assert scheduler.thread_choice.rates == {}


def test_sharing_visitors_are_never_probed():
    """Two visitors on two cores have one core each: one thread, nothing to choose."""
    scheduler = Scheduler(2, set_threads=Recorder())
    scheduler.join("b")
    seen = lone_turns(scheduler, 2 * sched.PROBE_EVERY, {1: 100.0}.get)
    assert seen == [1] * (2 * sched.PROBE_EVERY) and scheduler.thread_choice.rates == {}


# --- configuration ----------------------------------------------------------------------------------


def test_the_cap_comes_from_the_environment(caplog):
    assert max_playing_from({}) == sched.DEFAULT_MAX_PLAYING
    assert max_playing_from({"MICROGRAD_MAX_PLAYING": " 12 "}) == 12
    with caplog.at_level(logging.WARNING, logger="ui.scheduler"):
        for bad in ("lots", "0", "-3", "2.5"):
            assert max_playing_from({"MICROGRAD_MAX_PLAYING": bad}) == sched.DEFAULT_MAX_PLAYING
    assert caplog.text.count("MICROGRAD_MAX_PLAYING") == 4


def test_the_page_shares_one_scheduler():
    assert sched.shared() is sched.shared()
    assert sched.shared().cores == sched.available_cores() >= 1
