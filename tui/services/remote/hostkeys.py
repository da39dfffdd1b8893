"""An instance's SSH host keys, read from its console output and pinned before the first login.

cloud-init prints the host keys to the console once sshd's keys exist: a FINGERPRINTS block (syslog
lines, ``<14>Jun  3 17:07:52 ec2: 256 SHA256:… root@host (ED25519)``) and a KEYS block with the full
public keys (``ssh-ed25519 AAAA… root@host``, no prefix). EC2's GetConsoleOutput returns that text,
through AWS and not through the network path to the instance, so the keys read there can be trusted
and pinned before anything connects: no "trust on first use".

The pins live in the app's own known_hosts (OpenSSH format), keyed by *instance id*: a stopped and
restarted instance gets a new DNS name but keeps its host keys. OpenSSH finds them through
``HostKeyAlias <instance id>`` (see sshconfig); the app's own connections read them from here.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import asyncssh

from tui.models import HostKeyCheck
from tui.services import local_files
from tui.services.cloud.aws import Aws
from tui.services.errors import D2lError, from_client_error

log = logging.getLogger(__name__)

KEYS_BEGIN = "-----BEGIN SSH HOST KEY KEYS-----"
KEYS_END = "-----END SSH HOST KEY KEYS-----"
FINGERPRINTS_BEGIN = "-----BEGIN SSH HOST KEY FINGERPRINTS-----"
FINGERPRINTS_END = "-----END SSH HOST KEY FINGERPRINTS-----"

# Preferred first; DSA (ssh-dss) is never pinned: OpenSSH no longer accepts it.
_KEY_TYPES = {
    "ssh-ed25519": "ED25519",
    "ecdsa-sha2-nistp256": "ECDSA",
    "ecdsa-sha2-nistp384": "ECDSA",
    "ecdsa-sha2-nistp521": "ECDSA",
    "ssh-rsa": "RSA",
}
_ORDER = ("ED25519", "ECDSA", "RSA")
_KEY_START = re.compile(r"^(ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+)\s")
# `<14>Jun  3 17:07:52 ec2: ` (cloud-init < 21.2 logs with the tag "ec2" on every cloud) or `… cloud-init: `.
_SYSLOG_PREFIX = re.compile(r"^<\d+>[^:]*?\d\d:\d\d:\d\d\s+(?:[\w.-]+\s+)?(?:ec2|cloud-init)(?:\[\d+\])?:\s?")
# A kernel message interleaved with the block (`[   12.345678] …`): base64 never starts with '['.
_KERNEL_LINE = re.compile(r"^\[\s*\d+\.\d+\]")
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/=]+")
_FINGERPRINT = re.compile(r"SHA256:([A-Za-z0-9+/]{43})")
_MAX_KEY_BASE64 = 4096  # an RSA-16384 key is ~2,800 characters: never scan a whole console's worth
_MD5_FINGERPRINT = re.compile(
    r"(?<![0-9a-fA-F:])(?:MD5:)?(?:[0-9a-fA-F]{2}:){15}[0-9a-fA-F]{2}(?![0-9a-fA-F:])"
)
_FP_TYPE = re.compile(r"\(([A-Za-z0-9-]+)\)\s*$")

WAIT_LINE = "Waiting for the instance's host keys in its console output (1–3 min after boot)… {elapsed} s"


def _last_block(text: str, begin: str, end: str) -> list[str] | None:
    """The lines between the last BEGIN that has a matching END (the output may be cut mid-block)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    found: list[str] | None = None
    current: list[str] | None = None
    for line in lines:
        if begin in line:
            current = []
        elif end in line:
            if current is not None:
                found = current
            current = None
        elif current is not None:
            current.append(line)
    return found


def _strip_prefix(line: str) -> tuple[str, bool]:
    """(line without a syslog prefix, whether it had one)."""
    match = _SYSLOG_PREFIX.match(line)
    if match:
        return line[match.end() :], True
    return line, False


def _import(key_type: str, blob: str) -> asyncssh.SSHKey | None:
    try:
        key = asyncssh.import_public_key(f"{key_type} {blob}")
    except (asyncssh.KeyImportError, ValueError):
        return None
    return key if key.get_algorithm() == key_type else None


