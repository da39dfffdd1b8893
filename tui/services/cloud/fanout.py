"""One thread per region for calls made to several regions at once, and never held by a silent one.

`with ThreadPoolExecutor()` waits for every call on the way out, an exception included: after
Ctrl+C, a region that does not answer (no network, a wrong AWS_ENDPOINT_URL) kept the command
running for read_timeout × attempts (minutes). This pool waits only when the block ends normally.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor


@contextlib.contextmanager
def fanout(workers: int, name: str) -> Iterator[ThreadPoolExecutor]:
    """A pool of ``workers`` threads named ``name_N``; on an exception (Ctrl+C too), calls not
    started are dropped and those in flight are left to end on their own."""
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix=name)
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
