"""Shared fixtures: moto (in-process and as a server on loopback), isolated dirs and credentials."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

# moto reads MOTO_AMIS_PATH when it is imported: set it (and the validation switches) first.
from tui.demo.cloud import add_realistic_image_sizes, configure_moto_environment

configure_moto_environment()

from moto import mock_aws  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from tests.support.botocore_cache import share_botocore_models  # noqa: E402
from tests.support.pilot_pace import quicker_pilot_waits  # noqa: E402
from tui.demo.moto_speed import remember_response_methods  # noqa: E402
from tui.services.cloud.aws import Aws  # noqa: E402

share_botocore_models()
remember_response_methods()  # as --demo does; moto in-process and the loopback server share it
quicker_pilot_waits()

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def _encodable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def pytest_configure(config: pytest.Config) -> None:
    """pytest runs 5 full garbage collections when a worker ends, to surface unraisable exceptions;
    with the objects a worker holds by then (moto's models, Textual's) each took about a second
    (py-spy over the whole suite: ~5 s at the end of every worker). One pass finds what five did for
    this suite's objects (no __del__ chains); the plugin itself stays on."""
    from _pytest.unraisableexception import gc_collect_iterations_key

    config.stash[gc_collect_iterations_key] = 1


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Fuzz tests feed the app lone surrogates (as JSON "\\udcff" decodes), which it logs: pytest-xdist
    can't send a report holding one to the main process and crashes the whole run (INTERNALERROR)."""
    report.sections = [(title, _encodable(content)) for title, content in report.sections]
    if isinstance(report.longrepr, str):
        report.longrepr = _encodable(report.longrepr)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """setup_logging changes the root logger: put it back for the next test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials, no real profile or endpoint, and every app dir under tmp_path."""
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    # A test that forgets to pass key_dir writes under this HOME, not the developer's ~/.ssh.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    return tmp_path / "ssh" / "d2l-tui"


@pytest.fixture
def aws() -> Iterator[Aws]:
    """An Aws on moto in-process, with the bundled images' real root sizes."""
    with mock_aws():
        yield Aws(region="us-east-1", customize=add_realistic_image_sizes)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto server on loopback; tests reach it through AWS_ENDPOINT_URL as a user would."""
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def moto_endpoint(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """AWS_ENDPOINT_URL set to a freshly reset moto server."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")).read()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    yield moto_server


def subprocess_env(endpoint: str, home: Path) -> dict[str, str]:
    """Environment for running `d2l-tui` in a subprocess against a moto server."""
    env = dict(os.environ)
    env.update({"AWS_ENDPOINT_URL": endpoint, "HOME": str(home)})
    return env


@pytest.fixture
def client_key(tmp_path: Path) -> tuple[Path, str]:
    """The instance's key pair as the app would hold it: (private key path, public key line)."""
    from tests.support.sshd import keygen

    path = tmp_path / "client" / "d2l-test.pem"
    path.parent.mkdir(parents=True)
    public = keygen(path)
    path.chmod(0o400)
    return path, public


@pytest.fixture
def sshd(tmp_path: Path, client_key: tuple[Path, str]) -> Iterator[object]:
    """A real OpenSSH sshd on loopback that accepts client_key (skipped where sshd is not installed)."""
    from tests.support.sshd import SSHD, OpenSshServer

    if not os.path.exists(SSHD):
        pytest.skip("OpenSSH sshd is not installed (the CI installs openssh-server)")
    server = OpenSshServer(tmp_path / "sshd", client_key[1])
    server.start()
    try:
        yield server
    finally:
        server.stop()
