"""A real OpenSSH sshd on loopback, started as an ordinary process (no root service, no systemd).

Tests use it as "the instance": the client key is the instance's key pair, the host key is what the
instance's console output would show, and a ``Host`` entry in the test HOME's ``~/.ssh/config`` points
the instance's public DNS name at it, exactly as a user could with a jump host.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def keygen(path: Path, kind: str = "ed25519") -> str:
    """Write a key pair at path (private, 0600) and path.pub; return the public key line."""
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "", "-f", str(path)], check=True)
    return Path(f"{path}.pub").read_text().strip()


class OpenSshServer:
    """`sshd -D -e -f CONFIG` on 127.0.0.1:PORT; restart() keeps the port and host key (a reboot)."""

    def __init__(
        self,
        root: Path,
        client_public_key: str,
        port: int | None = None,
        *,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        # The "instance user's" home: sessions get HOME here (SetEnv), not the real user's.
        self.home = self.root / "home"
        self.home.mkdir(exist_ok=True)
        self.port = port or free_port()
        self.user = getpass.getuser()
        self.host_key = self.root / "ssh_host_ed25519_key"
        self.host_public_key = keygen(self.host_key)
        self.authorized_keys = self.root / "authorized_keys"
        self.authorized_keys.write_text(client_public_key.strip() + "\n")
        self.config = self.root / "sshd_config"
        self.log = self.root / "sshd.log"
        self.config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {self.host_key}",
                    f"AuthorizedKeysFile {self.authorized_keys}",
                    f"PidFile {self.root / 'sshd.pid'}",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PubkeyAuthentication yes",
                    "PermitRootLogin prohibit-password",
                    "StrictModes no",
                    "UsePAM no",
                    "AllowTcpForwarding yes",
                    "ClientAliveInterval 5",
                    "Subsystem sftp internal-sftp",
                    # One SetEnv line: sshd keeps only the first of a repeated keyword.
                    " ".join(
                        [f"SetEnv HOME={self.home}"] + [f'"{k}={v}"' for k, v in (extra_env or {}).items()]
                    ),
                    "",
                ]
            )
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation dir sshd insists on
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(self.config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sshd did not listen within 10 s")

    def stop(self, drop_sessions: bool = True) -> None:
        """Stop sshd; with drop_sessions its per-connection processes go too (every client is cut off,
        as in a reboot), while processes the sessions started in their own session (setsid) live on."""
        if self.process is not None and self.process.poll() is None:
            if drop_sessions:
                subprocess.run(["pkill", "-TERM", "-P", str(self.process.pid)], check=False)
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def ssh_config_entry(self, host: str) -> str:
        """A ~/.ssh/config block that sends connections for `host` (an instance's DNS name) here."""
        return f"Host {host}\n    HostName 127.0.0.1\n    Port {self.port}\n    User {self.user}\n"


def point_host_at(home: Path, host: str, server: OpenSshServer) -> None:
    """Append a Host block for `host` to HOME/.ssh/config (the user's own config, as asyncssh reads it)."""
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(ssh_dir / "config", "a") as f:
        f.write(server.ssh_config_entry(host))
    os.chmod(ssh_dir / "config", 0o600)
