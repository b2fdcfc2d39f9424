"""Keep freed memory in the process, so that every EOT step does not fault its tensors in anew.

An attack repeats the same step thousands of times: render a batch, classify it, back-propagate.
Each step allocates and frees the same large tensors (a 224 px batch of 32 windows is 19 MB per
image-sized tensor; a ResNet's activations are hundreds of MB). glibc's malloc hands large
freed blocks back to the system (``munmap``, or trimming the heap's top), so the next step
takes a page fault on every 4 KB it touches again. On the 2-core VM this project is developed
on, a fault costs about 2.6 us: at 224 px that is about half a second of a 4 s step (32
windows through the pipeline and a ResNet-18), nearly as much as the pipeline's own arithmetic.

:func:`retain_freed_memory` raises glibc's two thresholds (blocks up to 32 MB come from the
heap, and up to 1 GB of free heap is kept), which PyTorch's CPU performance guides reach by
preloading jemalloc or tcmalloc instead. The ``physsim`` command calls it at start-up;
``PHYSSIM_MALLOC=system`` leaves the C library's defaults. Library users may call it themselves.
It changes no result, only where memory comes from; other C libraries and platforms are left
alone.
"""

from __future__ import annotations

import ctypes
import os
import sys
from functools import cache

#: ``mallopt`` parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: blocks up to this size come from the heap (glibc's largest allowed value on 64-bit)
MMAP_THRESHOLD = 32 << 20
#: free heap kept at the top before it is handed back
TRIM_THRESHOLD = 1 << 30


@cache
def retain_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed memory for reuse; True if it was (or already is) set.

    Does nothing (False) on other platforms and C libraries, or when the environment variable
    ``PHYSSIM_MALLOC`` is ``system``. Runs once per process; later calls return the first
    answer.
    """
    if os.environ.get("PHYSSIM_MALLOC", "").strip().lower() == "system" or \
            not sys.platform.startswith("linux"):
        return False
    try:
        # the C library's symbols, as already loaded into this process
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # no mallopt in this C library
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # glibc returns 1 on success; musl's mallopt is a stub that returns 0
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and \
        bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
