"""Running test code in threads, and measuring whether a call lets them run."""

from __future__ import annotations

import sys
import threading
import time
from typing import Callable


def start_thread(target: Callable[[], None]) -> threading.Thread:
    """Starts `target` in a daemon thread, so a test that fails cannot hang the run."""
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def run_threads(targets: list[Callable[[], None]], timeout: float = 30) -> None:
    """Runs the targets in threads at once; re-raises the first error of any."""
    errors: list[BaseException] = []

    def guarded(target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as error:  # noqa: BLE001 - handed to the test
                errors.append(error)

        return run

    threads = [start_thread(guarded(target)) for target in targets]
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "threads did not finish in time"
    if errors:
        raise errors[0]


class SpinMeter:
    """Finds the longest time a spinning Python thread stood still during a call.

    A call that holds the GIL stops every other Python thread from its start
    to its end: the spinner's longest stall covers nearly all of the call.
    A call that releases it lets the spinner run whenever the OS schedules
    it, even on a busy machine with one free core, so its longest stall is a
    small part of a long call. Stalls are measured, not the spinner's share of
    the CPU, because that share depends on how many cores are free.
    """

    def __init__(self) -> None:
        self.stop = False
        self.stalls: list[tuple[float, float]] = []
        self.thread = threading.Thread(target=self._spin)

    def _spin(self) -> None:
        previous = time.perf_counter()
        while not self.stop:
            now = time.perf_counter()
            if now - previous > 0.0005:
                self.stalls.append((previous, now))
            previous = now

    def longest_stall_share(self, call: Callable[[], object]) -> float:
        """The longest spinner stall within `call`, as a share of the call's duration."""
        self.thread.start()
        try:
            time.sleep(0.01)  # Let the spinner start spinning.
            start = time.perf_counter()
            call()
            end = time.perf_counter()
        finally:
            self.stop = True
            self.thread.join()
        overlaps = (min(stop, end) - max(begin, start) for begin, stop in self.stalls)
        return max(overlaps, default=0.0) / (end - start)


def runs_of_other_threads_during(call: Callable[[], object]) -> int:
    """How many times another Python thread ran while `call` ran: 0 if `call` held the GIL.

    A counting thread gives the GIL up after every count (time.sleep(0)
    releases it), and the switch interval is set far beyond the call, so the
    interpreter never takes the GIL from the caller: the count moves during
    `call` only where `call` releases the GIL itself. Unlike SpinMeter this
    measures no time, so a loaded machine cannot change the answer for a call
    that holds the GIL.
    """
    counted = 0
    stop = False

    def count() -> None:
        nonlocal counted
        while not stop:
            counted += 1
            time.sleep(0)

    previous_interval = sys.getswitchinterval()
    sys.setswitchinterval(60.0)
    counter = threading.Thread(target=count)
    counter.start()
    try:
        while counted == 0:
            time.sleep(0)
        before = counted
        call()
        after = counted
    finally:
        stop = True
        counter.join()
        sys.setswitchinterval(previous_interval)
    return after - before
