"""A real TCP proxy on loopback in front of the moto server that drops or stalls chosen requests.

The app is pointed at it with AWS_ENDPOINT_URL, exactly as at the server itself; every request
goes through a real socket, and a faulty one fails the way a bad network fails: the connection is
closed (or reset) before any answer, or held open with nothing said. Which requests fail is
decided by what they are, not by timing, so a test is never flaky:

- ``regions``: requests signed for these regions (SigV4's ``Credential=…/DATE/REGION/…``), every
  time: botocore's retries of them fail too;
- ``after``: every request past the first ``after`` ones (the connection that "dies after a
  few requests").

Each request travels on its own upstream connection, with ``Connection: close`` so the next one
comes back through the proxy's rules instead of riding a kept-alive socket.
"""

from __future__ import annotations

import re
import socket
import struct
import threading
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

Fault = Literal["close", "reset", "stall"]
_SIGNED_REGION = re.compile(rb"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")
_MAX_HEAD = 64 * 1024


@dataclass
class FaultProxy:
    upstream: str  # http://127.0.0.1:PORT
    fault: Fault = "close"
    regions: frozenset[str] = frozenset()
    after: int | None = None
    requests: int = 0  # every request seen
    faulted: list[str] = field(default_factory=list)  # the signed region of each request failed
    _server: socket.socket | None = None
    _held: list[socket.socket] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.getsockname()[1]}"

    def start(self) -> FaultProxy:
        self._server = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._accept, name="fault-proxy", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        with self._lock:
            for held in self._held:
                held.close()
            self._held.clear()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self) -> None:
        assert self._server is not None
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return  # stopped
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            request = _read_request(client)
            if request is None:
                client.close()
                return
            region = _signed_region(request)
            with self._lock:
                self.requests += 1
                failing = region in self.regions or (self.after is not None and self.requests > self.after)
                if failing:
                    self.faulted.append(region)
            if failing:
                self._fail(client)
            else:
                self._forward(client, request)
        except OSError:
            client.close()

    def _fail(self, client: socket.socket) -> None:
        if self.fault == "stall":
            with self._lock:
                self._held.append(client)  # open, silent, until the test ends
            return
        if self.fault == "reset":  # RST instead of FIN
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()

    def _forward(self, client: socket.socket, request: bytes) -> None:
        parts = urlsplit(self.upstream)
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=30) as up:
            up.sendall(_close_after(request))
            while chunk := up.recv(65536):
                client.sendall(chunk)
        client.close()


def _read_request(sock: socket.socket) -> bytes | None:
    """One HTTP request, head and body (Content-Length); None when the client went away."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk or len(data) > _MAX_HEAD:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    match = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    length = int(match.group(1)) if match else 0
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        body += chunk
    return head + b"\r\n\r\n" + body


def _signed_region(request: bytes) -> str:
    match = _SIGNED_REGION.search(request.partition(b"\r\n\r\n")[0])
    return match.group(1).decode() if match else ""


def _close_after(request: bytes) -> bytes:
    head, _, body = request.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")]
    return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + body
