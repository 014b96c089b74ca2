"""One queue per process for training chunks, so visitors share the cores instead of fighting over them.

Streamlit runs every session in a thread of one process, and a playing session trains in chunks of about
0.2 s. Left alone, OpenBLAS gives every chunk's matrix products all the cores, so N sessions run N times
as many BLAS threads as there are cores, and they spin against each other: combined throughput *falls* as
visitors arrive. The `Scheduler` fixes that by design:

* at most `slots` chunks (one per core) train at once, each with BLAS limited to its share of the cores,
  and a visitor alone gets all of them;
* visitors take turns round-robin: a visitor whose turn ends, like a newcomer, queues behind everyone
  already waiting, and of those waiting the longest-queued goes next;
* the BLAS thread count (process-wide in OpenBLAS) changes only while no turn is training, so a chunk
  never has it changed under its feet; work outside the scheduler (page reruns, uploads) simply runs with
  whatever is set, and never waits for a turn;
* a visitor that has not asked for a turn for `stale_after` seconds (a closed tab) is dropped; asking
  again joins again. At most `max_playing` visitors play at once; one more gets `Full`, with a message.

Measured here (2 cores, OpenBLAS 0.3.31 pthreads, float32 sessions; `python -m bench load`): two 1-thread
chunks side by side train about 1.3x as many epochs/s as one 2-thread chunk at a time, and one visitor
alone trains about 1.45x faster with 2 threads than with 1 on an idle machine, hence one slot per core
and all cores to a visitor alone. A 2-thread chunk is fragile, though: with the cores busy with other
processes it fell to 45 epochs/s where 1 thread kept 150 (each OpenBLAS call waits for its slowest thread),
and a browser on the same machine is such a process. So a turn with a share of several cores reports what it
trained, and `ThreadChoice` keeps whichever of "the whole share" and "one thread" trains faster right now.
Changing the thread count thousands of times while other threads multiplied gave correct products every
time: OpenBLAS reads the count when a call starts, so a change affects later calls only.
"""
from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

DEFAULT_MAX_PLAYING = 40  # a class of 30 and some; the round-robin shares the cores however many play
MAX_PLAYING_ENV = "MICROGRAD_MAX_PLAYING"
STALE_AFTER = 10.0  # s without asking for a turn before a visitor counts as gone; a live page asks every ~1 s
PROBE_EVERY = 8  # turns at the faster thread count before one turn measures the other (~1.6 s of training)
log = logging.getLogger(__name__)


class Full(Exception):
    """Raised by `join()` (and `turn()`) when `max_playing` visitors already play; str() is for the page."""


@dataclass
class Turn:
    """What `Scheduler.turn()` got: a turn to train (true), or a place in the queue after `wait` seconds."""

    granted: bool
    ahead: int  # visitors training or due before this one (0 once granted)
    threads: int  # BLAS threads this turn trains with (0 if not granted)
    share: int = 0  # the cores the turn had (its threads are that many or, if one is faster now, one)
    rate: float | None = None  # what it trained, per second (`trained`): how the thread count is chosen

    def __bool__(self) -> bool:
        return self.granted

    def trained(self, work: float, seconds: float) -> None:
        """Report the turn's work (epochs) and how long it took; turns that report none teach nothing."""
        if work > 0 and seconds > 0:
            self.rate = work / seconds


class ThreadChoice:
    """For a turn's share of several cores: as many BLAS threads, or one, whichever trains faster now.

    On an idle machine the whole share wins (1.45x here); with another program busy on a core, one thread
    trains 2-3x faster. The faster count so far is used, and every `probe_every`-th turn tries the other,
    so a change in the machine is noticed within a few seconds. Rates are running averages of reported turns.
    """

    def __init__(self, probe_every: int = PROBE_EVERY):
        self.probe_every = probe_every
        self.rates: dict[tuple[int, int], float] = {}  # (share, threads) -> work per second
        self.since_probe: dict[int, int] = {}  # share -> reported turns since the last one at the other count

    def threads(self, share: int) -> int:
        """The BLAS thread count for the next turn with `share` cores."""
        if share <= 1:
            return 1
        best = self.best(share)
        due = self.since_probe.get(share, 0) >= self.probe_every - 1
        return (1 if best == share else share) if due else best

    def best(self, share: int) -> int:
        """The faster count measured for `share`: the whole share until one thread has proved faster."""
        one, whole = self.rates.get((share, 1)), self.rates.get((share, share))
        return 1 if one is not None and (whole is None or one > whole) else share

    def record(self, share: int, threads: int, rate: float) -> None:
        if share <= 1:
            return
        probe = threads != self.best(share)
        key = (share, threads)
        self.rates[key] = rate if key not in self.rates else (self.rates[key] + rate) / 2
        self.since_probe[share] = 0 if probe else self.since_probe.get(share, 0) + 1


