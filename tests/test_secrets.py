"""The secret store: the keyring when there is one, memory with a notice when not, never a plain file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked

from tui.logs import mask_secrets
from tui.services.secrets import NO_KEYRING, SecretStore, token_name


class MemoryKeyring(KeyringBackend):
    """A working keyring that keeps its entries in a dict (the desktop's, as far as the app can tell)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.entries.pop((service, username))


class LockedKeyring(MemoryKeyring):
    """A Secret Service that is there but refuses (locked, or no D-Bus session)."""

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("the collection is locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringLocked("the collection is locked")


def test_the_keyring_keeps_the_token() -> None:
    backend = MemoryKeyring()
    store = SecretStore(backend=backend)
    assert store.set(token_name("i-1"), "f00dfeedf00dfeed1234") is True
    assert backend.entries == {("d2l-tui", "jupyter-token/i-1"): "f00dfeedf00dfeed1234"}
    assert SecretStore(backend=backend).get(token_name("i-1")) == "f00dfeedf00dfeed1234"  # a later run
    assert store.notice == "" and store.in_keyring is True
    store.delete(token_name("i-1"))
    assert backend.entries == {} and store.get(token_name("i-1")) is None


def test_no_keyring_backend_means_memory_only_with_a_notice(tmp_path: Path) -> None:
    # tests/conftest.py: PYTHON_KEYRING_BACKEND=keyring.backends.null.Keyring (nothing to store in).
    store = SecretStore()
    assert store.set("jupyter-token/i-2", "0123456789abcdef0123") is False
    assert store.notice == NO_KEYRING and "memory only" in store.notice and store.in_keyring is False
    assert store.get("jupyter-token/i-2") == "0123456789abcdef0123"
    assert SecretStore().get("jupyter-token/i-2") is None  # gone with the process
    assert not any(tmp_path.rglob("*keyring*"))  # and no file was written instead


def test_the_fail_backend_counts_as_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    store = SecretStore()
    assert store.get("x") is None and store.notice == NO_KEYRING


def test_a_keyring_that_refuses_falls_back_to_memory() -> None:
    store = SecretStore(backend=LockedKeyring())
    assert store.set("jupyter-token/i-3", "abcdefabcdefabcdef12") is False
    assert store.notice == NO_KEYRING
    assert store.get("jupyter-token/i-3") == "abcdefabcdefabcdef12"


def test_values_are_masked_in_the_log_once_the_store_saw_them() -> None:
    # A lowercase hex token looks like a commit id: only knowing it gets it masked anywhere.
    token = "9c1e7b5d4a6f8e0c2b4d6f8a0c2e4b6d8f0a2c4e6b8d3f2a"
    line: Any = f"server said {token} and {token[:12]}"
    assert token in mask_secrets(line)
    SecretStore(backend=MemoryKeyring()).set("jupyter-token/i-4", token)
    assert mask_secrets(line) == f"server said *** and {token[:12]}"
    assert mask_secrets(f'{{"token": "{token[::-1]}"}}') == '{"token": "***"}'
    assert mask_secrets(f"JUPYTER_TOKEN={token[::-1]} ok") == "JUPYTER_TOKEN=*** ok"
    assert mask_secrets("the client token is 2f0c9a0e") == "the client token is 2f0c9a0e"
