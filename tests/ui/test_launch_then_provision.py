"""A launch from the wizard goes straight on to setting the instance up: the provisioning screen
opens on its own, pins the host key from the console output and runs the book's recipe (the
simulated one, on the loopback host that stands in for the instance, as in --demo)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from textual.widgets import Select

from tests.support.wizard_choices import choices_before
from tests.ui.driving import build_context, wait_for_screen, wait_until
from tests.ui.test_snapshots import STEP_NAMES, TIMEOUT, WIZARD
from tui.app import make_app
from tui.demo.cloud import simulated_answers
from tui.demo.hosts import DemoHosts
from tui.demo.ssh_host import console_hook
from tui.screens.image import ImageStep
from tui.screens.provision import SetupPane
from tui.screens.review import ReviewStep
from tui.services.cloud.aws import Aws
from tui.services.remote.hostkeys import KnownHosts
from tui.services.remote.sshconfig import known_hosts_path
from tui.widgets.log_view import LogView


def demo_answers(hosts: DemoHosts) -> Any:
    """The simulated cloud's answers, and console outputs with the loopback hosts' keys."""

    def customize(session: Any) -> None:
        simulated_answers(session)
        console_hook(hosts.host_for_instance)(session)

    return customize


def launching_context(hosts: DemoHosts, tmp_path: Path) -> Any:
    """The app's world as --demo's: a launch goes on to the setup, on the loopback hosts."""
    ctx = build_context(Aws(region="us-east-1", customize=demo_answers(hosts)), tmp_path, simulated=True)
    ctx.provision_after_launch = True
    ctx.ssh_endpoint = hosts.endpoint
    return ctx


async def launch_from_review(pilot: Any) -> None:
    """The review's defaults, then Launch, as keys."""
    for name, ready, keys in WIZARD[STEP_NAMES.index("ReviewStep") :]:
        await wait_for_screen(pilot, name)
        await wait_until(pilot, ready(pilot), TIMEOUT)
        await pilot.press(*keys)


@pytest.fixture
def hosts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DemoHosts]:
    monkeypatch.setenv("D2L_SIM_DELAY", "0")  # the simulated steps print without pausing
    with mock_aws():
        yield DemoHosts(tmp_path / "hosts")


async def test_launch_opens_provisioning_for_the_chosen_framework(hosts: DemoHosts, tmp_path: Path) -> None:
    ctx = launching_context(hosts, tmp_path)
    app = make_app(ctx, wizard=choices_before(ctx, ReviewStep))  # the launch is the subject
    async with app.run_test(size=(120, 40)) as pilot:
        for name, ready, keys in WIZARD[STEP_NAMES.index("ReviewStep") :]:
            await wait_for_screen(pilot, name)
            await wait_until(pilot, ready(pilot), TIMEOUT)
            if name == "ReviewStep":
                app.screen.query_one("#framework", Select).value = "jax"
            await pilot.press(*keys)
        await wait_for_screen(pilot, "CockpitScreen")  # the launch opens the cockpit on its Setup pane
        await wait_until(pilot, lambda: bool(app.screen.query(SetupPane)))
        screen = app.screen.query_one(SetupPane)
        assert screen.recipe is not None
        assert screen.recipe.framework == "jax" and screen.recipe.simulated
        await wait_until(pilot, lambda: screen.outcome is not None, 60)
        assert screen.outcome is not None and screen.outcome.ok, screen.query_one("#step-error").render()
        text = "\n".join(screen.query_one(LogView).lines)
        assert "jax" in text and "d2l==1.0.3" in text
        instance_id = screen.link.instance.instance_id  # type: ignore[attr-defined]
    # Pinned from the (simulated) console output before the first login, not trusted on first use.
    check = KnownHosts(known_hosts_path()).check(instance_id)
    assert check.source == "console" and check.pinned
    await hosts.stop()