def _decode_key(key_type: str, rest: str) -> asyncssh.SSHKey | None:
    """The key whose base64 starts ``rest``. A console that wraps at 80 columns can glue the
    comment onto the key (``…D5k4T`` + ``root@host`` → ``…D5k4Troot@host``): asyncssh refuses a
    blob with trailing bytes, so the shortest prefix that imports is the key."""
    match = _BASE64_RUN.match(rest)
    if not match:
        return None
    run = match.group(0)[:_MAX_KEY_BASE64]
    key = _import(key_type, run)
    if key is not None:
        return key
    for end in range(4, len(run), 4):
        key = _import(key_type, run[:end])
        if key is not None:
            return key
    return None


def key_line(key: asyncssh.SSHKey) -> str:
    """``type base64``, no comment."""
    return " ".join(key.export_public_key("openssh").decode("ascii").split()[:2])


def normalize(line: str) -> str:
    """A public key line as ``type base64`` (comment dropped); ValueError when it is not one."""
    try:
        key = asyncssh.import_public_key(line.strip())
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise ValueError(f"not an OpenSSH public key: {line[:40]!r}") from exc
    return key_line(key)


def fingerprint(key_line: str) -> str:
    """``SHA256:…`` as `ssh-keygen -lf` and cloud-init print it."""
    return str(asyncssh.import_public_key(key_line.strip()).get_fingerprint("sha256"))


def key_kind(key_line: str) -> str:
    """ED25519 / ECDSA / RSA (the names the FINGERPRINTS block uses), else the algorithm."""
    algorithm = key_line.split(None, 1)[0]
    return _KEY_TYPES.get(algorithm, algorithm)


def parse_console_fingerprints(text: str) -> dict[str, str]:
    """Key type (ED25519, ECDSA, RSA, DSA) -> ``SHA256:…`` from the last complete FINGERPRINTS block."""
    block = _last_block(text, FINGERPRINTS_BEGIN, FINGERPRINTS_END)
    if block is None:
        return {}
    entries: list[str] = []
    for raw in block:
        line, prefixed = _strip_prefix(raw.rstrip())
        if _KERNEL_LINE.match(line) or not line.strip():
            continue
        if prefixed or re.match(r"^\d+\s+SHA256:", line) or not entries:
            entries.append(line.strip())
        else:
            entries[-1] += line.strip()  # wrapped: the console dropped the break (and any space at it)
    result: dict[str, str] = {}
    for entry in entries:
        fp = _FINGERPRINT.search(entry)
        kind = _FP_TYPE.search(entry)
        if fp and kind:
            result[kind.group(1).upper()] = f"SHA256:{fp.group(1)}"
    return result


class PinNote(str):
    """A sentence about how the keys were pinned (no cross-check, keys skipped). A str, so whatever
    shows progress lines shows it; a screen that keeps notes can tell it from a passing line."""


NOTE_MD5_ONLY = (
    "The console lists only MD5 fingerprints (an old cloud-init); the host keys were pinned without a"
    " cross-check."
)


def _md5_only(text: str) -> bool:
    """A FINGERPRINTS block with MD5 fingerprints (``2048 a1:b2:…`` or ``MD5:a1:…``) and no SHA256."""
    block = _last_block(text, FINGERPRINTS_BEGIN, FINGERPRINTS_END)
    return block is not None and any(_MD5_FINGERPRINT.search(line) for line in block)


def read_console_keys(text: str) -> tuple[list[str], list[PinNote]]:
    """(host public key lines, ``type base64``, from the last complete KEYS block: ed25519 first,
    then ecdsa, then rsa, DSA skipped; the notes to show about them). When a FINGERPRINTS block with
    SHA256 fingerprints is there too, a key that does not hash to its printed one is dropped (and
    logged). Key lines that don't parse are skipped and counted in a note."""
    block = _last_block(text, KEYS_BEGIN, KEYS_END)
    if block is None:
        return [], []
    entries: list[str] = []
    for raw in block:
        line, _ = _strip_prefix(raw.strip())
        line = line.strip()
        if not line or _KERNEL_LINE.match(line):
            continue
        if _KEY_START.match(line):
            entries.append(line)
        elif entries:
            entries[-1] += line  # an 80-column console wrapped the key (or its comment)
    keys: dict[str, str] = {}
    unreadable = 0
    for entry in entries:
        key_type, _, rest = entry.partition(" ")
        if key_type not in _KEY_TYPES:
            continue
        key = _decode_key(key_type, rest.strip())
        if key is None:
            log.warning("console output: could not read the %s host key line", key_type)
            unreadable += 1
            continue
        keys.setdefault(key_line(key), _KEY_TYPES[key_type])
    printed = parse_console_fingerprints(text)
    if printed:
        for line in list(keys):
            expected = printed.get(keys[line])
            if expected is not None and fingerprint(line) != expected:
                log.warning(
                    "console output: the %s host key hashes to %s but the FINGERPRINTS block says %s;"
                    " not pinning it",
                    keys[line],
                    fingerprint(line),
                    expected,
                )
                del keys[line]
    notes: list[PinNote] = []
    if keys and not printed and _md5_only(text):
        notes.append(PinNote(NOTE_MD5_ONLY))
    if keys and unreadable:
        notes.append(
            PinNote(
                f"{unreadable} host key line(s) in the console output could not be read and were not pinned."
            )
        )
    for note in notes:
        log.warning("console output: %s", note)
    return sorted(keys, key=lambda line: _ORDER.index(keys[line])), notes


