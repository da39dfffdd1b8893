"""`d2l-tui tunnel NAME`: Jupyter on the instance at http://localhost:PORT, until Ctrl-C.

The same Tunnel as the app's `t` key: Jupyter is started on the instance when it isn't running,
its token is read from the server, and local port 8889 (or the next free one) is forwarded over SSH,
re-established on its own when the connection drops. The URL goes to stdout (once, and again only if
it changes), connection news to stderr. Ctrl-C closes the port and exits 0; Jupyter keeps running on
the instance (`--stop-jupyter` stops it). Exit 1 when the tunnel can't be made (the sentence says why).
Never imports Textual.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from tui.cli.instance import (
    add_framework_argument,
    add_instance_command,
    link_for,
    trust_or_refuse,
    trusting_once,
)
from tui.cli.output import PROG, say

if TYPE_CHECKING:
    import asyncssh

    from tui.context import AppContext
    from tui.models import TunnelStatus
    from tui.services.remote.instance_link import InstanceLink, OnWait


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    what = "forward Jupyter on an instance to http://localhost:PORT (starting it if needed) until Ctrl-C"
    parser = add_instance_command(sub, common, "tunnel", what, over_ssh=True)
    parser.add_argument(
        "--port",
        type=_port,
        default=8889,
        help="the local port (default: 8889, as in the book; the next free one when it is taken)",
    )
    add_framework_argument(parser, "whose notebooks Jupyter serves when it is started")
    parser.add_argument(
        "--stop-jupyter",
        action="store_true",
        help="stop Jupyter on the instance (and its kernels), then exit",
    )
    parser.set_defaults(handler=run)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a port is a number, not {text!r}") from None
    if not 1024 <= value <= 65535:
        raise argparse.ArgumentTypeError("choose a port from 1024 to 65535")
    return value


def run(args: argparse.Namespace, ctx: AppContext) -> int:
    import asyncio

    from tui.services.remote.ssh import HostKeyUnknown

    link = link_for(args, ctx)

    holder = _Holder(link.label)
    try:
        if args.stop_jupyter:
            return asyncio.run(_stop(link, trust=args.trust_host_key))
        return asyncio.run(_hold(link, args, holder))
    except HostKeyUnknown as exc:
        trust_or_refuse(link, exc, trust=False)  # --trust-host-key was handled on the first connect
        return 1
    except KeyboardInterrupt:
        if holder.port:
            say(f"Tunnel closed: localhost:{holder.port} is free again.")
        say(
            f"Jupyter keeps running on {link.label}; `{PROG} tunnel {link.label}` reconnects, "
            f"`{PROG} tunnel {link.label} --stop-jupyter` stops it."
        )
        return 0


class _Holder:
    """Turns status changes into lines: the URL on stdout, the rest on stderr."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.port: int | None = None
        self.printed_url = ""
        self.last = ""
        self.was_up = False

    def update(self, status: TunnelStatus) -> None:
        if status.local_port:
            self.port = status.local_port
        if status.notice and status.notice != self.last:
            say(status.notice)
            self.last = status.notice
        if status.state == "up":
            if status.url != self.printed_url:
                print(status.url, flush=True)
                self.printed_url = status.url
            if self.was_up:
                say(f"Back up on localhost:{status.local_port}.")
            else:
                say(f"{status.detail} Press Ctrl-C to close the tunnel.")
            self.was_up = True
        elif status.state == "reconnecting":
            say(status.detail)
        elif status.state == "starting" and status.detail:
            say(status.detail)


async def _hold(link: InstanceLink, args: argparse.Namespace, holder: _Holder) -> int:
    from tui.services.remote.tunnel import Tunnel

    # The first connection settles the host key question; later ones (reconnects) go through link.
    conn = await trusting_once(link, args.trust_host_key, lambda: link.connect(say))
    if conn is None:
        return 1
    first: list[asyncssh.SSHClientConnection] = [conn]

    async def connect(on_wait: OnWait | None) -> asyncssh.SSHClientConnection:
        if first:
            return first.pop()
        return await link.connect(on_wait)

    tunnel = Tunnel(
        connect,
        link.instance.instance_id,
        label=link.label,
        local_port=args.port,
        framework=args.framework,
        on_status=holder.update,
    )
    try:
        status = await tunnel.run()
    finally:
        for unused in first:
            unused.close()
    say(f"{PROG}: {status.detail}")
    return 1


async def _stop(link: InstanceLink, *, trust: bool) -> int:
    from tui.flows.tunnels import stopped_words
    from tui.services.remote.jupyter_remote import stop_jupyter

    conn = await trusting_once(link, trust, lambda: link.connect(say))
    if conn is None:
        return 1
    try:
        stopped = await stop_jupyter(conn, label=link.label)
    finally:
        conn.close()
    say(stopped_words(stopped, link.label))
    return 0
