"""How both doors reach an instance over SSH: its key pair's private key, and the link to it.

The key is the app's (``<key dir>/<name>.pem``) or the user's in ~/.ssh. Where OpenSSH is about to
use it (the CLI's ssh and its commands over SSH), ``check`` refuses a loose or planted key with the
sentence and the chmod that fixes it, instead of ssh's wall of @s.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tui.context import AppContext
    from tui.models import Instance
    from tui.services.remote.instance_link import InstanceLink


def key_for(instance: Instance, key_dir: Path, *, check: bool = False) -> Path | None:
    """The private key of the instance's key pair; None when it has none or the file is not here."""
    from tui.services.cloud.keys import check_key, find_private_key

    key = find_private_key(instance.key_name, key_dir) if instance.key_name else None
    if key is not None and check:
        check_key(key, key_dir)
    return key


def link_to(ctx: AppContext, instance: Instance, *, check: bool = False) -> InstanceLink:
    """The instance's link (its key, the app's known_hosts, --demo's loopback endpoint)."""
    return ctx.instance_link(instance, key_for(instance, ctx.key_dir, check=check))


def find_link(ctx: AppContext, name: str, region: str | None) -> InstanceLink:
    """The link to the managed instance called ``name`` (or with that id), its key checked."""
    from tui.services.cloud import lifecycle

    return link_to(ctx, lifecycle.find_instance(ctx.aws, name, region), check=True)
