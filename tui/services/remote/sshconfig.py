"""`ssh d2l-NAME` outside the app: an ssh config include file the app owns, and the ssh command.

The app writes only its own file (``<key dir>/config``, e.g. ``~/.ssh/d2l-tui/config``), one
``Host`` block per instance that has a public address; the block is rewritten when the address
changes (a stopped-then-started instance gets a new one) and dropped when the instance stops or is
terminated, so an alias never points at an address that may now be someone else's. The user's
``~/.ssh/config`` gets one ``Include`` line, and only when the user asks for it.
"""

from __future__ import annotations

import os
import re
import shlex
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from tui import paths
from tui.models import Instance
from tui.services import local_files

OnNotice = Callable[[str], None]

INCLUDE_FILE = "config"
_HEADER = (
    "# Written by d2l-tui: one Host block per running instance it launched.\n"
    "# Edits here are overwritten; put your own settings in ~/.ssh/config.\n"
)
_DASHES = re.compile(r"-{2,}")


def host_alias(name: str) -> str:
    """d2l-NAME: the name's letters and digits (any script: OpenSSH matches Host patterns byte for
    byte, so `ssh d2l-ünïcødé-名前` works), anything else a '-'. Names the app makes already start
    with d2l- and are not prefixed twice. "" when nothing of the name is left."""
    text = unicodedata.normalize("NFC", name)
    clean = "".join(c if c.isalnum() or c in "._" else "-" for c in text)
    clean = _DASHES.sub("-", clean).strip("-.")
    if not clean:
        return ""
    return clean if clean.startswith("d2l-") else f"d2l-{clean}"


def aliases(instances: Iterable[tuple[str, str]]) -> dict[str, str]:
    """instance id -> its own alias, from (instance id, name) pairs: d2l-NAME, or d2l-INSTANCE-ID
    when the name leaves nothing. Names may repeat (AWS allows it): then each instance sharing one
    gets d2l-NAME-INSTANCE-ID, so `ssh d2l-NAME` never lands on one of them by chance, and never
    silently on another machine than the one it meant before."""
    base = {iid: host_alias(name) or f"d2l-{iid}" for iid, name in instances}
    shared = Counter(base.values())
    chosen = {iid: alias if shared[alias] == 1 else f"{alias}-{iid}" for iid, alias in base.items()}
    taken = Counter(chosen.values())
    # A name that happens to read like another's suffixed alias: the instance id alone is unique.
    return {iid: alias if taken[alias] == 1 else f"d2l-{iid}" for iid, alias in chosen.items()}


def include_path(key_dir: Path) -> Path:
    return key_dir / INCLUDE_FILE


def known_hosts_path() -> Path:
    """The app's own known_hosts: instances' host keys never mix with the user's."""
    return paths.state_dir() / "known_hosts"


def _quote(value: str | Path) -> str:
    text = str(value)
    return f'"{text}"' if any(c.isspace() for c in text) else text


def host_block(instance: Instance, key_path: Path | None, user: str = "ubuntu", alias: str = "") -> str:
    lines = [
        f"# {instance.instance_id} in {instance.region}",
        f"Host {alias or aliases([(instance.instance_id, instance.name)])[instance.instance_id]}",
        f"    HostName {instance.public_dns or instance.public_ip}",
        f"    User {user}",
    ]
    if key_path is not None:
        lines += [f"    IdentityFile {_quote(key_path)}", "    IdentitiesOnly yes"]
    lines += [
        f"    UserKnownHostsFile {_quote(known_hosts_path())}",
        # The app pins each instance's host keys (read from its console output, see hostkeys) in its
        # own known_hosts under the instance id, which survives the new DNS name of a stop/start;
        # ssh looks them up by that alias and refuses any other key, and an instance not pinned yet.
        f"    HostKeyAlias {instance.instance_id}",
        "    StrictHostKeyChecking yes",
    ]
    return "\n".join(lines) + "\n"


def read_blocks(path: Path, on_notice: OnNotice | None = None) -> dict[str, str]:
    """alias -> its block (comment line included), from the app's include file. A file that can't
    be read is set aside (the app rewrites it from AWS anyway) and ``on_notice`` gets the sentence."""
    try:
        text = local_files.read_text(path)
    except FileNotFoundError:
        return {}
    except local_files.UnreadableFile as exc:
        notice = local_files.set_aside(path, "The ssh config include", exc.reason)
        if on_notice is not None:
            on_notice(notice)
        return {}
    blocks: dict[str, str] = {}
    pending_comment = ""
    current = ""
    for line in text.splitlines(keepends=True):
        if line.startswith("Host "):
            current = line.split(None, 1)[1].strip()
            blocks[current] = pending_comment + line
            pending_comment = ""
        elif line.startswith("# i-"):
            pending_comment = line
            current = ""
        elif current:
            blocks[current] += line
    return blocks


_HOST_KEY_ALIAS = re.compile(r"^\s*HostKeyAlias\s+(\S+)", re.M)


def _by_instance(blocks: dict[str, str]) -> dict[str, tuple[str, str]]:
    """instance id -> (the name part of its alias, its block), for the blocks the app wrote."""
    found = {}
    for alias, block in blocks.items():
        match = _HOST_KEY_ALIAS.search(block)
        if match:
            iid = match.group(1)
            name = alias[: -len(iid) - 1] if alias.endswith(f"-{iid}") else alias
            found[iid] = (name, block)
    return found


