"""Key pairs: ed25519 keys generated locally (0400, never overwritten), imported per region.

The private key is made on this computer and never leaves it: EC2 only ever gets the public half
(ImportKeyPair), so the same local key works in every region and AWS never holds a copy. Files live in
``~/.ssh/d2l-tui/`` (0700) as ``<name>.pem`` (0400), written with O_EXCL so an existing key is never
overwritten. Key material is never logged.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from pathlib import Path
from typing import Any

from tui.aws_response import error_code
from tui.models import TAG_MANAGED, TAG_NAME, KeyChoice
from tui.services.cloud.aws import Aws
from tui.services.errors import D2lError, InputError, from_client_error

log = logging.getLogger(__name__)

DEFAULT_KEY_DIR = Path("~/.ssh/d2l-tui").expanduser()

MAX_KEY_NAME = 64
MAX_KEY_BYTES = 64 * 1024
_KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_CHAR_NAMES = {" ": "a space", "\t": "a tab", "/": "a '/'", "\\": "a '\\'"}


def validate_key_name(name: str) -> str | None:
    """None when valid, else a sentence saying what is wrong.

    EC2 allows 255 ASCII characters of almost anything; the name is also our file name and appears
    in ssh command lines, so it is held to 1–64 filename-safe characters.
    """
    if not name:
        return "A key name is needed: 1 to 64 letters, digits, '-', '_' or '.'."
    if len(name) > MAX_KEY_NAME:
        return f"Key names can be at most {MAX_KEY_NAME} characters; this one has {len(name)}."
    for ch in name:
        if not (ch.isascii() and (ch.isalnum() or ch in "._-")):
            what = _CHAR_NAMES.get(ch, f"{ch!r}")
            return f"Key names can only use letters, digits, '-', '_' and '.'; {name!r} has {what}."
    if not _KEY_NAME.match(name):
        # A leading '-' reads as an option on command lines; a leading '.' makes a hidden file.
        return f"Key names must start with a letter or digit; {name!r} starts with {name[0]!r}."
    return None


def private_key_path(name: str, key_dir: Path = DEFAULT_KEY_DIR) -> Path:
    """Where the app keeps the private key for ``name``: ``<key_dir>/<name>.pem``.

    ".pem" because that is what the EC2 console downloads and what the book's chapter calls the
    file (``key.pem``), so people recognise it; ssh doesn't care about the extension.
    """
    if not name or "/" in name or "\0" in name or name in (".", ".."):
        # Pairs made elsewhere can have any name; never let one point outside key_dir.
        raise InputError(f"{name!r} can't be used as a key file name.", "Choose a key with a simpler name.")
    return key_dir / f"{name}.pem"


def _looks_like_private_key(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            head = f.read(64)
    except OSError:
        return False
    return head.startswith(b"-----BEGIN") and b"PRIVATE KEY-----" in head


def find_private_key(name: str, key_dir: Path = DEFAULT_KEY_DIR) -> Path | None:
    """The app's key dir first (``<name>.pem``), then ~/.ssh/<name>.pem, then ~/.ssh/<name>.

    ~/.ssh is read at call time (HOME may change, as in tests). Files found in ~/.ssh must look like
    a private key, so a pair that happens to be named "config" doesn't match ~/.ssh/config.
    """
    try:
        own = private_key_path(name, key_dir)
    except InputError:
        return None
    if own.is_file():
        return own
    ssh_dir = Path("~/.ssh").expanduser()
    for candidate in (ssh_dir / f"{name}.pem", ssh_dir / name):
        if candidate.is_file() and _looks_like_private_key(candidate):
            return candidate
    return None


def _ensure_key_dir(key_dir: Path) -> None:
    """Create key_dir (and missing parents) as 0700; tighten an existing one we own.

    A folder that fails the checks of ``key_dir_problem`` (a link, writable by others, someone
    else's) is refused, never repaired behind the user's back: keys in it may have been planted.
    """
    missing = [p for p in (key_dir, *key_dir.parents) if not os.path.lexists(p)]
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise D2lError(
                f"Could not create the key folder {directory}: {exc.strerror}.",
                "Check that your home folder is writable, then try again.",
            ) from exc
    problem = key_dir_problem(key_dir)
    if problem:
        raise problem
    st = os.lstat(key_dir)
    if st.st_mode & 0o077 and st.st_uid == os.getuid():
        # Ours and only readable by others (a loose umask): the keys inside must stay private.
        _chmod_no_follow(key_dir, 0o700, directory=True)
        log.info("Set %s to mode 0700", key_dir)


class KeyFileProblem(D2lError):
    """A key file or key folder ssh (or d2l-tui) must not trust as it is.

    ``fix_command`` is the shell command that repairs it; ``app_can_fix`` says whether d2l-tui may
    run the same repair itself (the file or folder is the user's own and no link is in the way).
    """

    def __init__(self, what: str, fix_command: str, *, target: Path | None = None, fix_mode: int = 0) -> None:
        super().__init__(what, f"Fix it with `{fix_command}`, then try again.")
        self.fix_command = fix_command
        self.target = target  # the file or folder to chmod, when the app may do it itself
        self.fix_mode = fix_mode

    @property
    def app_can_fix(self) -> bool:
        return self.target is not None and self.fix_mode != 0


def _shell(path: Path | str) -> str:
    import shlex

    return shlex.quote(str(path))


def _unsafe_parent(key_dir: Path) -> KeyFileProblem | None:
    """The first folder above key_dir that others could change, as OpenSSH's secure_path sees it.

    Its real path is checked up to the root: each folder must belong to the user or root and not be
    writable by group or others, except a root-owned sticky folder such as /tmp, where others can add
    entries but cannot replace ours.
    """
    uid = os.getuid()
    for parent in Path(os.path.realpath(key_dir.parent)).joinpath("x").parents:
        try:
            st = os.stat(parent)
        except OSError:
            continue  # not there yet: mkdir will make it ours
        if st.st_uid not in (uid, 0):
            return KeyFileProblem(
                f"The key folder {key_dir} is inside {parent}, which belongs to another user (uid {st.st_uid}).",
                f"sudo chown $(id -un) {_shell(parent)}",
            )
        sticky_root = st.st_uid == 0 and st.st_mode & stat.S_ISVTX
        if st.st_mode & 0o022 and not sticky_root:
            return KeyFileProblem(
                f"The key folder {key_dir} is inside {parent}, which others can write to "
                f"(mode {stat.S_IMODE(st.st_mode):04o}): they could swap the keys.",
                f"chmod go-w {_shell(parent)}",
            )
    return None


def key_dir_problem(key_dir: Path) -> KeyFileProblem | None:
    """Why the keys in ``key_dir`` can't be trusted (OpenSSH StrictModes rules), or None.

    The folder itself must be a real folder (a link is never followed: the audit saw /tmp turned
    0700 through one), owned by the user or root, and writable by nobody else; its parents likewise.
    A folder that doesn't exist yet is fine: the app makes it 0700.
    """
    try:
        st = os.lstat(key_dir)
    except FileNotFoundError:
        return _unsafe_parent(key_dir)
    except OSError as exc:
        return KeyFileProblem(
            f"The key folder {key_dir} can't be read: {exc.strerror}.",
            f"ls -ld {_shell(key_dir)}",
        )
    quoted = _shell(key_dir)
    if stat.S_ISLNK(st.st_mode):
        target = os.path.realpath(key_dir)
        return KeyFileProblem(
            f"The key folder {key_dir} is a link to {target}; d2l-tui keeps keys only in a real folder.",
            f"rm {quoted} && mkdir -m 700 {quoted}",
        )
    if not stat.S_ISDIR(st.st_mode):
        return KeyFileProblem(
            f"{key_dir} is not a folder, so d2l-tui can't keep its keys there.",
            f"mv {quoted} {_shell(str(key_dir) + '.old')}",
        )
    if st.st_uid not in (os.getuid(), 0):
        return KeyFileProblem(
            f"The key folder {key_dir} belongs to another user (uid {st.st_uid}), so its keys can't be trusted.",
            f"mv {quoted} {_shell(str(key_dir) + '.old')} && mkdir -m 700 {quoted}",
        )
    if st.st_mode & 0o022:
        return KeyFileProblem(
            f"Others can add or replace files in the key folder {key_dir} "
            f"(mode {stat.S_IMODE(st.st_mode):04o}), so its keys can't be trusted.",
            f"chmod 700 {quoted}",
            target=key_dir if st.st_uid == os.getuid() else None,
            fix_mode=0o700,
        )
    return _unsafe_parent(key_dir)


def _public_line(private_key: Any, name: str) -> str:
    from cryptography.hazmat.primitives import serialization

    public = private_key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return f"{public.decode('ascii')} d2l-tui:{name}"


def generate_key(name: str, key_dir: Path = DEFAULT_KEY_DIR) -> tuple[Path, str]:
    """Write a new ed25519 private key (dir 0700, file 0400, O_EXCL) and return (path, public OpenSSH line)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    problem = validate_key_name(name)
    if problem:
        raise InputError(problem, "Choose another key name.")
    path = private_key_path(name, key_dir)
    exists = D2lError(
        f"A key file already exists at {path}; d2l-tui never overwrites keys.",
        f"Choose the existing key '{name}' (it will be imported where needed), or pick another name.",
    )
    if path.exists() or path.is_symlink():
        raise exists
    _ensure_key_dir(key_dir)

    key = Ed25519PrivateKey.generate()
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    # O_EXCL: if anything appeared at the path since the check above (another app instance, a
    # symlink planted by someone), fail instead of writing through it.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o400)
    except FileExistsError as exc:
        raise exists from exc
    except OSError as exc:
        raise D2lError(
            f"Could not write the key file {path}: {exc.strerror}.", "Check the folder's permissions."
        ) from exc
    try:
        os.fchmod(fd, 0o400)  # the umask could have left it even tighter (unreadable to ssh)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            # The public half is about to be imported: a key lost to a crash would lock the user out.
            os.fsync(f.fileno())
    except OSError as exc:
        path.unlink(missing_ok=True)  # ours, half written: useless
        raise D2lError(
            f"Could not write the key file {path}: {exc.strerror}.", "Check free disk space."
        ) from exc
    log.info("Generated ed25519 key %s", path)
    return path, _public_line(key, name)


def key_file_problem(path: Path) -> KeyFileProblem | None:
    """Why ssh would refuse (or the user shouldn't trust) the private key at ``path``, or None.

    OpenSSH's rule: the file is the user's own and neither group nor others may read or write it
    (0400 and 0600 pass). A link is checked at its target but never repaired through.
    """
    try:
        link = os.lstat(path)
        st = os.stat(path)
    except FileNotFoundError:
        return KeyFileProblem(f"The key file {path} does not exist.", f"ls -l {_shell(path.parent)}")
    except OSError as exc:
        return KeyFileProblem(f"The key file {path} can't be read: {exc.strerror}.", f"ls -l {_shell(path)}")
    is_link = stat.S_ISLNK(link.st_mode)
    real = Path(os.path.realpath(path)) if is_link else path
    if not stat.S_ISREG(st.st_mode):
        return KeyFileProblem(f"{path} is not a regular file, so it can't be a key.", f"ls -l {_shell(real)}")
    if st.st_uid != os.getuid():
        return KeyFileProblem(
            f"The key file {path} belongs to another user (uid {st.st_uid}); ssh keys must be your own.",
            f"cp {_shell(real)} ~/.ssh/ && chmod 400 ~/.ssh/{_shell(real.name)}",
        )
    if st.st_mode & 0o077:
        where = f" (through the link {path})" if is_link else ""
        return KeyFileProblem(
            f"ssh refuses key files other users can read: {real} is mode {stat.S_IMODE(st.st_mode):04o}{where}.",
            f"chmod 400 {_shell(real)}",
            target=None if is_link else path,
            fix_mode=0o400,
        )
    return None


def key_problem(path: Path, key_dir: Path = DEFAULT_KEY_DIR) -> KeyFileProblem | None:
    """The key file's problem, and for a key in the app's key folder the folder's first."""
    if path.parent == key_dir:
        problem = key_dir_problem(key_dir)
        if problem:
            return problem
    return key_file_problem(path)


def check_key(path: Path, key_dir: Path = DEFAULT_KEY_DIR) -> None:
    """Raise the KeyFileProblem (a sentence and the command that fixes it) of a key about to be used."""
    problem = key_problem(path, key_dir)
    if problem:
        raise problem


def permission_problem(path: Path) -> str | None:
    """A sentence when ssh would refuse the key file (readable by others, someone else's), else None."""
    problem = key_file_problem(path)
    return problem.what if problem else None


def _chmod_no_follow(path: Path, mode: int, *, directory: bool = False) -> None:
    """chmod ``path`` itself, never what a link there points to (Linux has no lchmod)."""
    flags = (
        os.O_RDONLY
        | getattr(os, "O_NOFOLLOW", 0)
        | getattr(os, "O_CLOEXEC", 0)
        | getattr(os, "O_NONBLOCK", 0)
    )
    if directory:
        flags |= getattr(os, "O_DIRECTORY", 0)
    fd = os.open(path, flags)
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def fix_permissions(path: Path) -> None:
    """Make the key file readable by its owner only (0400), as ssh requires; never through a link."""
    _set_mode(path, 0o400, key_file_problem(path))


def fix_key_dir(key_dir: Path) -> None:
    """Make the user's own key folder 0700 (what `chmod 700` would do); never through a link."""
    _set_mode(key_dir, 0o700, key_dir_problem(key_dir), directory=True)


def _set_mode(path: Path, mode: int, problem: KeyFileProblem | None, *, directory: bool = False) -> None:
    if problem is not None and not problem.app_can_fix:
        raise problem
    try:
        _chmod_no_follow(path, mode, directory=directory)
    except OSError as exc:
        raise D2lError(
            f"Could not change {path} to mode {mode:04o}: {exc.strerror}.",
            f"Run `chmod {mode:o} {_shell(path)}` yourself.",
        ) from exc
    log.info("Set %s to mode %04o", path, mode)


def fix(problem: KeyFileProblem) -> None:
    """Apply the repair ``problem`` offers (only when ``app_can_fix``)."""
    if problem.target is None or not problem.app_can_fix:
        raise problem
    if problem.fix_mode == 0o700:
        fix_key_dir(problem.target)
    else:
        fix_permissions(problem.target)


def list_key_pairs(aws: Aws, region: str, key_dir: Path = DEFAULT_KEY_DIR) -> list[KeyChoice]:
    """The region's key pairs, each with its local private key file when one is found."""
    import botocore.exceptions as bex

    try:
        pairs = aws.client("ec2", region).describe_key_pairs().get("KeyPairs", [])
    except bex.ClientError as exc:
        raise from_client_error(exc, "DescribeKeyPairs") from exc
    names = sorted(str(p["KeyName"]) for p in pairs)
    choices = []
    for name in names:
        local = find_private_key(name, key_dir)
        choices.append(KeyChoice(name=name, private_key_path=str(local) if local else None))
    return choices


def _load_public_line(path: Path, name: str) -> str:
    """The OpenSSH public key line for a local private key file (OpenSSH or PEM format)."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    try:
        with path.open("rb") as f:
            data = f.read(MAX_KEY_BYTES + 1)
    except OSError as exc:
        raise D2lError(
            f"Could not read the key file {path}: {exc.strerror}.", "Check its permissions."
        ) from exc
    if len(data) > MAX_KEY_BYTES:  # the largest RSA key is about 13 KiB: this is something else
        raise D2lError(
            f"{path} is larger than {MAX_KEY_BYTES // 1024} KiB, so it is not a private key.",
            "Give the path to an OpenSSH or PEM private key.",
        )
    try:
        if data.lstrip().startswith(b"-----BEGIN OPENSSH PRIVATE KEY"):
            key: Any = serialization.load_ssh_private_key(data, password=None)
        else:
            key = serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:  # cryptography's way of saying "it has a passphrase"
        raise D2lError(
            f"The key file {path} is protected by a passphrase, so its public key can't be read.",
            f"Import it yourself (ssh-keygen -y -f {path} > key.pub, then ImportKeyPair) or create a new key.",
        ) from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise D2lError(
            f"{path} is not a private key d2l-tui can read.",
            "Give the path to an OpenSSH or PEM private key.",
        ) from exc
    if not isinstance(key, (ed25519.Ed25519PrivateKey, rsa.RSAPrivateKey)):
        raise D2lError(
            f"{path} holds a key of a type EC2 doesn't accept (only ed25519 and RSA).",
            "Create a new key in the key step.",
        )
    return _public_line(key, name)


def _region_has_pair(ec2: Any, name: str) -> bool:
    import botocore.exceptions as bex

    try:
        return bool(ec2.describe_key_pairs(KeyNames=[name]).get("KeyPairs"))
    except bex.ClientError as exc:
        if error_code(exc) == "InvalidKeyPair.NotFound":
            return False
        raise from_client_error(exc, "DescribeKeyPairs") from exc


def ensure_key(aws: Aws, region: str, key: KeyChoice, key_dir: Path = DEFAULT_KEY_DIR) -> KeyChoice:
    """Make the key usable for a launch in the region: generate (create=True and no local file) and
    import the public key when the region lacks the pair. Returns the KeyChoice with its local path."""
    import botocore.exceptions as bex

    name = key.name
    if key.create:
        problem = validate_key_name(name)
        if problem:
            raise InputError(problem, "Choose another key name.")
    local: Path | None
    if key.private_key_path:
        local = Path(key.private_key_path).expanduser()
        if not local.is_file():
            raise D2lError(f"There is no key file at {local}.", "Check the path to the private key.")
    else:
        local = find_private_key(name, key_dir)

    ec2 = aws.client("ec2", region)
    # Asked before generating: a new local key under the name of an existing pair would never match it.
    if _region_has_pair(ec2, name):
        if local is None:
            raise D2lError(
                f"The key pair '{name}' exists in {region}, but its private key was not found "
                f"(looked in {key_dir} and ~/.ssh).",
                "Give the path to its private key file, or create a key with another name.",
            )
        # Not compared with the pair's KeyFingerprint: AWS computes it differently for created and
        # imported RSA and ed25519 keys, so a false alarm is likelier than a catch; ssh reports a mismatch.
        check_key(local, key_dir)  # before the launch: ssh would refuse it only afterwards
        return KeyChoice(name=name, private_key_path=str(local), create=False)

    if local is None and key.create:
        local, _ = generate_key(name, key_dir)
    if local is None:
        raise D2lError(
            f"The key pair '{name}' doesn't exist in {region} and its private key was not found on this computer.",
            "Create a new key, or give the path to an existing private key file.",
        )
    # A key planted in a folder others can write to, or one ssh will refuse, is never imported.
    check_key(local, key_dir)
    public_line = _load_public_line(local, name)
    tags = [{"Key": TAG_MANAGED, "Value": "true"}, {"Key": TAG_NAME, "Value": name}]
    try:
        ec2.import_key_pair(
            KeyName=name,
            PublicKeyMaterial=public_line.encode("ascii"),
            TagSpecifications=[{"ResourceType": "key-pair", "Tags": tags}],
        )
    except bex.ClientError as exc:
        # Another worker (or app instance) imported it first: the pair is there, which is all we need.
        if error_code(exc) != "InvalidKeyPair.Duplicate":
            raise from_client_error(exc, "ImportKeyPair") from exc
    log.info("Imported key pair %s into %s from %s", name, region, local)
    return KeyChoice(name=name, private_key_path=str(local), create=False)
