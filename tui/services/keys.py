"""Key pairs: ed25519 keys generated locally (0400, never overwritten), imported per region.

CONTRACT (implemented by the images/keys/network work):
"""

from __future__ import annotations

from pathlib import Path

from tui.models import KeyChoice
from tui.services.aws import Aws

DEFAULT_KEY_DIR = Path("~/.ssh/d2l-tui").expanduser()


def validate_key_name(name: str) -> str | None:
    """None when valid, else a sentence saying what is wrong."""
    raise NotImplementedError


def private_key_path(name: str, key_dir: Path = DEFAULT_KEY_DIR) -> Path:
    raise NotImplementedError


def find_private_key(name: str, key_dir: Path = DEFAULT_KEY_DIR) -> Path | None:
    """The app's key dir first, then ~/.ssh/<name>, ~/.ssh/<name>.pem."""
    raise NotImplementedError


def generate_key(name: str, key_dir: Path = DEFAULT_KEY_DIR) -> tuple[Path, str]:
    """Write a new ed25519 private key (dir 0700, file 0400, O_EXCL) and return (path, public OpenSSH line)."""
    raise NotImplementedError


def permission_problem(path: Path) -> str | None:
    """A sentence when the key file is readable by others (ssh refuses it), else None."""
    raise NotImplementedError


def fix_permissions(path: Path) -> None:
    raise NotImplementedError


def list_key_pairs(aws: Aws, region: str, key_dir: Path = DEFAULT_KEY_DIR) -> list[KeyChoice]:
    raise NotImplementedError


def ensure_key(aws: Aws, region: str, key: KeyChoice, key_dir: Path = DEFAULT_KEY_DIR) -> KeyChoice:
    """Make the key usable for a launch in the region: generate (create=True and no local file) and
    import the public key when the region lacks the pair. Returns the KeyChoice with its local path."""
    raise NotImplementedError
