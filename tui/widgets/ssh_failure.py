"""The error line of a screen that reaches an instance over SSH (setup log, GPU panel, tunnel).

One widget for what those screens share: the line hidden until something failed, the failure put
into words (a D2lError's sentence, or "details are in the log file" for a bug, logged), and the
host key the server presented on first use, kept until the person trusts it (t) or it is cleared.
It is the screen's ``#step-error`` line, so the app's stylesheet shows it as every other error.
"""

from __future__ import annotations

import logging
from typing import Protocol

from textual.message import Message
from textual.widgets import Static

from tui.services.errors import D2lError
from tui.widgets.plain import plain

log = logging.getLogger(__name__)

TRY_AGAIN = " Press r to try again."


class Trusting(Protocol):
    def trust(self, key_line: str) -> None: ...


class SshFailure(Static):
    class LinkFailed(Message):
        """A pane's link failed: what it learned of the instance (stopped, gone) may be news to the
        screen around it (the cockpit polls AWS every few seconds only), which then asks at once."""

    def __init__(self) -> None:
        super().__init__("", id="step-error")
        self.untrusted_key = ""  # a presented host key the person may choose to trust

    def show(self, message: str) -> None:
        """What went wrong and the next step ("" hides the line). Outside text: never markup."""
        self.update(plain(message))
        self.set_class(bool(message), "visible")

    def hide(self) -> None:
        self.show("")

    def failed(
        self,
        exc: BaseException,
        unexpected: str,
        *,
        retry: str = "",
        again: str = TRY_AGAIN,
        offer_trust: bool = True,
    ) -> None:
        """Show why the link failed: the host-key choice (when ``offer_trust``), a D2lError's
        sentence followed by ``retry``, or ``unexpected`` (logged with its traceback) + ``again``."""
        from tui.services.remote.ssh import HostKeyUnknown

        if offer_trust and isinstance(exc, HostKeyUnknown):
            self.untrusted_key = exc.presented or self.untrusted_key
            self.show(
                f"{exc.what}\nThe server presents {exc.fingerprint}. Press t to trust it only if you expect "
                "this key (for example it matches the instance's console output in the EC2 console)."
            )
        elif isinstance(exc, D2lError):
            log.warning("connection to an instance failed: %s", exc)
            self.show(f"{exc}{retry}")
            self.post_message(self.LinkFailed())
        else:
            log.error("%s", unexpected, exc_info=exc)
            self.show(f"{unexpected}; details are in the log file.{again}")

    def trust(self, link: Trusting) -> bool:
        """Pin the presented key for the instance; False when there was none to trust."""
        if not self.untrusted_key:
            return False
        link.trust(self.untrusted_key)
        self.untrusted_key = ""
        return True
