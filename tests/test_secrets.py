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


def _files_holding(root: Path, secret: str) -> list[Path]:
    """Every file under root whose bytes hold the secret, as is or base64 (PlaintextKeyring's "encoding")."""
    import base64

    shapes = [secret.encode(), base64.b64encode(secret.encode())]
    return [p for p in root.rglob("*") if p.is_file() and any(s in p.read_bytes() for s in shapes)]


@pytest.mark.parametrize(
    "backend",
    [
        "keyrings.alt.file.PlaintextKeyring",
        "keyrings.alt.file.EncryptedKeyring",  # asks for a file password on the terminal
    ],
)
def test_a_keyring_that_writes_plain_files_is_refused(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", backend)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # where keyrings.alt writes its file
    token = "5b7e2c9d1f3a4e6b8c0d2f4a6e8b1c3d5f7a9e0b2d4c6f8a"
    store = SecretStore()
    assert store.set(token_name("i-5"), token) is False
    assert store.notice == NO_KEYRING and store.in_keyring is False
    assert store.get(token_name("i-5")) == token  # still usable in this process
    assert _files_holding(tmp_path, token) == []
    assert SecretStore().get(token_name("i-5")) is None  # and gone with it


@pytest.mark.parametrize("with_a_secure_member", [False, True])
def test_a_keyring_chain_never_falls_through_to_a_plain_file(
    with_a_secure_member: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keyring.backends.chainer import ChainerBackend
    from keyring.backends.fail import Keyring as FailKeyring
    from keyrings.alt.file import PlaintextKeyring

    # The chain's members are whatever backends keyring discovers (this module's classes too): pin
    # them to the case at hand. The chain writes to the first member that takes a secret.
    secure = MemoryKeyring()
    members = ([secure] if with_a_secure_member else []) + [PlaintextKeyring(), FailKeyring()]  # by priority
    monkeypatch.setattr(ChainerBackend, "backends", members)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.chainer.ChainerBackend")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    token = "0e4f1a7c9b2d5e8f3a6c0b9d2e5f8a1c4b7d0e3f6a9c2b5d"
    store = SecretStore()
    assert store.set(token_name("i-6"), token) is with_a_secure_member
    assert _files_holding(tmp_path, token) == []
    if with_a_secure_member:
        assert secure.entries == {("d2l-tui", "jupyter-token/i-6"): token} and store.notice == ""
    else:
        assert store.notice == NO_KEYRING


class CheapKeyring(MemoryKeyring):
    priority = 0.5  # type: ignore[assignment]


def test_insecure_reasons() -> None:
    from keyrings.alt.file import PlaintextKeyring

    from tui.services.secrets import insecure_reason

    assert insecure_reason(MemoryKeyring()) == ""
    assert "rates itself 0.5" in insecure_reason(CheapKeyring())
    assert "keeps secrets in a file" in insecure_reason(PlaintextKeyring())
