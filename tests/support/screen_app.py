"""A host app for testing one screen alone, and the --demo cloud those screens reach instances in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from moto import mock_aws
from textual.app import App
from textual.screen import Screen

from tui.demo.cloud import add_realistic_image_sizes
from tui.demo.hosts import DemoHosts
from tui.demo.ssh_host import console_hook
from tui.services.cloud.aws import Aws

TCSS = Path(__file__).resolve().parents[2] / "tui" / "app.tcss"


class ScreenApp(App[None]):
    """Just one screen, in the app's stylesheet."""

    CSS_PATH = str(TCSS)

    def __init__(self, screen: Screen[Any]) -> None:
        super().__init__()
        self.first = screen

    def on_mount(self) -> None:
        self.push_screen(self.first)


@contextmanager
def demo_cloud(tmp_path: Path) -> Iterator[tuple[Aws, DemoHosts]]:
    """moto in-process whose GetConsoleOutput shows each loopback host's key, and those hosts."""
    hosts = DemoHosts(tmp_path / "hosts")

    def customize(session: Any) -> None:
        add_realistic_image_sizes(session)
        console_hook(hosts.host_for_instance)(session)

    with mock_aws():
        yield Aws(region="us-east-1", customize=customize), hosts
