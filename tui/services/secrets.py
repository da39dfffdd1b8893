"""Secrets the app keeps between runs (a Jupyter server's token): the user's keyring, else memory.

``keyring`` picks the desktop's store (Secret Service, macOS Keychain, Windows Credential Locker).
A server, a container or CI often has none: keyring then offers its ``fail`` or ``null`` backend,
a real backend that raises (a locked or absent D-Bus secret service), or, with ``keyrings.alt``
installed, a backend that writes secrets to a plain file (base64 is not encryption) or prompts on
the terminal for a file password. None of these is used: the store says so once, in ``notice``,
and keeps the secret in this process's memory only, so nothing is written to a plain file behind
the user's back.

Every call may block (D-Bus, a keychain prompt): call it from a thread (``asyncio.to_thread``).
Values are remembered by ``tui.logs`` so that the log file masks them wherever they would appear.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger(__name__)

SERVICE = "d2l-tui"
NO_KEYRING = (
    "No secure keyring is available on this computer, so the Jupyter token is kept in memory only: "
    "it is gone when d2l-tui exits (the tunnel reads it from the server again next time)."
)


class SecretStore:
    """get / set / delete by name, in the keyring when there is a usable one, else in memory."""

    def __init__(self, service: str = SERVICE, backend: Any = None) -> None:
        self.service = service
        # None: the one keyring chooses (resolved on first use, insecure ones refused). One given
        # here is the caller's choice and used as it is (tests pass a stand-in).
        self._backend = backend
        self._resolved = backend is not None
        self._memory: dict[str, str] = {}
        self._lock = threading.Lock()
        self.notice = ""  # set once the keyring turned out to be unusable

    @property
    def in_keyring(self) -> bool | None:
        """True once the keyring took a secret, False when it can't be used, None before first use."""
        if self.notice:
            return False
        return True if self._resolved and self._backend is not None else None

    def _keyring(self) -> Any:
        with self._lock:
            if not self._resolved:
                self._resolved = True
                self._backend, why = _default_backend()
                if self._backend is None:
                    self._give_up(why)
            return self._backend

    def _give_up(self, why: str) -> None:
        if not self.notice:
            log.info("keyring unavailable (%s): secrets stay in memory", why)
        self.notice = NO_KEYRING
        self._backend = None

    def get(self, name: str) -> str | None:
        from tui.logs import remember_secret

        with self._lock:
            value = self._memory.get(name)
        backend = self._keyring()
        if value is None and backend is not None:
            try:
                value = backend.get_password(self.service, name)
            except Exception as exc:  # KeyringError, a D-Bus error, a locked collection
                self._give_up(f"{type(exc).__name__}: {exc}")
        if value:
            remember_secret(value)
        return value or None

    def set(self, name: str, value: str) -> bool:
        """Keep ``value``; True when the keyring holds it, False when only this process does."""
        from tui.logs import remember_secret

        remember_secret(value)
        with self._lock:
            self._memory[name] = value
        backend = self._keyring()
        if backend is None:
            return False
        try:
            backend.set_password(self.service, name, value)
        except Exception as exc:
            self._give_up(f"{type(exc).__name__}: {exc}")
            return False
        return True

    def delete(self, name: str) -> None:
        with self._lock:
            self._memory.pop(name, None)
        backend = self._keyring()
        if backend is None:
            return
        try:
            backend.delete_password(self.service, name)
        except Exception as exc:  # PasswordDeleteError when it wasn't there: nothing to do
            log.debug("keyring delete %s: %s", name, type(exc).__name__)


def _default_backend() -> tuple[Any, str]:
    """(the backend keyring would use, "") or (None, why) when it is one we must not store in.

    PYTHON_KEYRING_BACKEND is read each time (keyring itself reads it once per process)."""
    try:
        import keyring
        import keyring.core

        backend = keyring.core.load_env() or keyring.get_keyring()
    except Exception as exc:  # a broken keyring config or backend import
        return None, f"keyring could not be loaded: {exc}"
    from keyring.backends.chainer import ChainerBackend

    if isinstance(backend, ChainerBackend):
        # The chain writes to the first member that takes a secret: a plain file as soon as the
        # desktop's store refuses. Keep only its best secure member, if any.
        try:
            members = list(backend.backends)
        except Exception as exc:
            return None, f"the keyring chain could not be read: {exc}"
        secure = [m for m in members if not insecure_reason(m)]
        if not secure:
            names = ", ".join(_name(m) for m in members) or "no backends"
            return None, f"the keyring chain holds only backends that store nothing or plain files ({names})"
        return secure[0], ""
    why = insecure_reason(backend)
    return (None, why) if why else (backend, "")


def _name(backend: Any) -> str:
    return f"{type(backend).__module__}.{type(backend).__qualname__}"


def insecure_reason(backend: Any) -> str:
    """Why ``backend`` must not hold a secret (stores nothing, or a plain or prompted file), else ""."""
    name = _name(backend)
    if name.startswith("keyrings.alt."):
        # PlaintextKeyring writes base64 to a file; EncryptedKeyring asks for a password on the
        # terminal (under the TUI, a hang); the rest are legacy stores without a promise we can give.
        return f"{name} keeps secrets in a file, not a secure store"
    if name.startswith(("keyring.backends.fail.", "keyring.backends.null.")):
        return f"{name} stores nothing"
    try:
        priority = float(backend.priority)
    except Exception:
        return ""  # a backend that can't rate itself: try it, and fall back on its first error
    # keyring's own scale: the desktop stores rate 4.8–5, plain or unviable ones below 1.
    return f"{name} rates itself {priority:g} (below 1: not a secure store)" if priority < 1 else ""


def token_name(instance_id: str) -> str:
    """The keyring entry of an instance's Jupyter token."""
    return f"jupyter-token/{instance_id}"
