"""How the ``taxovit`` process treats memory: set before numpy is imported, in the command
line only (the library leaves a user's process alone), and never over a value the user set.

A one-shot evaluation of a million predictions allocates and frees many arrays of 8-80 MB.
Two defaults cost it system time on Linux (benchmarks/RESULTS.md, 1 M x top-10 long Parquet
on a 2-core x86-64 VM):

* numpy's transparent huge pages: where the kernel compacts memory on a huge-page fault (THP
  defrag ``madvise``, a common default) each first touch of a large array can stall (~1 s of
  system time in all); ``NUMPY_MADVISE_HUGEPAGE=0`` (numpy's documented switch) turns them off.
* glibc maps every block over its threshold anew and gives freed memory back at once (from
  the worker threads' arenas too), so the kernel zeroes fresh pages for every new array;
  keeping freed memory for reuse (``mallopt``: a 32 MB mmap threshold, no trimming, 256 MB of
  top padding; glibc's ``MALLOC_*_`` variables set the same) took that run from 2.0-2.2 s,
  453k page faults to 1.5 s, 125k faults.
"""

from __future__ import annotations

import os
import sys

__all__ = ["tune_process"]

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3  # glibc's malloc.h
_MALLOC_ENV = (
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_MMAP_MAX_",
    "GLIBC_TUNABLES",
)


def tune_process() -> None:
    """Huge pages off for numpy and glibc's freed memory kept (see the module docstring)."""
    os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
    if sys.platform != "linux" or any(k in os.environ for k in _MALLOC_ENV):
        return
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...): its own defaults
        return
    mallopt(_M_MMAP_THRESHOLD, 32 << 20)
    mallopt(_M_TRIM_THRESHOLD, 1 << 30)
    mallopt(_M_TOP_PAD, 256 << 20)
