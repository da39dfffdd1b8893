"""Reading the files the app keeps on disk, which may be corrupt, and setting a broken one aside.

Any of them can be damaged (a full disk, an editor, a sync tool, a bad merge): non-UTF-8 bytes, a
NUL, a truncated write, a FIFO or a directory in its place, a huge file. Reading one must never hang
(a FIFO blocks open() until a writer comes) nor end in a traceback. A file that only caches or that
the app rewrites anyway (the instances cache, the ssh config include) is renamed to
``<name>.corrupt-<timestamp>`` and rebuilt, with a notice that names it; the user can look at it or
delete it. A file that holds trust (the app's known_hosts) is never set aside silently: its owner
refuses with a sentence instead (see hostkeys.KnownHostsUnreadable).
"""

from __future__ import annotations

import logging
import os
import stat
from datetime import datetime
from pathlib import Path

log = logging.getLogger(__name__)

# Far above what any of the app's own files reaches (a known_hosts with thousands of instances is
# under 1 MB); a larger one is not ours, and reading it whole would stall the app.
MAX_BYTES = 8 * 1024 * 1024


class UnreadableFile(Exception):
    """The file is there but can't be used; ``reason`` says why in a few words."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def _not_utf8_at(data: bytes, exc: UnicodeDecodeError) -> str:
    line = data.count(b"\n", 0, exc.start) + 1
    return f"not UTF-8 at line {line}"


def read_text(path: Path, max_bytes: int = MAX_BYTES) -> str:
    """The file's text. FileNotFoundError when it is not there; UnreadableFile (with the reason)
    when it is there but is not a readable, regular, UTF-8 text file of a sane size."""
    try:
        info = path.stat()  # follows a symlink: a dotfile manager may link it somewhere
    except FileNotFoundError:
        raise
    except OSError as exc:  # a symlink loop, a path through a file
        raise UnreadableFile(path, exc.strerror or type(exc).__name__) from exc
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise UnreadableFile(path, kind)  # never open(): a FIFO would block until a writer came
    if info.st_size > max_bytes:
        raise UnreadableFile(path, f"{info.st_size // (1024 * 1024)} MB, larger than any file the app writes")
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise UnreadableFile(path, exc.strerror or type(exc).__name__) from exc
    if len(data) > max_bytes:
        raise UnreadableFile(path, "larger than any file the app writes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(path, _not_utf8_at(data, exc)) from exc


def set_aside(path: Path, what: str, reason: str) -> str:
    """Rename the broken file to ``<name>.corrupt-<timestamp>`` (kept for a look), log it, and
    return the notice to show: it names the file, says why, and what happens next."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    counter = 1
    while os.path.lexists(target):
        counter += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{counter}")
    try:
        os.rename(path, target)
    except OSError as exc:
        log.warning("%s %s could not be read (%s) nor set aside: %s", what, path, reason, exc)
        return (
            f"{what} {path} could not be read ({reason}) and could not be moved aside "
            f"({exc.strerror or exc}); it is ignored. Remove it, then retry."
        )
    log.warning("%s %s could not be read (%s): moved to %s", what, path, reason, target)
    return f"{what} {path} could not be read ({reason}); it was moved to {target.name} and is made anew."
