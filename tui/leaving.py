"""Leave when the person is done: never wait for an AWS call that is not answering.

For the Textual app (run_then_leave) and the headless commands (leave, after Ctrl+C).

The app's AWS calls run in thread workers (asyncio's default executor). asyncio.run waits for
those threads when the loop closes, and Python joins every executor thread again at exit, so a
region that does not answer (no network, a wrong AWS_ENDPOINT_URL) held the process for up to
read_timeout × attempts (minutes) after Ctrl+Q: the screen gone, the terminal apparently hung.

What the app itself must finish (the simulated cloud's servers, tunnels, setup runs) is stopped in
its on_unmount handlers, before App.run returns. Anything else still waiting after a short grace
is a network call whose answer nobody will read; a launch abandoned that way is still tagged and
idempotent (ClientToken), and shows up in the instances list next time.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)

# Long enough for a call that is just finishing; far below any AWS timeout.
GRACE_S = 0.5


def run_then_leave(app: Any, grace_s: float = GRACE_S, then: Callable[[], None] | None = None) -> int:
    """App.run on a loop of our own, ``then`` (what to say once the screen is gone), then exit
    without waiting for calls still in flight."""
    import asyncio  # here: `leave` (every headless command) has no use for it

    loop = asyncio.new_event_loop()
    workers = ThreadPoolExecutor(thread_name_prefix="asyncio")  # what asyncio would make, but ours
    loop.set_default_executor(workers)
    asyncio.set_event_loop(loop)
    # `kill` (SIGTERM): quit as Ctrl+Q does, so the app's on_unmount cleanup runs (the simulated
    # cloud's servers and sandbox, Jupyter). Not SIGHUP: with the terminal gone, Textual's
    # shutdown blocks on its full output queue, and a process left hanging is worse than one killed.
    loop.add_signal_handler(signal.SIGTERM, app.exit)
    app.run(loop=loop)
    status = int(app.return_code or 0)
    if then is not None:
        then()
    workers.shutdown(wait=False, cancel_futures=True)  # idle threads end; busy ones are not waited for
    status = leave(status, grace_s)
    loop.close()
    return status


def leave(status: int, grace_s: float = GRACE_S) -> int:
    """``status`` back when every thread has ended within ``grace_s``; else exit with it now,
    logs flushed, without joining threads still waiting on AWS (a headless command after Ctrl+C)."""
    deadline = time.monotonic() + grace_s
    while (waiting := _threads_still_waiting()) and time.monotonic() < deadline:
        time.sleep(0.02)
    if waiting:
        log.info("quitting without waiting for %d call(s) still in flight: %s", len(waiting), waiting)
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


def _threads_still_waiting() -> list[str]:
    """Threads Python would join at exit (not daemons), besides this one."""
    me = threading.current_thread()
    return [t.name for t in threading.enumerate() if t is not me and not t.daemon and t.is_alive()]
