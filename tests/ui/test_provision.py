"""The provisioning screen, driven with keys, against a loopback SSH host and an instance in moto.

The host is the same in-process asyncssh server --demo uses (tui.demo.ssh_host), reached through
InstanceLink exactly as a real instance is: DescribeInstances for its address, its host key read
from the console output (GetConsoleOutput shows the loopback host's key block) and pinned, then SSH.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from tests.support.screen_app import ScreenApp, demo_cloud, shown
from tests.ui.driving import wait_until
from tui.demo.hosts import DemoHosts
from tui.models import TAG_MANAGED, TAG_NAME, Instance, Recipe, RecipeStep
from tui.screens.provision import SetupPane
from tui.services.cloud.aws import Aws
from tui.services.cloud.lifecycle import describe_one
from tui.services.remote.hostkeys import KnownHosts
from tui.services.remote.instance_link import InstanceLink
from tui.widgets.log_view import LogView

SIZE = (120, 40)
TCSS = Path(__file__).resolve().parents[2] / "tui" / "app.tcss"


class ProvisionApp(ScreenApp):
    """Just the provisioning screen (the class name is the title the snapshots show)."""


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[tuple[Aws, DemoHosts]]:
    with demo_cloud(tmp_path) as both:
        yield both


def make_instance(aws: Aws, name: str = "d2l-setup") -> Instance:
    ec2 = aws.client("ec2", "us-east-1")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    tags = [
        {"Key": "Name", "Value": name},
        {"Key": TAG_NAME, "Value": name},
        {"Key": TAG_MANAGED, "Value": "true"},
    ]
    answer = ec2.run_instances(
        ImageId=image, InstanceType="g4dn.xlarge", MinCount=1, MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )  # fmt: skip
    found = describe_one(aws, "us-east-1", answer["Instances"][0]["InstanceId"])
    assert found is not None
    return found


def quick_recipe(marker: Path) -> Recipe:
    return Recipe(
        steps=(
            RecipeStep("hello", "Say hello", "for i in 1 2 3; do echo line $i; done"),
            RecipeStep("driver", "NVIDIA driver", "exit 9", check="echo driver present"),
            RecipeStep(
                "flaky",
                "Install the framework",
                f"if [ ! -f {marker} ]; then echo 'ERROR: no matching distribution' >&2; exit 1; fi; echo installed",
                hint="Check the instance can reach PyPI, then retry.",
            ),
        ),
        framework="pytorch",
        env=(("D2L_RETRY_PAUSE", "0"),),
    )


@pytest.fixture
def key(client_key: tuple[Path, str]) -> Path:
    return client_key[0]


def screen_for(
    cloud: tuple[Aws, DemoHosts], key: Path, tmp_path: Path, recipe: Recipe | None, mode: str
) -> SetupPane:
    aws, hosts = cloud
    instance = make_instance(aws)
    known = KnownHosts(tmp_path / "known_hosts")
    link = InstanceLink(aws, instance, key, known, endpoint_for=hosts.endpoint, console_timeout_s=5)
    return SetupPane(link, recipe=recipe, mode=mode, instance_type=instance.instance_type)  # type: ignore[arg-type]


def cells(pilot: Pilot[Any]) -> list[tuple[str, str]]:
    table = shown(pilot).query_one("#provision-steps", DataTable)
    rows = []
    for key in table.rows:
        icon, title, _ = (
            c.plain if isinstance(c, Text) else Text.from_markup(str(c)).plain for c in table.get_row(key)
        )
        rows.append((icon, title))
    return rows


def finished(pilot: Pilot[Any]) -> bool:
    return getattr(shown(pilot), "outcome", None) is not None


async def test_a_recipes_titles_are_shown_as_written_not_as_markup(
    cloud: tuple[Aws, DemoHosts], key: Path, tmp_path: Path
) -> None:
    odd = "[/x] [b]not bold[/b] [@click=app.quit]"
    recipe = Recipe(steps=(RecipeStep("odd", odd, "exit 3", hint="[red]plain[/red]"),), framework="pytorch")
    screen = screen_for(cloud, key, tmp_path, recipe, "fresh")
    app = ProvisionApp(screen)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: finished(pilot), 30)
        assert cells(pilot) == [("✗", odd)]
        error = str(screen.query_one("#step-error", Static).render())
        assert f"Step '{odd}' failed (exit code 3). [red]plain[/red]" in error
        assert f"Stopped at '{odd}'" in str(screen.query_one("#provision-link", Static).render())
    await cloud[1].stop()


async def test_a_run_with_a_failure_then_retry(
    cloud: tuple[Aws, DemoHosts], key: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "fixed"
    screen = screen_for(cloud, key, tmp_path, quick_recipe(marker), "fresh")
    app = ProvisionApp(screen)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: finished(pilot), 30)
        assert cells(pilot) == [("✓", "Say hello"), ("↷", "NVIDIA driver"), ("✗", "Install the framework")]
        error = str(screen.query_one("#step-error", Static).render())
        assert "Step 'Install the framework' failed (exit code 1)" in error
        assert "Check the instance can reach PyPI" in error and "Press r to retry" in error
        log_view = screen.query_one("#provision-log", LogView)
        assert "ERROR: no matching distribution" in log_view.lines
        assert list(log_view.lines[:3]) == ["line 1", "line 2", "line 3"]

        marker.touch()
        await pilot.press("r")
        await wait_until(pilot, lambda: finished(pilot) and screen.outcome.ok, 30)  # type: ignore[union-attr]
        assert "installed" in log_view.lines
        assert log_view.lines.count("line 1") == 1  # the done step was not run again
        assert not screen.query_one("#step-error", Static).has_class("visible")
        assert cells(pilot)[2] == ("✓", "Install the framework")
    await cloud[1].stop()


async def test_filter_follow_and_save(cloud: tuple[Aws, DemoHosts], key: Path, tmp_path: Path) -> None:
    screen = screen_for(cloud, key, tmp_path, quick_recipe(tmp_path / "m"), "fresh")
    async with ProvisionApp(screen).run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: finished(pilot), 30)
        log_view = screen.query_one("#provision-log", LogView)
        await pilot.press("slash", *"line 2", "enter")
        assert list(log_view.lines) == ["line 2"]
        await pilot.press("slash", "ctrl+a", "ctrl+k", "enter")  # empty: every line again
        assert "line 3" in log_view.lines and "driver present" in log_view.lines

        await pilot.press("f")
        assert log_view.auto_scroll is False
        await pilot.press("f")
        assert log_view.auto_scroll is True

        await pilot.press("w")
        logs = tmp_path / "state" / "d2l-tui" / "logs"
        await wait_until(pilot, lambda: logs.exists() and any(logs.iterdir()), 15)
        saved = next(logs.iterdir()).read_text()
        assert "line 2" in saved and "ERROR: no matching distribution" in saved and "::d2l:: " in saved
    await cloud[1].stop()


async def test_nothing_set_up_says_so_then_p_runs_the_books_steps(
    cloud: tuple[Aws, DemoHosts], key: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("D2L_SIM_DELAY", "0")  # the simulated setup prints its commands at full speed
    screen = screen_for(cloud, key, tmp_path, None, "reattach")
    async with ProvisionApp(screen).run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: finished(pilot), 30)
        assert screen.outcome is not None and screen.outcome.not_started
        said = str(screen.query_one("#step-error", Static).render())
        assert "Nothing has been set up" in said and "Press p to run the book's steps" in said
        assert f"d2l-tui provision {screen.link.label} --framework F" in said
        # Not "Connecting…" above it: the link did connect, and found nothing to follow.
        assert (
            str(screen.query_one("#provision-link", Static).render()) == "Connected: no setup has run here."
        )
        assert screen.check_action("setup_book", ()) is True and screen.check_action("retry", ()) is False

        await pilot.press("p")
        await wait_until(pilot, lambda: screen.outcome is not None and screen.outcome.ok, 60)
        titles = [title for _, title in cells(pilot)]
        assert "PyTorch 2.0.0" in titles and "GPU test: the book's try_gpu()" in titles
        assert {icon for icon, _ in cells(pilot)} <= {"✓", "↷"}
        assert "for pytorch" in str(screen.query_one(".pane-title", Static).render())
        assert screen.check_action("setup_book", ()) is False  # done: nothing more to start
    await cloud[1].stop()


async def test_unknown_host_key_is_trusted_only_by_choice(
    cloud: tuple[Aws, DemoHosts], key: Path, tmp_path: Path
) -> None:
    aws, hosts = cloud
    instance = make_instance(aws)
    known = KnownHosts(tmp_path / "known_hosts")
    # The console never shows keys (the hook has no host for this instance until after it connects).
    hidden = DemoHosts(tmp_path / "hidden")
    link = InstanceLink(aws, instance, key, known, endpoint_for=hidden.endpoint, console_timeout_s=0)
    screen = SetupPane(link, recipe=quick_recipe(tmp_path / "m"), mode="fresh")
    async with ProvisionApp(screen).run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: bool(screen.untrusted_key), 30)
        error = str(screen.query_one("#step-error", Static).render())
        assert "SHA256:" in error and "Press t to trust" in error
        assert known.keys_for(instance.instance_id) == []
        await pilot.press("t")
        await wait_until(pilot, lambda: finished(pilot), 30)
        assert known.check(instance.instance_id).source == "user"
        assert "line 1" in screen.query_one("#provision-log", LogView).lines
    await hidden.stop()
    await asyncio.sleep(0)


async def test_retry_is_offered_once_following_failed_not_before(
    cloud: tuple[Aws, DemoHosts], key: Path, tmp_path: Path
) -> None:
    """r is in the footer once the link failed; not while the pane has yet to connect (it was, when
    no other worker of the app was running: the check read the app's first worker, not the pane's)."""
    from textual.widgets._footer import FooterKey

    aws, hosts = cloud
    missing = tmp_path / "not-here.pem"  # the link fails at once: no private key to connect with
    link = InstanceLink(
        aws,
        make_instance(aws),
        missing,
        KnownHosts(tmp_path / "kh"),
        endpoint_for=hosts.endpoint,
        console_timeout_s=5,
    )
    marker = tmp_path / "m"
    marker.touch()  # the recipe's steps all pass
    screen = SetupPane(link, recipe=quick_recipe(marker), mode="fresh")
    assert screen.check_action("retry", ()) is False  # nothing has failed yet
    async with ProvisionApp(screen).run_test(size=SIZE) as pilot:
        footer = lambda: {k.key for k in pilot.app.screen.query(FooterKey)}  # noqa: E731
        await wait_until(pilot, lambda: "is not on this computer" in str(screen.failure.render()), 30)
        await wait_until(pilot, lambda: "r" in footer())
        missing.write_bytes(key.read_bytes())
        missing.chmod(0o400)
        await pilot.press("r")
        await wait_until(pilot, lambda: finished(pilot) and screen.outcome.ok, 30)  # type: ignore[union-attr]
        await wait_until(pilot, lambda: "r" not in footer())
    await cloud[1].stop()


def snap_app(cloud: tuple[Aws, DemoHosts], key: Path, tmp_path: Path, recipe: Recipe) -> ProvisionApp:
    return ProvisionApp(screen_for(cloud, key, tmp_path, recipe, "fresh"))


def test_snapshot_failed_step(
    cloud: tuple[Aws, DemoHosts], key: Path, tmp_path: Path, snap_compare: Any
) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_until(pilot, lambda: finished(pilot), 30)

    app = snap_app(cloud, key, tmp_path, quick_recipe(tmp_path / "never"))
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
    asyncio.run(cloud[1].stop())


def test_snapshot_all_done(
    cloud: tuple[Aws, DemoHosts], key: Path, tmp_path: Path, snap_compare: Any
) -> None:
    marker = tmp_path / "fixed"
    marker.touch()

    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_until(pilot, lambda: finished(pilot), 30)

    app = snap_app(cloud, key, tmp_path, quick_recipe(marker))
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
    asyncio.run(cloud[1].stop())


def test_snapshot_running_step(
    cloud: tuple[Aws, DemoHosts], key: Path, tmp_path: Path, snap_compare: Any
) -> None:
    recipe = Recipe(
        steps=(
            RecipeStep("hello", "Say hello", "echo hello"),
            RecipeStep("wait", "Install the framework", "echo downloading; sleep 20"),
            RecipeStep("after", "d2l package 1.0.3", "echo never shown"),
        )
    )

    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_until(pilot, lambda: "downloading" in shown(pilot).query_one(LogView).lines, 30)
        screen = shown(pilot)
        assert isinstance(screen, SetupPane)
        screen.query_one("#provision-steps", DataTable).cursor_type = "none"
        # The live duration ticks each second: blank it so the picture doesn't depend on timing.
        screen.steps["wait"].started_here = None
        screen._show_row(screen.steps["wait"])
        await pilot.pause()

    app = snap_app(cloud, key, tmp_path, recipe)
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
    asyncio.run(cloud[1].stop())
