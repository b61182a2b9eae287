"""Giving the memory of large requests back to the system once they are answered.

A request body of megabytes (a large batch, or one refused at the 16 MiB limit) is read into a
few large buffers. glibc's malloc serves an allocation of 128 KiB or more with its own memory map,
returned to the system when freed, but it raises that threshold to the size of the last such
block freed (up to 32 MiB): from then on a 16 MiB body comes from the heap and its memory stays
with the process after the answer. Under a hostile mix (bodies over the limit sent without a
length among other requests) each worker's RSS went up 50-100 MB and stayed
(benchmarks/bench_memory.py). Fixing the threshold at glibc's default keeps large buffers in
their own maps, so every worker returns them; the cost is a map and unmap per large buffer,
nothing beside the reading of megabytes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("leadscore.serving")
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)
MMAP_THRESHOLD = 128 * 1024  # glibc's default, fixed: no longer raised as large blocks are freed


def return_large_buffers() -> bool:
    """Fix glibc's mmap threshold for this process; False where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to fix
        return False
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    done = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    if not done:
        log.warning("malloc: the mmap threshold could not be fixed; large requests' memory may stay")
    return done
