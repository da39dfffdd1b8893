"""How every headless command speaks: results on stdout, progress and failures on stderr as
"d2l-tui: <what happened> <what to do>", and the exit statuses they share."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator, Sequence

from tui.logs import PROG  # the one program name, re-exported for the commands

# Exit status of a listing (ls, ls --leftovers, cleanup) that some regions did not answer: what was
# printed is what the other regions said, and the missing regions are named on stderr.
INCOMPLETE = 4
EXIT_CODES = (
    "Exit status: 0 done, 1 failed (also a choice AWS's answers rule out, as a --disk too small for "
    "the image), 2 refused before anything is sent (bad arguments, or --yes missing), "
    f"{INCOMPLETE} incomplete (some regions did not answer: they are named on stderr, and the list "
    "may miss what runs there), 130 interrupted."
)
NOTICE_AFTER_S = 1.0  # a headless wait says what it waits for after this long, then every
NOTICE_EVERY_S = 10.0  # this many seconds how long it has been waiting


class UsageError(Exception):
    """Refused before anything is sent; exit status 2 like argparse's own errors."""


def say(line: str) -> None:
    """One line on stderr, at once (progress, news, failures)."""
    print(line, file=sys.stderr, flush=True)


def warn(sentence: str) -> None:
    """A local follow-up failed after AWS did the work: one line, and the exit code stays 0 (the
    instance's state is the outcome; a script retrying on 1 would stop or launch twice)."""
    say(f"{PROG}: warning: {sentence}")


def table(rows: Sequence[Sequence[str]]) -> str:
    """Aligned columns, the first row the header; no trailing blanks."""
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


@contextlib.contextmanager
def waiting_notice(what: str) -> Iterator[None]:
    """Say on stderr what the command waits for once that takes over a second, then every 10 s for
    how long: a region or an endpoint that does not answer would otherwise leave a silent terminal."""
    done = threading.Event()
    start = time.monotonic()

    def tell() -> None:
        if done.wait(NOTICE_AFTER_S):
            return
        say(f"{PROG}: {what}…")
        while not done.wait(NOTICE_EVERY_S):
            say(f"{PROG}: still waiting for AWS after {time.monotonic() - start:.0f} s; Ctrl+C stops.")

    threading.Thread(target=tell, name="waiting-notice", daemon=True).start()
    try:
        yield
    finally:
        done.set()
