"""The key step offers f only when there is a permission it may fix, and f runs exactly that chmod."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from textual.widgets import OptionList

from tests.support.wizard_choices import app_on
from tests.ui.driving import build_context, screen_name
from tests.ui.test_wizard_inputs import drive_to, error_text
from tui.services.cloud.aws import Aws


def _fix_offered(app: object) -> bool:
    screen = app.screen  # type: ignore[attr-defined]
    return bool(screen.check_action("fix_permissions", ()))


async def test_f_fixes_a_writable_key_folder_and_is_offered_only_then(aws: Aws, tmp_path: Path) -> None:
    key_dir = tmp_path / "ssh" / "d2l-tui"
    key_dir.mkdir(parents=True)
    os.chmod(key_dir, 0o777)
    app = app_on(build_context(aws, tmp_path), "KeyPairStep")
    async with app.run_test(size=(120, 40)) as pilot:
        await drive_to(pilot, "KeyPairStep")
        assert _fix_offered(app)  # "Create a new key pair" is highlighted and its folder is open
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert screen_name(pilot) == "KeyPairStep"
        assert f"Press f to fix it (`chmod 700 {key_dir}`)" in error_text(app)
        app.screen.query_one("#keys", OptionList).focus()
        await pilot.press("f")
        await pilot.pause()
        assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700
        assert not _fix_offered(app)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert screen_name(pilot) == "ReviewStep"


async def test_f_is_not_offered_through_a_link(aws: Aws, tmp_path: Path) -> None:
    shared = tmp_path / "like-tmp"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    key_dir = tmp_path / "ssh" / "d2l-tui"
    key_dir.parent.mkdir(parents=True)
    key_dir.symlink_to(shared)
    app = app_on(build_context(aws, tmp_path), "KeyPairStep")
    async with app.run_test(size=(120, 40)) as pilot:
        await drive_to(pilot, "KeyPairStep")
        assert not _fix_offered(app)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert screen_name(pilot) == "KeyPairStep"
        assert f"is a link to {shared}" in error_text(app) and f"rm {key_dir} && mkdir -m 700" in error_text(
            app
        )
        app.screen.query_one("#keys", OptionList).focus()
        await pilot.press("f")
        await pilot.pause()
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
