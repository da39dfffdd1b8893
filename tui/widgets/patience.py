"""What a wait for AWS says once it has lasted a few seconds: a spinner alone can't tell a slow
answer from none (no network, a proxy that swallows requests, a wrong AWS_ENDPOINT_URL)."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.message_pump import MessagePump
from textual.timer import Timer
from textual.widget import Widget

# Most AWS answers take well under a second; after this long, say what is being waited for.
NOTICE_AFTER_S = 3.0
# How often the notice is checked and its seconds counted up (tests that wait on it set less).
TICK_S = 1.0


def no_answer_words(waited: float) -> str:
    return f"AWS has not answered for {waited:.0f} s: check your network (or AWS_ENDPOINT_URL)."


def while_silent(node: MessagePump, say: Callable[[float], None]) -> Timer:
    """Every TICK_S (a second) once NOTICE_AFTER_S has passed, ``say(seconds waited)``; stop the timer when
    the answer comes."""
    asked = time.monotonic()

    def tick() -> None:
        waited = time.monotonic() - asked
        if waited >= NOTICE_AFTER_S:
            say(waited)

    return node.set_interval(TICK_S, tick)


def while_loading(node: Widget, say: Callable[[float | None], None]) -> Timer:
    """Every TICK_S (a second): ``say(seconds)`` while a widget under ``node`` has shown its loading indicator
    for NOTICE_AFTER_S or more, then ``say(None)`` once none does."""
    since: float | None = None

    def tick() -> None:
        nonlocal since
        if not any(w.loading for w in node.query("*")):
            if since is not None:
                since = None
                say(None)
            return
        now = time.monotonic()
        since = now if since is None else since
        if now - since >= NOTICE_AFTER_S:
            say(now - since)

    return node.set_interval(TICK_S, tick)
