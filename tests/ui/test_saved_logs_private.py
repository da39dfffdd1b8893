"""A provisioning log saved with w is the user's alone: the folder 0700, the file 0600, whatever the umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.ui.driving import wait_until
from tests.ui.test_provision import SIZE, ProvisionApp, cloud, finished, key, quick_recipe, screen_for
from tui.demo.hosts import DemoHosts
from tui.services.cloud.aws import Aws

__all__ = ["cloud", "key"]  # fixtures used by name below


async def test_a_saved_log_is_private_under_a_loose_umask(
    cloud: tuple[Aws, DemoHosts], key: Path, tmp_path: Path
) -> None:
    logs = tmp_path / "state" / "d2l-tui" / "logs"
    logs.mkdir(parents=True)
    os.chmod(logs, 0o755)  # what earlier versions left
    old = os.umask(0o022)
    try:
        screen = screen_for(cloud, key, tmp_path, quick_recipe(tmp_path / "m"), "fresh")
        async with ProvisionApp(screen).run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: finished(pilot), 30)
            await pilot.press("w")
            await wait_until(pilot, lambda: any(p.stat().st_size for p in logs.iterdir()), 15)
    finally:
        os.umask(old)
    await cloud[1].stop()
    [saved] = list(logs.iterdir())
    assert "line 2" in saved.read_text()
    assert stat.S_IMODE(logs.stat().st_mode) == 0o700
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
