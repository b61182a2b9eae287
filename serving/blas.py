"""One BLAS thread in each service worker.

The workers are the service's parallelism (one process per core by default) and its matrix
products are small (the explainer's, about 0.1 us a lead): a second OpenBLAS thread gains them
nothing, then busy-waits after each one. In a 1,000-lead batch with reasons that was about 100 us
of CPU a lead, taken from the other worker (`benchmarks/bench_serving.py` prints a batch's CPU
per lead both ways).
"""

from __future__ import annotations

import logging

log = logging.getLogger("leadscore.serving")


def one_blas_thread() -> bool:
    """Limit every BLAS library loaded by now (numpy's, SciPy's) to one thread; False, with a
    warning, when a library kept more: threadpoolctl leaves OpenBLAS's limit to the first thread
    that set one while that thread lives, and ignores the others."""
    from threadpoolctl import threadpool_info, threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    kept = sorted({lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"} - {1})
    if kept:
        log.warning("BLAS still runs %s threads in this worker (a limit set earlier by another thread)", kept)
    return not kept
