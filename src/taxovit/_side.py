"""A second thread for the large inputs: ``with side_thread(n) as submit: submit(fn, ...)``.

numpy releases the GIL in its loops, so two independent parts of a computation over a
million samples run on two cores; below :data:`PARALLEL_MIN` samples a thread costs more
than it saves and ``submit`` runs the function at once, in this thread. Either way the
results are the same.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

__all__ = ["PARALLEL_MIN", "no_side_thread", "side_thread"]

#: samples from which a second thread pays (thread start ~0.1 ms; numpy passes over 65k
#: values ~0.05 ms each)
PARALLEL_MIN = 1 << 16


_LOCAL = threading.local()


@contextmanager
def no_side_thread() -> Iterator[None]:
    """Within the block, in this thread, ``side_thread`` runs every function at once: for a
    caller that already keeps the cores busy (the dataset reader's one thread per file),
    where a second thread per batch only adds threads to switch between."""
    before = getattr(_LOCAL, "off", False)
    _LOCAL.off = True
    try:
        yield
    finally:
        _LOCAL.off = before


def _now(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
    """``fn(*args, **kwargs)`` run at once, as a done Future (its result or its error)."""
    done: Future = Future()
    try:
        done.set_result(fn(*args, **kwargs))
    except BaseException as exc:  # re-raised by .result(), as a thread's would be
        done.set_exception(exc)
    return done


@contextmanager
def side_thread(n: int) -> Iterator[Callable[..., Future]]:
    """A ``submit(fn, *args, **kwargs) -> Future``: a second thread when ``n >=
    PARALLEL_MIN`` (and not within :func:`no_side_thread`), else at once in this one.
    Leaving the block waits for the thread."""
    if n < PARALLEL_MIN or getattr(_LOCAL, "off", False):
        yield _now
        return
    with ThreadPoolExecutor(1) as pool:
        yield pool.submit