async def test_a_garbled_known_hosts_stops_the_setup_with_its_name_not_a_long_connecting(
    hosts: DemoHosts, tmp_path: Path
) -> None:
    garbled = b"# d2l-tui\ni-0abc ssh-ed25519 AAAA\xff\xfe\n"
    path = known_hosts_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(garbled)
    ctx = launching_context(hosts, tmp_path)
    app = make_app(ctx, wizard=choices_before(ctx, ReviewStep))
    async with app.run_test(size=(120, 40)) as pilot:
        await launch_from_review(pilot)
        await wait_for_screen(pilot, "CockpitScreen")
        await wait_until(pilot, lambda: bool(app.screen.query(SetupPane)))
        screen = app.screen.query_one(SetupPane)
        error = screen.query_one("#step-error")
        # At once (no minute of "Connecting…"): the file, why, and what to do.
        await wait_until(pilot, lambda: "known_hosts" in str(error.render()), 10)
        shown = str(error.render())
        assert (
            "cannot be read (not UTF-8 at line 2)" in shown and f"fix or remove {path}, then retry" in shown
        )
        assert screen.outcome is None
    assert path.read_bytes() == garbled  # it holds trust: left for the person to fix
    await hosts.stop()


async def test_plain_ubuntu_needs_a_bigger_disk_and_its_setup_installs_the_driver_and_reboots(
    hosts: DemoHosts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's plain Ubuntu behaves as the real one: the storage step refuses a disk the book's
    setup doesn't fit on, and the setup installs the driver and reboots (simulated, quickly) before
    going on; nothing claims a driver is there already."""
    from textual.widgets import Input

    from tui.services.remote import provision

    monkeypatch.setattr(provision, "REBOOT_SETTLE_S", 0.2)

    ctx = launching_context(hosts, tmp_path)
    app = make_app(ctx, wizard=choices_before(ctx, ImageStep))  # from the image the disk depends on
    async with app.run_test(size=(120, 40)) as pilot:
        for name, ready, keys in WIZARD[STEP_NAMES.index("ImageStep") :]:
            await wait_for_screen(pilot, name)
            await wait_until(pilot, ready(pilot), TIMEOUT)
            if name == "ImageStep":
                keys = ("down", "enter")  # Ubuntu 24.04
            if name == "StorageStep":
                disk = app.screen.query_one("#disk", Input)
                disk.value = "10"
                await pilot.press("enter")
                await pilot.pause()
                assert app.screen.__class__.__name__ == "StorageStep"
                refused = str(app.screen.query_one("#step-error").render())
                assert "at least 30 GiB" in refused and "PyTorch" in refused
                disk.value = "30"
            await pilot.press(*keys)
        await wait_for_screen(pilot, "CockpitScreen")
        await wait_until(pilot, lambda: bool(app.screen.query(SetupPane)))
        screen = app.screen.query_one(SetupPane)
        await wait_until(pilot, lambda: screen.outcome is not None, 90)
        assert screen.outcome is not None and screen.outcome.ok, screen.query_one("#step-error").render()
        text = "\n".join(screen.query_one(LogView).lines)
        assert "driver present" not in text
        assert "nvidia-smi: command not found" in text and "apt-get" in text
        assert "couldn't communicate with the NVIDIA driver" in text and "device='cuda:0')" in text
        instance_id = screen.link.instance.instance_id  # type: ignore[attr-defined]
    volume = (
        Aws(region="us-east-1")
        .client("ec2", "us-east-1")
        .describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}])["Volumes"]
    )
    assert [v["Size"] for v in volume] == [30]
    # The runner rebooted the machine (a new boot id) and the app resumed the run after it.
    machine = hosts.root / instance_id / "ubuntu"
    remote_log = (machine / ".d2l-tui" / "provision" / "log").read_text()
    assert " reboot reboot" in remote_log and remote_log.count(" run-start") == 2
    assert (machine / ".d2l-simulated" / "boot_id").read_text().strip() != "simulated-boot-1"
    await hosts.stop()


async def test_own_steps_only_on_ubuntu_launches_a_small_disk_and_runs_just_the_users_recipe(
    hosts: DemoHosts, tmp_path: Path
) -> None:
    """Plain Ubuntu with a 12 GiB disk: refused for the book's setup (30 GiB) with the way around it;
    ticking "only my own setup steps" accepts it; the review refuses a book framework on that disk;
    the launch runs recipe.toml alone, titled as the user's steps."""
    from textual.widgets import Checkbox, Input

    from tests.ui.test_wizard_inputs import error_text
    from tui.flows.launch_plan import OWN_SETUP
    from tui.models import ImageKind
    from tui.screens.storage import StorageStep
    from tui.services.cloud.images import image_options
    from tui.services.remote.user_recipe import user_recipe_path

    user_recipe_path().parent.mkdir(parents=True, exist_ok=True)
    user_recipe_path().write_text('[[step]]\nname = "my-data"\nrun = "echo fetching my data"\n')

    ctx = launching_context(hosts, tmp_path)
    state, step = choices_before(ctx, StorageStep)
    images, _ = image_options(ctx.aws, "us-east-1", "x86_64")
    state.image = next(i for i in images if i.kind is ImageKind.UBUNTU_2404)
    app = make_app(ctx, wizard=(state, step))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_screen(pilot, "StorageStep")
        field = app.screen.query_one("#disk", Input)
        field.value = "12"
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "StorageStep"
        refusal = error_text(app)
        assert "at least 30 GiB" in refusal and "Only my own setup steps" in refusal, refusal
        app.screen.query_one("#own-setup", Checkbox).value = True
        await pilot.pause()
        assert app.state.framework == OWN_SETUP
        await pilot.press("enter")
        await wait_for_screen(pilot, "KeyPairStep")
        await wait_until(pilot, WIZARD[STEP_NAMES.index("KeyPairStep")][1](pilot), TIMEOUT)
        await pilot.press("enter", "enter")
        await wait_for_screen(pilot, "ReviewStep")
        await wait_until(pilot, WIZARD[STEP_NAMES.index("ReviewStep")][1](pilot), TIMEOUT)
        framework = app.screen.query_one("#framework", Select)
        assert framework.value == OWN_SETUP  # the storage step's choice, carried
        note = app.screen.query_one("#framework-note")
        assert not note.display  # recipe.toml is there
        recipe_text = user_recipe_path().read_text()
        user_recipe_path().unlink()  # without it, the review says so before the launch
        app.screen.render_framework_note(OWN_SETUP)  # type: ignore[attr-defined]
        assert note.display and str(user_recipe_path()) in str(note.render())
        user_recipe_path().write_text(recipe_text)
        framework.value = "pytorch"
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "ReviewStep"
        assert "The disk is 12 GiB" in error_text(app) and "Only my own steps" in error_text(app)
        framework.value = OWN_SETUP
        await pilot.press("ctrl+n")
        await wait_for_screen(pilot, "CockpitScreen")
        await wait_until(pilot, lambda: bool(app.screen.query(SetupPane)))
        pane = app.screen.query_one(SetupPane)
        assert pane.recipe is not None and [s.name for s in pane.recipe.steps] == ["my-data"]
        assert "with your own steps" in str(pane.query_one(".pane-title").render())
        await wait_until(pilot, lambda: pane.outcome is not None, 60)
        assert pane.outcome is not None and pane.outcome.ok
    [reservation] = ctx.aws.client("ec2").describe_instances()["Reservations"]
    volume_id = reservation["Instances"][0]["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    assert ctx.aws.client("ec2").describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["Size"] == 12
    await hosts.stop()


async def test_the_launch_screen_says_what_the_instance_is_now_after_the_cockpit_stopped_it(
    hosts: DemoHosts, tmp_path: Path
) -> None:
    """Seen by a newcomer: after a stop in the cockpit, the launch screen still said "is running at"
    the old address, and c copied an ssh command that could not work."""
    from textual.widgets import Static

    from tui.screens.cockpit import CockpitScreen
    from tui.screens.launch_view import LaunchScreen

    ctx = launching_context(hosts, tmp_path)
    app = make_app(ctx, wizard=choices_before(ctx, ReviewStep))
    async with app.run_test(size=(120, 40)) as pilot:
        await launch_from_review(pilot)
        await wait_for_screen(pilot, "CockpitScreen")
        cockpit = app.screen
        assert isinstance(cockpit, CockpitScreen)
        await wait_until(pilot, lambda: cockpit.row is not None, 30)
        await pilot.press("s")
        await wait_for_screen(pilot, "ConfirmationModal")
        await pilot.press("y")
        ec2 = ctx.aws.client("ec2", "us-east-1")

        def state() -> str:
            [r] = ec2.describe_instances()["Reservations"]
            return str(r["Instances"][0]["State"]["Name"])

        await wait_until(pilot, lambda: state() == "stopped", 60)
        await pilot.press("escape")
        await wait_for_screen(pilot, "LaunchScreen")
        view = app.screen
        assert isinstance(view, LaunchScreen)
        result = view.query_one("#launch-result", Static)
        await wait_until(pilot, lambda: "is stopped" in str(result.render()), 30)
        assert "running at" not in str(result.render())
        assert not view.check_action("copy_ssh", ())
    await hosts.stop()
