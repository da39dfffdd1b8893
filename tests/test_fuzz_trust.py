"""Fuzz pass over what items 6–8 read: key files and key folders in every nasty shape, and log paths.

Each case must end in success or a D2lError sentence (never another exception, never a hang), and a
key that ssh would refuse or that sits in an untrusted folder is never imported."""

from __future__ import annotations

import logging
import os
import random
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tui.logs import setup_logging
from tui.models import KeyChoice
from tui.services.cloud.aws import Aws
from tui.services.cloud.keys import ensure_key, key_dir_problem
from tui.services.errors import D2lError

GOOD = ed25519.Ed25519PrivateKey.generate().private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
)
rng = random.Random(13)

CONTENTS: dict[str, bytes] = {
    "empty": b"",
    "bom": b"\xef\xbb\xbf" + GOOD,
    "nul": GOOD[:40] + b"\0" + GOOD[40:],
    "non-utf8": b"\xff\xfe\xfa" * 50,
    "truncated": GOOD[: len(GOOD) // 2],
    "markup": b"-----BEGIN OPENSSH PRIVATE KEY-----\n[bold]x[/]\n-----END OPENSSH PRIVATE KEY-----\n",
    "huge": b"-----BEGIN OPENSSH PRIVATE KEY-----\n" + b"A" * 300_000,
    "deep": b"[" * 100_000,
    **{f"random-{n}": rng.randbytes(rng.randint(1, 4096)) for n in range(8)},
    **{
        f"mutated-{n}": bytes(b ^ (rng.random() < 0.02) * rng.randint(1, 255) for b in GOOD) for n in range(8)
    },
}


def _shapes(key_dir: Path, tmp_path: Path) -> dict[str, Callable[[Path], None]]:
    """Ways to put something at <key_dir>/k.pem other than a plain file."""

    def fifo(p: Path) -> None:
        os.mkfifo(p)

    def directory(p: Path) -> None:
        p.mkdir()

    def dangling(p: Path) -> None:
        p.symlink_to(tmp_path / "nowhere")

    def loop(p: Path) -> None:
        p.symlink_to(p)

    return {"fifo": fifo, "directory": directory, "dangling": dangling, "loop": loop}


def _outcome(aws: Aws, key_dir: Path) -> str:
    try:
        ensure_key(aws, "us-east-1", KeyChoice("k", None), key_dir)
        return "imported"
    except D2lError as exc:
        assert exc.what and exc.next_step and "\n" not in exc.what
        return "refused"


def test_key_files_of_every_shape(aws: Aws, key_dir: Path, tmp_path: Path) -> None:
    tried = refused = 0
    cases: list[tuple[str, int, Callable[[Path], None]]] = []
    for name, data in CONTENTS.items():
        for mode in (0o400, 0o600, 0o644, 0o000, 0o777):
            cases.append((f"{name}/{mode:o}", mode, lambda p, d=data: p.write_bytes(d)))
    cases += [(name, 0o400, make) for name, make in _shapes(key_dir, tmp_path).items()]
    for label, mode, make in cases:
        key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = key_dir / "k.pem"
        make(path)
        if path.is_file() and not path.is_symlink():
            os.chmod(path, mode)
        outcome = _outcome(aws, key_dir)
        tried += 1
        refused += outcome == "refused"
        if mode & 0o077 or label.startswith(("fifo", "directory", "dangling", "loop")):
            assert outcome == "refused", label
        if outcome == "imported":
            aws.client("ec2", "us-east-1").delete_key_pair(KeyName="k")
        if path.is_dir() and not path.is_symlink():
            path.rmdir()
        else:
            path.unlink()
    assert tried == len(cases) and refused >= len(cases) - len(CONTENTS) * 2


@pytest.mark.parametrize("folder_mode", [0o700, 0o755, 0o750, 0o770, 0o775, 0o777, 0o1777, 0o000, 0o500])
def test_key_folder_modes(aws: Aws, key_dir: Path, folder_mode: int) -> None:
    key_dir.mkdir(parents=True)
    (key_dir / "k.pem").write_bytes(GOOD)
    os.chmod(key_dir / "k.pem", 0o400)
    os.chmod(key_dir, folder_mode)
    outcome = _outcome(aws, key_dir)
    assert outcome == ("refused" if folder_mode & 0o022 else "imported")
    assert stat.S_IMODE(os.lstat(key_dir).st_mode) in (folder_mode & 0o7777, 0o700)


@pytest.mark.parametrize("shape", ["file", "fifo", "link-to-file", "link-loop"])
def test_key_folder_that_is_not_a_folder(key_dir: Path, tmp_path: Path, shape: str) -> None:
    key_dir.parent.mkdir(parents=True)
    if shape == "file":
        key_dir.write_text("x")
    elif shape == "fifo":
        os.mkfifo(key_dir)
    elif shape == "link-to-file":
        (tmp_path / "f").write_text("x")
        key_dir.symlink_to(tmp_path / "f")
    else:
        key_dir.symlink_to(key_dir)
    problem = key_dir_problem(key_dir)
    assert problem is not None and problem.fix_command and not problem.app_can_fix


@pytest.mark.parametrize(
    "shape",
    ["fifo", "directory", "dangling-link", "link-loop", "under-a-file", "dev-full", "dev-null", "fine"],
)
def test_log_paths_of_every_shape(
    tmp_path: Path, shape: str, restore_logging: None, capfd: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "logs" / "d2l-tui.log"
    path.parent.mkdir()
    if shape == "fifo":
        os.mkfifo(path)
    elif shape == "directory":
        path.mkdir()
    elif shape == "dangling-link":
        path.symlink_to(tmp_path / "missing" / "x.log")
    elif shape == "link-loop":
        path.symlink_to(path)
    elif shape == "under-a-file":
        (tmp_path / "blocker").write_text("")
        path = tmp_path / "blocker" / "d2l-tui.log"
    elif shape in ("dev-full", "dev-null"):
        node = f"/dev/{shape[4:]}"
        if not os.path.exists(node):
            pytest.skip(f"no {node}")
        path.symlink_to(node)
    said: list[str] = []
    before = os.stat(f"/dev/{shape[4:]}").st_mode if shape.startswith("dev-") else 0
    setup_logging(path, say=said.append)  # never raises, never blocks
    for n in range(3):
        logging.getLogger("tui.fuzz").error("record %d [bold]", n)
    assert len(said) <= 1 and all("going on without a log file" in s for s in said)
    assert (len(said) == 0) == (shape in ("fine", "dev-null"))
    assert capfd.readouterr() == ("", "")
    if before:
        assert os.stat(f"/dev/{shape[4:]}").st_mode == before
