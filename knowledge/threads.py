"""Keep the native thread pools of a search process from fighting over a small machine.

Why: faiss and scikit-learn (the re-ranker) each start an OpenMP pool with one thread per core, and
OpenMP workers spin for a while after every call. On 2 cores they steal the CPU the query encoder
needs right after: search p95 went from 19 ms to 90-120 ms with the pools left at their default.
Pinning them to one thread (at run time, through threadpoolctl) costs nothing here: the re-ranker
and faiss each work on a few dozen rows per query.
"""
from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)
_DONE = threading.Event()


def limit_native_threads(threads: int = 1) -> None:
    """Pin the OpenMP/BLAS pools of faiss, scikit-learn and numpy to `threads` (once per process)."""
    if _DONE.is_set():
        return
    import faiss  # noqa: F401  (load the libraries first: threadpoolctl limits what is loaded)
    import sklearn.ensemble  # noqa: F401
    from threadpoolctl import threadpool_info, threadpool_limits

    threadpool_limits(limits=threads)
    _DONE.set()
    log.info("native thread pools pinned", extra={
        "event": "knowledge.threads", "threads": threads,
        "pools": sorted({f"{p['internal_api']}:{p['num_threads']}" for p in threadpool_info()})})