def parse_console_keys(text: str) -> list[str]:
    """The host key lines of read_console_keys(), without its notes."""
    return read_console_keys(text)[0]


# --- GetConsoleOutput ----------------------------------------------------------------------------

# Codes EC2 answers when `Latest` is not offered for the instance type (Xen-based types).
_LATEST_UNSUPPORTED = {"UnsupportedOperation", "InvalidParameterValue", "InvalidParameterCombination"}


def console_text(aws: Aws, region: str, instance_id: str, *, latest: bool = True) -> str:
    """The instance's console output as text ('' while there is none yet)."""
    import botocore.exceptions

    ec2 = aws.client("ec2", region)
    try:
        if latest:
            response = ec2.get_console_output(InstanceId=instance_id, Latest=True)
        else:
            response = ec2.get_console_output(InstanceId=instance_id)
    except botocore.exceptions.ClientError as exc:
        raise from_client_error(exc, "GetConsoleOutput") from exc
    output = str(response.get("Output") or "")
    # EC2 answers base64 text (boto3 leaves it encoded); moto 5.2 answers the decoded text. Console
    # text is never all base64 alphabet (spaces, ':' and '[' are everywhere), so this tells them apart.
    try:
        return base64.b64decode("".join(output.split()), validate=True).decode("utf-8", "replace")
    except ValueError:
        return output


def fetch_console_keys(
    aws: Aws,
    region: str,
    instance_id: str,
    *,
    timeout_s: float = 300,
    sleep: Callable[[float], None] = time.sleep,
    on_wait: Callable[[str], None] | None = None,
) -> list[str]:
    """Poll GetConsoleOutput until the KEYS block shows up (5 s, doubling to 30 s between tries);
    [] when ``timeout_s`` passes first. How they were read (no cross-check, lines skipped) goes to
    ``on_wait`` as PinNotes. Sync: run it in a worker thread."""
    start = time.monotonic()
    waited = 0.0  # what was asked of `sleep`: with a test's instant sleep, the deadline still comes
    delay = 5.0
    latest = True
    while True:
        try:
            keys, notes = read_console_keys(console_text(aws, region, instance_id, latest=latest))
        except D2lError as exc:
            if latest and exc.code in _LATEST_UNSUPPORTED:
                log.info("GetConsoleOutput Latest=True refused (%s): reading without it", exc.code)
                latest = False
                continue
            if exc.code != "InvalidInstanceID.NotFound":  # just launched: not visible everywhere yet
                raise
            keys, notes = [], []
        if keys:
            fps = ", ".join(fingerprint(k) for k in keys)
            log.info("host keys for %s read from the console output: %s", instance_id, fps)
            if on_wait is not None:
                for note in notes:
                    on_wait(note)
            return keys
        elapsed = max(time.monotonic() - start, waited)
        remaining = timeout_s - elapsed
        if remaining <= 0:
            log.info("no host keys in %s's console output after %.0f s", instance_id, elapsed)
            return []
        if on_wait is not None:
            on_wait(WAIT_LINE.format(elapsed=int(elapsed)))
        step = min(delay, remaining)
        sleep(step)
        waited += step
        delay = min(delay * 2, 30.0)


# --- The app's known_hosts -----------------------------------------------------------------------

_HEADER = (
    "# Written by d2l-tui: instances' SSH host keys, keyed by instance id (ssh uses them through\n"
    "# HostKeyAlias). Keys read from the console output are marked d2l-tui:console.\n"
)
_SOURCE_TAG = "d2l-tui:"
_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(path.resolve(), threading.Lock())


