"""Secrets the app keeps between runs (a Jupyter server's token): the user's keyring, else memory.

``keyring`` picks the desktop's store (Secret Service, macOS Keychain, Windows Credential Locker).
A server, a container or CI often has none: keyring then offers its ``fail`` or ``null`` backend,
or a real backend that raises (a locked or absent D-Bus secret service). Either way the store says
so once, in ``notice``, and keeps the secret in this process's memory only: nothing is written to a
plain file behind the user's back.

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
    "No keyring is available on this computer, so the Jupyter token is kept in memory only: "
    "it is gone when d2l-tui exits (the tunnel reads it from the server again next time)."
)


class SecretStore:
    """get / set / delete by name, in the keyring when there is a usable one, else in memory."""

    def __init__(self, service: str = SERVICE, backend: Any = None) -> None:
        self.service = service
        self._backend = backend  # None: the one keyring chooses (resolved on first use)
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
                self._backend = _default_backend()
                if self._backend is None:
                    self._give_up("no usable backend")
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


def _default_backend() -> Any:
    """The backend keyring would use, or None when it is one that stores nothing.

    PYTHON_KEYRING_BACKEND is read each time (keyring itself reads it once per process)."""
    try:
        import keyring
        import keyring.core

        backend = keyring.core.load_env() or keyring.get_keyring()
    except Exception as exc:  # a broken keyring config or backend import
        log.info("keyring could not be loaded: %s", exc)
        return None
    # fail.Keyring (priority 0), null.Keyring (-1) and an empty chainer (-1) store nothing.
    try:
        usable = float(backend.priority) > 0
    except Exception:
        usable = True  # a backend that can't rate itself: try it, and fall back on its first error
    return backend if usable else None


def token_name(instance_id: str) -> str:
    """The keyring entry of an instance's Jupyter token."""
    return f"jupyter-token/{instance_id}"