@dataclass
class _Visitor:
    last_seen: float
    order: int  # when it last queued (joined or finished a turn): the smallest waiting one goes first
    waiting: int = 0  # threads waiting for a turn for this visitor
    active: bool = False


def available_cores() -> int:
    """The cores this process may run on (a container or `taskset` may allow fewer than the machine has)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def blas_threads(count: int) -> None:
    """Limit every BLAS library NumPy loaded (OpenBLAS here) to `count` threads, process-wide."""
    from threadpoolctl import ThreadpoolController  # imported late: a scheduler nobody uses costs nothing

    global _controller
    if _controller is None:
        _controller = ThreadpoolController()  # scans the loaded libraries once
    for library in _controller.lib_controllers:
        # threadpoolctl 3.8+ lets only the first thread that set a limit on a shared OpenBLAS pool set it
        # again, and silently ignores the others; turns run on every session's thread, so take control.
        release = getattr(type(library), "clear_controlling_thread", None)
        if release is not None:
            release(force=True)
    _controller.limit(limits=count, user_api="blas")


_controller = None


def full_message(cap: int) -> str:
    return (f"All {cap} training places on this server are taken. Press Play again in a minute; "
            "everything else on the page keeps working.")


def queue_text(ahead: int) -> str:
    """The status line of a visitor waiting for a turn."""
    if ahead <= 0:
        return "Starting in a moment: the cores are being handed over."
    return f"Queued behind {ahead} other visitor{'s' if ahead != 1 else ''}: the cores take turns."


class Scheduler:
    """Fair turns at training for the visitors of one process, at most `slots` at a time."""

    def __init__(self, cores: int | None = None, *, slots: int | None = None,
                 max_playing: int = DEFAULT_MAX_PLAYING, stale_after: float = STALE_AFTER,
                 set_threads: Callable[[int], None] = blas_threads, clock: Callable[[], float] = time.monotonic):
        self.cores = cores or available_cores()
        self.slots = slots or self.cores  # more chunks than cores at once only spin against each other
        self.max_playing = max_playing
        self.stale_after = stale_after
        self.clock = clock  # for staleness; waiting uses real time
        self._set_threads = set_threads
        self._threads: int | None = None  # the BLAS thread count we set last (None: never touched)
        self.thread_choice = ThreadChoice()
        self._visitors: dict[Hashable, _Visitor] = {}
        self._active = 0  # turns training now
        self._orders = itertools.count()
        self._changed = threading.Condition()

    # ------------------------------------------------------------------ membership
    def join(self, key: Hashable) -> None:
        """Count `key` as playing (a no-op if it already is); `Full` if `max_playing` already play."""
        with self._changed:
            self._drop_stale()
            self._join(key)

    def leave(self, key: Hashable) -> None:
        """`key` stops playing (Pause, the target reached); its place in the queue goes too."""
        with self._changed:
            if self._visitors.pop(key, None) is not None:
                self._settle()

    @property
    def playing(self) -> int:
        with self._changed:
            self._drop_stale()
            return len(self._visitors)

    def ahead(self, key: Hashable) -> int:
        """How many visitors train or are due before `key` (everyone playing, if `key` does not play)."""
        with self._changed:
            self._drop_stale()
            return self._ahead(key)

    # ------------------------------------------------------------------ turns
    @contextmanager
    def turn(self, key: Hashable, wait: float | None = None) -> Iterator[Turn]:
        """Wait up to `wait` seconds (None: for as long as it takes) for `key`'s turn, joining if needed.

        Yields a `Turn`; train inside the block only if it is true. The slot is freed when the block
        ends, by an exception too. A visitor that was not granted keeps its place for the next call.
        """
        turn = self._begin(key, wait)
        try:
            yield turn
        finally:
            if turn:
                self._end(key, turn)

    def _begin(self, key: Hashable, wait: float | None) -> Turn:
        deadline = None if wait is None else time.monotonic() + wait
        with self._changed:
            self._drop_stale()
            visitor = self._join(key)
            visitor.waiting += 1
            try:
                while True:
                    if self._visitors.get(key) is not visitor:
                        return Turn(False, self._ahead(key), 0)  # left (Pause) while waiting
                    if threads := self._threads_if_turn(visitor):
                        break
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return Turn(False, self._ahead(key), 0)  # keeps its place for the next call
                    self._changed.wait(remaining)
                    self._drop_stale()
            finally:
                visitor.waiting -= 1
            visitor.active = True
            visitor.last_seen = self.clock()
            self._active += 1
            self._apply(threads)
            return Turn(True, 0, threads, share=self._share(len(self._visitors)))

    def _end(self, key: Hashable, turn: Turn) -> None:
        with self._changed:
            self._active -= 1
            if turn.rate is not None:
                self.thread_choice.record(turn.share, turn.threads, turn.rate)
            visitor = self._visitors.get(key)
            if visitor is not None:  # to the back of the queue
                visitor.active, visitor.order, visitor.last_seen = False, next(self._orders), self.clock()
            self._settle()

    # ------------------------------------------------------------------ the rules (called holding the lock)
    def _join(self, key: Hashable) -> _Visitor:
        visitor = self._visitors.get(key)
        if visitor is None:
            if len(self._visitors) >= self.max_playing:
                raise Full(full_message(self.max_playing))
            visitor = self._visitors[key] = _Visitor(self.clock(), next(self._orders))
            self._changed.notify_all()  # slots and threads per turn depend on how many play
        visitor.last_seen = self.clock()
        return visitor

    def _share(self, playing: int) -> int:
        """The cores each of the turns that may train at once has."""
        return max(1, self.cores // min(self.slots, max(playing, 1)))

    def _threads_for(self, playing: int) -> int:
        return self.thread_choice.threads(self._share(playing))

    def _threads_if_turn(self, visitor: _Visitor) -> int:
        """BLAS threads for `visitor`'s turn if it may start now, else 0."""
        playing = len(self._visitors)
        free = min(self.slots, playing) - self._active
        threads = self._threads_for(playing)
        if visitor.active or free <= 0 or (self._active and threads != self._threads):
            return 0  # busy, or the thread count must change first and a turn is still training
        before = sum(1 for v in self._visitors.values() if v.waiting and not v.active and v.order < visitor.order)
        return threads if before < free else 0

    def _ahead(self, key: Hashable) -> int:
        me = self._visitors.get(key)
        if me is None:
            return len(self._visitors)
        return sum(1 for k, v in self._visitors.items() if k != key and (v.active or v.order < me.order))

    def _drop_stale(self) -> None:
        now = self.clock()
        stale = [k for k, v in self._visitors.items()
                 if not (v.waiting or v.active) and now - v.last_seen > self.stale_after]
        for key in stale:
            del self._visitors[key]
            log.info("scheduler: dropped a visitor silent for %.0f s", self.stale_after)
        if stale:
            self._settle()

    def _settle(self) -> None:
        """After a turn ends or visitors go: wake the waiting, and between turns give BLAS the right count."""
        if self._active == 0 and self._threads is not None:
            self._apply(self._threads_for(len(self._visitors)))
        self._changed.notify_all()

    def _apply(self, threads: int) -> None:
        if threads != self._threads:
            self._set_threads(threads)
            self._threads = threads


def max_playing_from(environ=os.environ) -> int:
    """The cap of playing visitors from MICROGRAD_MAX_PLAYING; a bad value is logged and the default used."""
    text = environ.get(MAX_PLAYING_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_PLAYING
    try:
        value = int(text)
        if value >= 1:
            return value
    except ValueError:
        pass
    log.warning("%s=%r is not a whole number >= 1; using %d", MAX_PLAYING_ENV, text, DEFAULT_MAX_PLAYING)
    return DEFAULT_MAX_PLAYING


_shared: Scheduler | None = None
_shared_lock = threading.Lock()


def shared() -> Scheduler:
    """The process's scheduler, made on first use: every session of the page trains through this one."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Scheduler(max_playing=max_playing_from())
        return _shared