class KnownHostsUnreadable(D2lError):
    """The app's known_hosts is there but can't be read. It holds the pins that make a connection
    trustworthy, so it is never set aside or rewritten silently: the person fixes or removes it."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"The app's known_hosts cannot be read ({reason}): fix or remove {path}, then retry.",
            "Removing it only drops the pinned host keys: they are read again from each instance's"
            " console output.",
        )
        self.path = path
        self.reason = reason


class KnownHosts:
    """The app's known_hosts file: ``i-0abc… ssh-ed25519 AAAA… d2l-tui:console`` lines.

    Lines it did not write (comments, other hosts, keys ssh itself accepted) are kept as they are.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def _lines(self) -> list[str]:
        """The file's lines; KnownHostsUnreadable when it is there but broken (never guessed at:
        a pin read wrongly would be trusted, and a rewrite would drop the lines it could not read)."""
        try:
            return local_files.read_text(self.path).splitlines()
        except FileNotFoundError:
            return []
        except local_files.UnreadableFile as exc:
            log.warning("known_hosts %s unreadable: %s", self.path, exc.reason)
            raise KnownHostsUnreadable(self.path, exc.reason) from exc

    @staticmethod
    def _parse(line: str) -> tuple[str, str, str] | None:
        """(host, key line, source) for a plain ``host type base64 [comment]`` line."""
        parts = line.split()
        if len(parts) < 3 or line.lstrip().startswith(("#", "@")):
            return None
        comment = parts[3] if len(parts) > 3 else ""
        source = comment[len(_SOURCE_TAG) :] if comment.startswith(_SOURCE_TAG) else ""
        return parts[0], f"{parts[1]} {parts[2]}", source

    def _entries(self, instance_id: str) -> list[tuple[str, str]]:
        found = []
        for line in self._lines():
            parsed = self._parse(line)
            if parsed and instance_id in parsed[0].split(","):
                found.append((parsed[1], parsed[2]))
        return found

    def keys_for(self, instance_id: str) -> list[str]:
        return [key for key, _ in self._entries(instance_id)]

    def check(self, instance_id: str) -> HostKeyCheck:
        entries = self._entries(instance_id)
        sources = {source for _, source in entries}
        source = "console" if "console" in sources else ("user" if "user" in sources else "")
        return HostKeyCheck(instance_id=instance_id, pinned=tuple(k for k, _ in entries), source=source)

    def pin(self, instance_id: str, key_lines: Iterable[str], *, source: str = "user") -> HostKeyCheck:
        """Replace the instance's keys with ``key_lines`` (validated); source "console" or "user"."""
        if not re.fullmatch(r"[A-Za-z0-9._-]+", instance_id):
            raise ValueError(f"not an instance id: {instance_id!r}")
        keys = list(dict.fromkeys(normalize(line) for line in key_lines))
        if not keys:
            raise ValueError("pin() needs at least one key; use forget() to drop an instance's keys")
        tag = f" {_SOURCE_TAG}{source}" if source else ""
        with _lock_for(self.path):
            kept = self._without(instance_id)
            self._write(kept + [f"{instance_id} {key}{tag}" for key in keys])
        log.info("pinned %d host key(s) for %s (%s)", len(keys), instance_id, source or "unknown source")
        return self.check(instance_id)

    def forget(self, instance_id: str) -> bool:
        """Drop the instance's keys; True when there were some."""
        with _lock_for(self.path):
            if not self._entries(instance_id):
                return False
            self._write(self._without(instance_id))
        log.info("forgot the host keys of %s", instance_id)
        return True

    def _without(self, instance_id: str) -> list[str]:
        """The file's lines (header aside) with ``instance_id`` taken out of every host list."""
        kept = []
        header = _HEADER.splitlines()
        for line in self._lines():
            if line in header:
                continue
            parsed = self._parse(line)
            if parsed and instance_id in parsed[0].split(","):
                others = [h for h in parsed[0].split(",") if h != instance_id]
                if not others:
                    continue
                line = ",".join(others) + line.lstrip()[len(parsed[0]) :]
            kept.append(line)
        return kept

    def _write(self, lines: list[str]) -> None:
        directory = self.path.parent
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            os.chmod(directory, 0o700)
        except OSError:
            pass
        text = _HEADER + "".join(line + "\n" for line in lines)
        # Atomic: an ssh reading the file meanwhile sees the old or the new one, never half.
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".known_hosts-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
