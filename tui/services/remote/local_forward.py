"""The tunnel's end on this computer (``LocalForward``): a local port relayed over SSH, as ``ssh -L``.

127.0.0.1:8889 (the chapter's port; the next free one when it is taken) is bound once and held for
the tunnel's whole life. Each browser connection is relayed over the SSH connection of the moment
(a direct-tcpip channel, as ``ssh -L`` does), so when SSH drops and comes back the port stays the
same, and a request made meanwhile waits for the link instead of failing.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from typing import TYPE_CHECKING, Any

from tui.services.errors import D2lError
from tui.services.polling import wait_event

if TYPE_CHECKING:
    import asyncssh

log = logging.getLogger(__name__)

DEFAULT_LOCAL_PORT = 8889  # the chapter's `ssh -L 8889:localhost:8888`
LOCAL_PORT_TRIES = 20
# How long a browser connection made while the link is down waits for it to come back.
LINK_WAIT_S = 30.0
_CHUNK = 64 * 1024


class PortsBusy(D2lError):
    """Every local port the tunnel may use is taken."""


class LocalForward:
    """127.0.0.1:PORT (and [::1]:PORT where there is IPv6), held until close(); each connection is
    relayed to the remote port over whichever SSH connection is attached at the time."""

    def __init__(self, preferred: int = DEFAULT_LOCAL_PORT, *, tries: int = LOCAL_PORT_TRIES) -> None:
        self.preferred = preferred
        self.tries = tries
        self.port: int | None = None
        self._server: asyncio.AbstractServer | None = None
        self._target: tuple[asyncssh.SSHClientConnection, int] | None = None
        self._ready = asyncio.Event()
        self._relays: set[asyncio.Task[Any]] = set()
        self.link_wait_s = LINK_WAIT_S

    async def open(self) -> int:
        for port in range(self.preferred, self.preferred + self.tries):
            try:
                self._server = await self._bind(port)
            except OSError as exc:
                if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                    continue
                raise
            self.port = port
            return port
        last = self.preferred + self.tries - 1
        raise PortsBusy(
            f"Ports {self.preferred} to {last} on this computer are all taken.",
            "Close a tunnel or program using one of them (an `ssh -L` left running?), then press t again.",
        )

    async def _bind(self, port: int) -> asyncio.AbstractServer:
        try:
            return await asyncio.start_server(self._handle, host=["127.0.0.1", "::1"], port=port)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise
        # No IPv6 loopback here: IPv4 only (browsers fall back to it for "localhost").
        return await asyncio.start_server(self._handle, host="127.0.0.1", port=port)

    def attach(self, conn: asyncssh.SSHClientConnection, remote_port: int) -> None:
        self._target = (conn, remote_port)
        self._ready.set()

    def detach(self) -> None:
        self._target = None
        self._ready.clear()

    async def close(self) -> None:
        self.detach()
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._relays):
            task.cancel()
        if self._relays:
            log.debug("closing %d relayed connections", len(self._relays))
            await asyncio.wait(list(self._relays), timeout=5)
        if server is not None:
            try:
                await asyncio.wait_for(server.wait_closed(), 5)
            except asyncio.TimeoutError:
                log.info("local forward: some connections were still closing")

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The relay runs in a task of its own that close() may cancel: asyncio (3.11) reports a
        # connection callback task that ends cancelled as an error, so this one always returns.
        relay = asyncio.ensure_future(self._serve(reader, writer))
        self._relays.add(relay)
        try:
            await relay
        except asyncio.CancelledError:
            pass
        finally:
            self._relays.discard(relay)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        import asyncssh

        if not await wait_event(self._ready, self.link_wait_s):
            return
        target = self._target
        if target is None:
            return
        conn, remote_port = target
        try:
            remote_reader, remote_writer = await conn.open_connection("127.0.0.1", remote_port)
        except (OSError, asyncssh.Error) as exc:
            log.info("tunnel: the instance refused a connection to port %s (%s)", remote_port, exc)
            return
        try:
            await _relay(reader, writer, remote_reader, remote_writer)
        except (OSError, asyncssh.Error) as exc:  # one browser connection never takes the tunnel down
            log.info("tunnel: a relayed connection failed: %s", exc)


async def _relay(
    local_reader: asyncio.StreamReader,
    local_writer: asyncio.StreamWriter,
    remote_reader: Any,
    remote_writer: Any,
) -> None:
    """Both directions until the server side ends (the browser may half-close first)."""
    up = asyncio.ensure_future(_pipe(local_reader, remote_writer))
    down = asyncio.ensure_future(_pipe(remote_reader, local_writer))
    try:
        done, _ = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        if up in done and up.result() and not down.done():
            await down
    finally:
        for task in (up, down):
            task.cancel()
        remote_writer.close()


async def _pipe(source: Any, sink: Any) -> bool:
    """Copy until EOF (then pass the EOF on): True; False when either side failed."""
    import asyncssh

    try:
        while data := await source.read(_CHUNK):
            sink.write(data)
            await sink.drain()
        if sink.can_write_eof():
            sink.write_eof()
        return True
    except (OSError, asyncssh.Error, EOFError):
        return False
