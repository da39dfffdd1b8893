"""The system clipboard through pyperclip. The app also always sets the terminal clipboard (OSC 52),
which works over SSH; pyperclip raises without a display (a server, CI), and that is fine."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def copy_text(text: str) -> bool:
    """True when the system clipboard took the text."""
    try:
        import pyperclip

        pyperclip.copy(text)
    except Exception as exc:  # PyperclipException without xclip/wl-copy/pbcopy, or no display
        log.info("system clipboard unavailable (%s); the terminal clipboard was used", exc)
        return False
    return True
