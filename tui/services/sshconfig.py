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
from collections.abc import Iterable
from pathlib import Path

from tui import paths
from tui.models import Instance

INCLUDE_FILE = "config"
_HEADER = (
    "# Written by d2l-tui: one Host block per running instance it launched.\n"
    "# Edits here are overwritten; put your own settings in ~/.ssh/config.\n"
)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def host_alias(name: str) -> str:
    """d2l-NAME (names the app makes already start with d2l-, and are not prefixed twice)."""
    clean = _UNSAFE.sub("-", name).strip("-") or "instance"
    return clean if clean.startswith("d2l-") else f"d2l-{clean}"


def include_path(key_dir: Path) -> Path:
    return key_dir / INCLUDE_FILE


def known_hosts_path() -> Path:
    """The app's own known_hosts: instances' host keys never mix with the user's."""
    return paths.state_dir() / "known_hosts"


def _quote(value: str | Path) -> str:
    text = str(value)
    return f'"{text}"' if any(c.isspace() for c in text) else text


def host_block(instance: Instance, key_path: Path | None, user: str = "ubuntu") -> str:
    lines = [
        f"# {instance.instance_id} in {instance.region}",
        f"Host {host_alias(instance.name or instance.instance_id)}",
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


def read_blocks(path: Path) -> dict[str, str]:
    """alias -> its block (comment line included), from the app's include file."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
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
) -> bool:
    """Make the include file match ``instances``; True when it changed.

    ``key_for`` maps key pair names to private key files. ``complete=False`` (some regions could
    not be listed) only adds and updates: an instance not seen is not assumed gone.
    """
    old = read_blocks(path)
    new = {} if complete else dict(old)
    for instance in instances:
        alias = host_alias(instance.name or instance.instance_id)
        if instance.state == "running" and (instance.public_dns or instance.public_ip):
            new[alias] = host_block(instance, key_for.get(instance.key_name))
        else:
            new.pop(alias, None)
    if new == old and path.exists():
        return False
    _write(path, new)
    return True


def remove(path: Path, name: str) -> bool:
    blocks = read_blocks(path)
    if blocks.pop(host_alias(name), None) is None:
        return False
    _write(path, blocks)
    return True


def user_config_path() -> Path:
    return Path("~/.ssh/config").expanduser()


def include_line(include: Path) -> str:
    return f"Include {_quote(include)}"


def include_installed(include: Path, ssh_config: Path | None = None) -> bool:
    config = ssh_config or user_config_path()
    try:
        text = config.read_text("utf-8")
    except FileNotFoundError:
        return False
    return include_line(include) in text.splitlines()


def install_include(include: Path, ssh_config: Path | None = None) -> bool:
    """Add ``Include <file>`` at the top of ~/.ssh/config (only when the user asked); True when added.

    At the top, because an Include after a ``Host`` line would apply only inside that block.
    """
    config = ssh_config or user_config_path()
    if include_installed(include, config):
        return False
    config.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        old = config.read_text("utf-8")
    except FileNotFoundError:
        old = ""
    config.write_text(f"# Added by d2l-tui (ssh d2l-NAME):\n{include_line(include)}\n\n{old}", "utf-8")
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
        f"StrictHostKeyChecking={'yes' if _pinned(instance.instance_id) else 'ask'}",
        f"{user}@{endpoint[0] if endpoint else instance.public_dns or instance.public_ip}",
    ]
    return argv


def _pinned(instance_id: str) -> bool:
    from tui.services.hostkeys import KnownHosts

    return bool(KnownHosts(known_hosts_path()).keys_for(instance_id))


def ssh_command(instance: Instance, key_path: Path | None, user: str = "ubuntu") -> str:
    return shlex.join(ssh_argv(instance, key_path, user))


def can_alias(instance: Instance) -> bool:
    """Whether ssh can reach it now (running, with a public address)."""
    return instance.state == "running" and bool(instance.public_dns or instance.public_ip)