def _render(
    entries: Mapping[str, tuple[str, Instance | None, Path | None, str]], user: str = "ubuntu"
) -> dict[str, str]:
    """alias -> block: (name, instance, key, old block) per instance id; an instance not listed this
    time (None) keeps its old block, under its alias of now (a namesake may have come or gone)."""
    chosen = aliases((iid, name) for iid, (name, *_) in entries.items())
    blocks = {}
    for iid, (_, instance, key_path, old_block) in entries.items():
        alias = chosen[iid]
        if instance is not None:
            blocks[alias] = host_block(instance, key_path, user, alias)
        else:
            blocks[alias] = re.sub(r"^Host .*$", f"Host {alias}", old_block, count=1, flags=re.M)
    return blocks


def _write(path: Path, blocks: dict[str, str]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = _HEADER + "".join("\n" + blocks[alias] for alias in sorted(blocks))
    # Atomic: ssh (or an editor's remote plugin) may read the file while it is rewritten.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sync(
    path: Path,
    instances: Iterable[Instance],
    key_for: dict[str, Path | None],
    *,
    complete: bool = True,
    on_notice: OnNotice | None = None,
) -> bool:
    """Make the include file match ``instances``; True when it changed.

    ``key_for`` maps key pair names to private key files. ``complete=False`` (some regions could
    not be listed) only adds and updates: an instance not seen is not assumed gone.
    """
    old = read_blocks(path, on_notice)
    entries: dict[str, tuple[str, Instance | None, Path | None, str]] = {}
    if not complete:
        entries = {iid: (name, None, None, block) for iid, (name, block) in _by_instance(old).items()}
    for instance in instances:
        if can_alias(instance):
            key = key_for.get(instance.key_name)
            entries[instance.instance_id] = (instance.name, instance, key, "")
        else:
            entries.pop(instance.instance_id, None)
    new = _render(entries)
    if new == old and path.exists():
        return False
    _write(path, new)
    return True


def remove(path: Path, instance_id: str, on_notice: OnNotice | None = None) -> bool:
    """Drop the instance's block (stopped or terminated: its address may soon be someone else's)."""
    old = read_blocks(path, on_notice)
    entries = {iid: (name, None, None, block) for iid, (name, block) in _by_instance(old).items()}
    if entries.pop(instance_id, None) is None:
        return False
    _write(path, _render(entries))  # a namesake left alone gets its plain alias back
    return True


def user_config_path() -> Path:
    return Path("~/.ssh/config").expanduser()


def include_line(include: Path) -> str:
    return f"Include {_quote(include)}"


def include_installed(include: Path, ssh_config: Path | None = None) -> bool:
    config = ssh_config or user_config_path()
    try:
        data = config.read_bytes()  # the user's file: any bytes, never ours to judge
    except (FileNotFoundError, IsADirectoryError):
        return False
    return include_line(include).encode() in (line.strip() for line in data.splitlines())


def install_include(include: Path, ssh_config: Path | None = None) -> bool:
    """Add ``Include <file>`` at the top of ~/.ssh/config (only when the user asked); True when added.

    At the top, because an Include after a ``Host`` line would apply only inside that block. The
    rest of the file is kept byte for byte (it may hold text in any encoding).
    """
    config = ssh_config or user_config_path()
    if include_installed(include, config):
        return False
    config.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        old = config.read_bytes()
    except FileNotFoundError:
        old = b""
    head = f"# Added by d2l-tui (ssh d2l-NAME):\n{include_line(include)}\n\n".encode()
    config.write_bytes(head + old)
    os.chmod(config, 0o600)  # ssh refuses a config others can write
    return True


def ssh_argv(
    instance: Instance,
    key_path: Path | None,
    user: str = "ubuntu",
    endpoint: tuple[str, int] | None = None,
) -> list[str]:
    """The ssh command line for an instance, with the app's key and known_hosts. ``endpoint``:
    where to connect instead of its public address (the simulated instance's loopback server);
    the host key checked is still the one pinned for the instance id."""
    argv = ["ssh"]
    if endpoint is not None:
        argv += ["-p", str(endpoint[1])]
    if key_path is not None:
        argv += ["-i", str(key_path), "-o", "IdentitiesOnly=yes"]
    argv += [
        "-o",
        f"UserKnownHostsFile={known_hosts_path()}",
        # The keys the app pinned for the instance id (read from its console output, see hostkeys)
        # are the ones checked, and nothing else is accepted. Before they are pinned (a command
        # copied right after launch) ssh asks the person, showing the fingerprint: never silently.
        "-o",
        f"HostKeyAlias={instance.instance_id}",
        "-o",
        f"StrictHostKeyChecking={_strictness(instance.instance_id)}",
        f"{user}@{endpoint[0] if endpoint else instance.public_dns or instance.public_ip}",
    ]
    return argv


def _strictness(instance_id: str) -> str:
    """ "yes" once keys are pinned, "ask" before. A known_hosts that can't be read says neither:
    "yes" then, so ssh accepts only a key it finds there and never one the person was not shown
    (whoever reads the file, the CLI or a screen, says what is wrong with it)."""
    from tui.services.remote.hostkeys import KnownHosts, KnownHostsUnreadable

    try:
        return "yes" if KnownHosts(known_hosts_path()).keys_for(instance_id) else "ask"
    except KnownHostsUnreadable:
        return "yes"


def ssh_command(instance: Instance, key_path: Path | None, user: str = "ubuntu") -> str:
    return shlex.join(ssh_argv(instance, key_path, user))


def can_alias(instance: Instance) -> bool:
    """Whether ssh can reach it now (running, with a public address)."""
    return instance.state == "running" and bool(instance.public_dns or instance.public_ip)
